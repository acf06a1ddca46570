//! The CAKE emulator's request handling: parameter and body checks, CAKE's failure
//! answers, and what each route does to the store.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::*;
use crate::platform::emulator::PersonPatch;
pub(super) use crate::sandbox::reply::answer;
use crate::sandbox::reply::{self, Stamped, Word};

/// CAKE stamps `request_status` on every answer, and answers most failures with HTTP 200.
#[derive(Debug)]
pub(super) struct RequestStatus;

impl Stamped for RequestStatus {
    const STAMP: (&'static str, Word, Word) = ("request_status", Word::Text("Success"), Word::Text("Failure"));
    const BAD: StatusCode = StatusCode::OK;
}

/// A CAKE failure with its HTTP status.
pub(super) type Failure = reply::Failure<RequestStatus>;

impl Failure {
    pub(super) fn auth() -> Failure {
        Failure::new(StatusCode::UNAUTHORIZED, "Invalid API Key")
    }
}

pub(super) type Params = HashMap<String, String>;

/// An optional integer query parameter; a malformed one is a failure, not a silent default.
pub(super) fn query_int(q: &Params, name: &str) -> Result<Option<u64>, Failure> {
    q.get(name)
        .map(|v| v.trim().parse::<u64>().map_err(|_| Failure::bad(format!("{name} must be an integer"))))
        .transpose()
}

pub(super) fn check_status(value: &str, name: &str) -> Result<String, Failure> {
    match value {
        "active" | "inactive" => Ok(value.to_string()),
        _ => Err(Failure::bad(format!("{name} must be active or inactive"))),
    }
}

pub(super) fn query_status(q: &Params, name: &str) -> Result<Option<String>, Failure> {
    q.get(name).map(|v| check_status(v, name)).transpose()
}

pub(super) fn body_str(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(Failure::bad(format!("{name} must be a non-empty string"))),
    }
}

pub(super) fn body_int(fields: &Map<String, Value>, name: &str) -> Result<Option<u64>, Failure> {
    match fields.get(name) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| Failure::bad(format!("{name} must be an integer"))),
    }
}

pub(super) fn required<T>(value: Option<T>, name: &str) -> Result<T, Failure> {
    value.ok_or_else(|| Failure::bad(format!("{name} is required")))
}

pub(super) fn check_email(email: &str) -> Result<(), Failure> {
    if email.contains('@') {
        Ok(())
    } else {
        Err(Failure::bad(format!("{email} is not a valid email address")))
    }
}

/// `start_at_row` (1-based, default 1) and `row_limit` (default 100, at most 10000) as
/// rows to skip and rows to take.
pub(super) fn paging(q: &Params) -> Result<(usize, usize), Failure> {
    let start = query_int(q, "start_at_row")?.unwrap_or(1);
    let limit = query_int(q, "row_limit")?.unwrap_or(DEFAULT_ROW_LIMIT);
    if start < 1 {
        return Err(Failure::bad("start_at_row starts at 1"));
    }
    if !(1..=MAX_ROW_LIMIT).contains(&limit) {
        return Err(Failure::bad(format!("row_limit must be between 1 and {MAX_ROW_LIMIT}")));
    }
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    Ok((skip, usize::try_from(limit).unwrap_or(usize::MAX)))
}

/// The optional filters of `users.json`.
#[derive(Debug)]
pub(super) struct UserFilter {
    pub(super) user_id: Option<u64>,
    pub(super) role_id: Option<u64>,
    pub(super) status: Option<String>,
}

impl UserFilter {
    pub(super) fn parse(q: &Params) -> Result<UserFilter, Failure> {
        Ok(UserFilter {
            user_id: query_int(q, "user_id")?,
            role_id: query_int(q, "role_id")?,
            status: query_status(q, "user_status")?,
        })
    }

    pub(super) fn keeps(&self, user: &CakeUser) -> bool {
        self.user_id.is_none_or(|id| user.user_id == id)
            && self.role_id.is_none_or(|id| user.role_id == id)
            && self.status.as_ref().is_none_or(|s| &user.user_status == s)
    }
}

/// The optional fields of an update, validated.
#[derive(Debug, Default)]
pub(super) struct Patch {
    pub(super) person: PersonPatch,
    pub(super) user_status: Option<String>,
}

impl Shared {
    pub(super) fn role_name(&self, role_id: u64) -> Option<&str> {
        self.roles.iter().find(|r| r.role_id == role_id).map(|r| r.role_name.as_str())
    }

    pub(super) fn check_role(&self, role_id: u64) -> Result<(), Failure> {
        match self.role_name(role_id) {
            Some(_) => Ok(()),
            None => Err(Failure::bad(format!("Invalid role_id {role_id}"))),
        }
    }

    /// The key must be in the query; unknown parameters are refused.
    pub(super) fn authorize_query(&self, q: &Params, allowed: &[&str]) -> Result<(), Failure> {
        if q.get("api_key").map(String::as_str) != Some(self.api_key.as_str()) {
            return Err(Failure::auth());
        }
        match q.keys().find(|k| *k != "api_key" && !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(Failure::bad(format!("Unknown parameter: {unknown}"))),
            None => Ok(()),
        }
    }

    /// The key must be in the JSON body; unknown parameters are refused. Records the
    /// parameter names so that tests can see what a write carried.
    pub(super) fn authorize_body(&self, body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Failure> {
        let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
            return Err(Failure::bad("The request body must be a JSON object"));
        };
        match fields.remove("api_key") {
            Some(Value::String(key)) if key == self.api_key => {}
            _ => return Err(Failure::auth()),
        }
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Failure::bad(format!("Unknown parameter: {unknown}")));
        }
        self.lock().log.write_fields.push(fields.keys().cloned().collect());
        Ok(fields)
    }

    pub(super) fn user_json(&self, user: &CakeUser) -> Value {
        json!({
            "user_id": user.user_id,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "user_status": user.user_status,
            "role_id": user.role_id,
            "role_name": self.role_name(user.role_id),
            "created": user.created,
        })
    }

    pub(super) fn list_users(&self, q: &Params, injected: Injected) -> Result<Value, Failure> {
        self.authorize_query(q, &["user_id", "user_status", "role_id", "start_at_row", "row_limit"])?;
        let (skip, take) = paging(q)?;
        let take = self.page_cap.apply(take);
        let filter = UserFilter::parse(q)?;
        self.log_listing(q.iter().filter(|(k, _)| *k != "api_key"));
        let store = self.lock();
        let matching: Vec<&CakeUser> = store.users.values().filter(|u| filter.keeps(u)).collect();
        let mut users: Vec<Value> = matching.iter().skip(skip).take(take).map(|u| self.user_json(u)).collect();
        if injected.truncate {
            // The page claims the same total but is one row short.
            users.pop();
        }
        Ok(json!({ "response": { "users": users, "total_rows": matching.len() } }))
    }

    pub(super) fn create_user(&self, body: &[u8]) -> Result<Value, Failure> {
        let fields = self.authorize_body(body, CREATE_FIELDS)?;
        let first_name = required(body_str(&fields, "first_name")?, "first_name")?;
        let last_name = required(body_str(&fields, "last_name")?, "last_name")?;
        let email = required(body_str(&fields, "email")?, "email")?;
        let role_id = required(body_int(&fields, "role_id")?, "role_id")?;
        let status = body_str(&fields, "user_status")?.map(|s| check_status(&s, "user_status")).transpose()?;
        // A password is optional; without one CAKE mails a set-password link. Never stored here.
        body_str(&fields, "password")?;
        check_email(&email)?;
        self.check_role(role_id)?;
        let mut store = self.lock();
        store.ensure_unique(&email, None)?;
        let mut user = CakeUser::new(&first_name, &last_name, &email, role_id);
        user.user_status = status.unwrap_or_else(|| "active".into());
        let user = store.insert(user);
        Ok(json!({ "user": self.user_json(&user) }))
    }

    pub(super) fn parse_patch(&self, fields: &Map<String, Value>) -> Result<Patch, Failure> {
        let first_name = body_str(fields, "first_name")?;
        let last_name = body_str(fields, "last_name")?;
        let email = body_str(fields, "email")?;
        let user_status = body_str(fields, "user_status")?.map(|s| check_status(&s, "user_status")).transpose()?;
        let person = PersonPatch { first_name, last_name, email, role_id: body_int(fields, "role_id")? };
        let patch = Patch { person, user_status };
        if let Some(email) = &patch.person.email {
            check_email(email)?;
        }
        if let Some(role_id) = patch.person.role_id {
            self.check_role(role_id)?;
        }
        Ok(patch)
    }

    pub(super) fn update_user(&self, body: &[u8]) -> Result<Value, Failure> {
        let fields = self.authorize_body(body, UPDATE_FIELDS)?;
        let user_id = required(body_int(&fields, "user_id")?, "user_id")?;
        let patch = self.parse_patch(&fields)?;
        let mut store = self.lock();
        if !store.users.contains_key(&user_id) {
            return Err(Failure::bad(format!("User {user_id} not found")));
        }
        if let Some(email) = &patch.person.email {
            store.ensure_unique(email, Some(user_id))?;
        }
        let Some(user) = store.users.get_mut(&user_id) else {
            return Err(Failure::bad(format!("User {user_id} not found")));
        };
        Ok(json!({ "user": self.apply_patch(user, patch) }))
    }

    /// Apply the given fields only, and answer as the vendor's sample does: the id, the
    /// names, and what changed.
    pub(super) fn apply_patch(&self, user: &mut CakeUser, patch: Patch) -> Value {
        let mut answer = json!({ "user_id": user.user_id });
        if let Some(v) = patch.person.first_name {
            user.first_name = v;
        }
        if let Some(v) = patch.person.last_name {
            user.last_name = v;
        }
        answer["first_name"] = json!(user.first_name);
        answer["last_name"] = json!(user.last_name);
        if let Some(v) = patch.person.email {
            answer["email"] = json!(v);
            user.email = v;
        }
        if let Some(v) = patch.user_status {
            answer["user_status"] = json!(v);
            user.user_status = v;
        }
        if let Some(v) = patch.person.role_id {
            user.role_id = v;
            answer["role_id"] = json!(v);
            answer["role_name"] = json!(self.role_name(v));
        }
        answer
    }

    pub(super) fn list_roles(&self, q: &Params) -> Result<Value, Failure> {
        self.authorize_query(q, &["role_id", "role_name"])?;
        let role_id = query_int(q, "role_id")?;
        let name = q.get("role_name").map(|n| n.trim().to_lowercase());
        let roles: Vec<&CakeRole> = self
            .roles
            .iter()
            .filter(|r| role_id.is_none_or(|id| r.role_id == id))
            .filter(|r| name.as_ref().is_none_or(|n| &r.role_name.to_lowercase() == n))
            .collect();
        Ok(json!({ "roles": roles }))
    }

    pub(super) fn list_managers(&self, q: &Params) -> Result<Value, Failure> {
        self.authorize_query(q, &["account_manager_id", "account_manager_status"])?;
        let id = query_int(q, "account_manager_id")?;
        let status = query_status(q, "account_manager_status")?;
        let managers: Vec<&CakeManager> = self
            .account_managers
            .iter()
            .filter(|m| id.is_none_or(|id| m.account_manager_id == id))
            .filter(|m| status.as_ref().is_none_or(|s| &m.status == s))
            .collect();
        Ok(json!({ "account_managers": managers }))
    }
}
