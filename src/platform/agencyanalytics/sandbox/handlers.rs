//! The AgencyAnalytics emulator's request handling: body and query checks, its error
//! answers, and what each route does to the store.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::*;
use crate::sandbox::reply::{self, Wording};

/// AgencyAnalytics words an error `{"error":{"message":..}}`.
#[derive(Debug)]
pub(super) struct ErrorObject;

impl Wording for ErrorObject {
    fn body(message: String) -> Value {
        json!({ "error": { "message": message } })
    }
}

/// An error answer with its status.
pub(super) type Failure = reply::Failure<ErrorObject>;

impl Failure {
    pub(super) fn not_found(id: u64) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, format!("User {id} not found"))
    }
}

/// A success: the data in its envelope (or 204 for none).
pub(super) fn answer(outcome: Result<Option<Value>, Failure>) -> Response {
    match outcome {
        Ok(Some(body)) => Json(body).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => failure.into_response(),
    }
}

pub(super) fn one(data: Value) -> Option<Value> {
    Some(json!({ "metadata": { "total_pages": 1, "total_records": 1 }, "data": data }))
}

pub(super) fn user_json(user: &AgencyAnalyticsUser) -> Value {
    json!({
        "id": user.id,
        "date_created": user.date_created,
        "email": user.email,
        "username": user.username,
        // The real service lists the field, always null.
        "password": null,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "campaign_access": user.campaign_access,
        "account_id": user.account_id,
    })
}

/// A tiny standard base64 encoder: enough to build the expected Basic credentials.
pub(super) fn base64(input: &[u8]) -> String {
    pub(super) const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize])),
                false => out.push('='),
            }
        }
    }
    out
}

pub(super) fn body_str(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(Failure::invalid(format!("{name} must be a non-empty string"))),
    }
}

pub(super) fn required(fields: &Map<String, Value>, name: &str) -> Result<String, Failure> {
    body_str(fields, name)?.ok_or_else(|| Failure::invalid(format!("{name} is required")))
}

pub(super) fn check_role(role: &str) -> Result<(), Failure> {
    match ROLES.contains(&role) {
        true => Ok(()),
        false => Err(Failure::invalid(format!("role must be one of {}", ROLES.join(", ")))),
    }
}

pub(super) fn check_email(email: &str) -> Result<(), Failure> {
    match email.contains('@') {
        true => Ok(()),
        false => Err(Failure::invalid(format!("{email} is not a valid email address"))),
    }
}

pub(super) fn check_password(password: &str) -> Result<(), Failure> {
    match password.chars().count() >= MIN_PASSWORD {
        true => Ok(()),
        false => Err(Failure::invalid(format!("password must be at least {MIN_PASSWORD} characters"))),
    }
}

pub(super) fn is_client(role: &str) -> bool {
    role == "client"
}

pub(super) fn truthy(value: Option<&Value>) -> Result<bool, Failure> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if ["true", "1"].contains(&s.as_str()) => Ok(true),
        Some(Value::String(s)) if ["false", "0", ""].contains(&s.as_str()) => Ok(false),
        Some(_) => Err(Failure::invalid("email_credentials must be true or false")),
    }
}

/// The listing's query, validated.
#[derive(Debug)]
pub(super) struct ListQuery {
    pub(super) page: u64,
    pub(super) limit: u64,
    pub(super) filter: Option<String>,
    pub(super) order_by: String,
    pub(super) descending: bool,
    pub(super) roles: Vec<String>,
}

impl ListQuery {
    pub(super) fn parse(q: &[(String, String)]) -> Result<ListQuery, Failure> {
        if let Some((unknown, _)) = q.iter().find(|(k, _)| !LIST_PARAMS.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown parameter: {unknown}")));
        }
        let value = |name: &str| q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let int = |name: &str, default: u64| {
            value(name)
                .map_or(Ok(default), |v| v.parse().map_err(|_| Failure::bad(format!("{name} must be an integer"))))
        };
        let (page, limit) = (int("page", 1)?, int("limit", DEFAULT_LIMIT)?);
        if page < 1 || !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Failure::bad(format!("page starts at 1 and limit is between 1 and {MAX_LIMIT}")));
        }
        let order_by = value("order_by").unwrap_or_else(|| "id".into());
        if !ORDER_BY.contains(&order_by.as_str()) {
            return Err(Failure::bad(format!("order_by must be one of {}", ORDER_BY.join(", "))));
        }
        let descending = match value("order_direction").as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(Failure::bad("order_direction must be asc or desc")),
        };
        let roles: Vec<String> = q.iter().filter(|(k, _)| k == "role[]").map(|(_, v)| v.clone()).collect();
        roles.iter().try_for_each(|r| check_role(r))?;
        Ok(ListQuery { page, limit, filter: value("filter"), order_by, descending, roles })
    }

    pub(super) fn keeps(&self, user: &AgencyAnalyticsUser) -> bool {
        let text = self.filter.as_ref().map(|f| f.to_lowercase());
        let haystack = [&user.username, &user.email, &user.first_name, &user.last_name];
        (self.roles.is_empty() || self.roles.contains(&user.role))
            && text.is_none_or(|t| haystack.iter().any(|h| h.to_lowercase().contains(&t)))
    }

    pub(super) fn sort_key(&self, user: &AgencyAnalyticsUser) -> String {
        match self.order_by.as_str() {
            "username" => user.username.to_lowercase(),
            "email" => user.email.to_lowercase(),
            "first_name" => user.first_name.to_lowercase(),
            "last_name" => user.last_name.to_lowercase(),
            "date_created" => user.date_created.clone(),
            "role" => user.role.clone(),
            _ => format!("{:020}", user.id),
        }
    }
}

/// Everything the handlers share.
pub type Shared = Served<AgencyAnalyticsExtras>;

impl Shared {
    /// `Basic base64(key + ":")`, or `Bearer <key>`: the header every request must carry.
    fn authorization(&self) -> String {
        match self.bearer_auth {
            true => format!("Bearer {}", self.api_key),
            false => format!("Basic {}", base64(format!("{}:", self.api_key).as_bytes())),
        }
    }

    /// Every request must carry the key as Basic credentials with an empty password.
    pub(super) fn check_auth(&self, headers: &HeaderMap) -> Result<(), Failure> {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        match given == Some(self.authorization().as_str()) {
            true => Ok(()),
            false => Err(Failure::new(StatusCode::UNAUTHORIZED, "Invalid API credentials")),
        }
    }

    /// Log an authenticated request, its password masked.
    pub(super) fn log(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Map<String, Value>>,
    ) {
        let mut body = body.cloned().map(Value::Object);
        if let Some(password) = body.as_mut().and_then(|b| b.get_mut("password")) {
            *password = json!("[set]");
        }
        let logged =
            AgencyAnalyticsRequest { method: method.to_string(), path: path.into(), query: query.to_vec(), body };
        self.lock().log.requests.push(logged);
    }

    pub(super) fn list_users(&self, q: &[(String, String)], injected: Injected) -> Result<Option<Value>, Failure> {
        let mut query = ListQuery::parse(q)?;
        // A capping server pages (and counts `total_pages`) by the size it serves.
        query.limit = self.page_cap.apply(usize::try_from(query.limit).unwrap_or(usize::MAX)) as u64;
        let store = self.lock();
        let mut matching: Vec<&AgencyAnalyticsUser> = store.users.values().filter(|u| query.keeps(u)).collect();
        matching.sort_by_cached_key(|u| query.sort_key(u));
        if query.descending {
            matching.reverse();
        }
        let total = matching.len() as u64;
        let skip = usize::try_from((query.page - 1).saturating_mul(query.limit)).unwrap_or(usize::MAX);
        let take = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let mut data: Vec<Value> = matching.iter().skip(skip).take(take).map(|u| user_json(u)).collect();
        if injected.truncate {
            // The page claims the same totals but is one user short.
            data.pop();
        }
        let metadata = json!({ "total_pages": total.div_ceil(query.limit), "total_records": total });
        Ok(Some(json!({ "metadata": metadata, "data": data })))
    }

    pub(super) fn create_user(&self, fields: &Map<String, Value>) -> Result<Option<Value>, Failure> {
        if let Some(unknown) = fields.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown field: {unknown}")));
        }
        let names = [required(fields, "first_name")?, required(fields, "last_name")?];
        let (username, password, role) =
            (required(fields, "username")?, required(fields, "password")?, required(fields, "role")?);
        let email = body_str(fields, "email")?;
        check_role(&role)?;
        check_password(&password)?;
        email.as_deref().map(check_email).transpose()?;
        let emailed = truthy(fields.get("email_credentials"))?;
        let mut store = self.lock();
        store.ensure_unique(&username, None)?;
        store.log.passwords.push(password);
        let mut user = AgencyAnalyticsUser::new(&names[0], &names[1], &username, &role);
        user.email = email.unwrap_or_default();
        user.credentials_emailed = emailed;
        user.date_created = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
        Ok(one(user_json(&store.insert(user))))
    }

    pub(super) fn update_user(&self, id: u64, fields: &Map<String, Value>) -> Result<Option<Value>, Failure> {
        if let Some(unknown) = fields.keys().find(|k| !UPDATE_FIELDS.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown field: {unknown}")));
        }
        let mut store = self.lock();
        let current = store.users.get(&id).cloned().ok_or_else(|| Failure::not_found(id))?;
        if let Some(role) = body_str(fields, "role")? {
            check_role(&role)?;
            if is_client(&role) != is_client(&current.role) {
                return Err(Failure::invalid("A user's role cannot be changed between staff and client"));
            }
        }
        if let Some(username) = body_str(fields, "username")? {
            store.ensure_unique(&username, Some(id))?;
        }
        body_str(fields, "email")?.as_deref().map(check_email).transpose()?;
        if let Some(password) = body_str(fields, "password")? {
            check_password(&password)?;
            store.log.passwords.push(password);
        }
        let user = store.user_mut(id)?;
        for (name, slot) in [
            ("first_name", &mut user.first_name),
            ("last_name", &mut user.last_name),
            ("username", &mut user.username),
            ("email", &mut user.email),
            ("role", &mut user.role),
        ] {
            if let Some(Value::String(v)) = fields.get(name) {
                *slot = v.clone();
            }
        }
        Ok(one(user_json(user)))
    }

    /// A request on one user, after the credentials and (for `PUT`) the body are checked.
    pub(super) fn one_user(
        &self,
        method: &Method,
        headers: &HeaderMap,
        raw_id: &str,
        body: &[u8],
    ) -> Result<Option<Value>, Failure> {
        self.check_auth(headers)?;
        let path = format!("{}/{raw_id}", self.served_path());
        let fields = match *method == Method::PUT {
            true => Some(object_body(body)?),
            false => None,
        };
        self.log(method, &path, &[], fields.as_ref());
        let id = user_id(raw_id)?;
        match fields {
            Some(fields) => self.update_user(id, &fields),
            None if *method == Method::GET => self.get_user(id),
            None => self.delete_user(id),
        }
    }

    pub(super) fn get_user(&self, id: u64) -> Result<Option<Value>, Failure> {
        let store = self.lock();
        store.users.get(&id).map(|u| one(user_json(u))).ok_or_else(|| Failure::not_found(id))
    }

    pub(super) fn delete_user(&self, id: u64) -> Result<Option<Value>, Failure> {
        match self.lock().users.remove(&id) {
            Some(_) => Ok(None),
            None => Err(Failure::not_found(id)),
        }
    }
}

/// A JSON object body, or the 400 the service answers for anything else.
pub(super) fn object_body(body: &[u8]) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(Failure::bad("The request body must be a JSON object")),
    }
}

pub(super) fn user_id(raw: &str) -> Result<u64, Failure> {
    raw.parse().map_err(|_| Failure::new(StatusCode::NOT_FOUND, format!("User {raw} not found")))
}
