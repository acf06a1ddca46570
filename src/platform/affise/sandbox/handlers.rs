//! The Affise emulator's request handling: form and permission checks, Affise's failure
//! answers, and what each route does to the store.

use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::*;
pub(super) use crate::sandbox::reply::answer;
use crate::sandbox::reply::{self, Stamped, Word};

/// Affise stamps `status` on every answer: 1, or 2 with a message.
#[derive(Debug)]
pub(super) struct StatusTwo;

impl Stamped for StatusTwo {
    const STAMP: (&'static str, Word, Word) = ("status", Word::Number(1), Word::Number(2));
}

/// An Affise failure: an HTTP error status and its message.
pub(super) type Failure = reply::Failure<StatusTwo>;

pub(super) fn not_found() -> Failure {
    Failure::new(StatusCode::NOT_FOUND, "User not found")
}

/// The strictest published rule: 8 to 30 characters with an upper-case letter, a lower-case
/// letter, a digit and a special character.
pub fn password_meets_rule(password: &str) -> bool {
    let length = password.chars().count();
    (8..=30).contains(&length)
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace())
}

pub(super) fn check_id(id: &str) -> Result<(), Failure> {
    match id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()) {
        true => Ok(()),
        false => Err(Failure::bad(format!("Invalid user id {id}"))),
    }
}

/// The fields of a user form, each at most once, `roles[i]` collected in index order.
#[derive(Debug, Default)]
pub(super) struct UserForm {
    pub(super) scalars: BTreeMap<String, String>,
    pub(super) roles: Option<Vec<String>>,
    pub(super) names: Vec<String>,
}

impl UserForm {
    pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<UserForm, Failure> {
        let form_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !form_type.starts_with("application/x-www-form-urlencoded") {
            return Err(Failure::bad("Content-Type must be application/x-www-form-urlencoded"));
        }
        let mut form = UserForm::default();
        let mut roles: BTreeMap<usize, String> = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(body).into_owned() {
            form.names.push(key.clone());
            if let Some(index) = key.strip_prefix("roles[").and_then(|k| k.strip_suffix(']')) {
                let index = if index.is_empty() { roles.len() } else { index.parse().map_err(|_| bad_param(&key))? };
                if roles.insert(index, value).is_some() {
                    return Err(Failure::bad(format!("{key} given twice")));
                }
            } else if !USER_FIELDS.contains(&key.as_str()) {
                return Err(bad_param(&key));
            } else if form.scalars.insert(key.clone(), value).is_some() {
                return Err(Failure::bad(format!("{key} given twice")));
            }
        }
        form.roles = (!roles.is_empty()).then(|| roles.into_values().collect());
        form.check()?;
        Ok(form)
    }

    pub(super) fn check(&self) -> Result<(), Failure> {
        for (name, value) in &self.scalars {
            let ok = match name.as_str() {
                "email" => value.contains('@'),
                "password" => password_meets_rule(value),
                "first_name" | "last_name" => !value.trim().is_empty(),
                "type" => TYPES.contains(&value.as_str()),
                _ => true,
            };
            if !ok {
                return Err(Failure::bad(format!("{name} is not valid")));
            }
        }
        match self.roles.iter().flatten().find(|r| !ROLES.contains(&r.as_str())) {
            Some(unknown) => Err(Failure::bad(format!("Unknown role {unknown}"))),
            None => Ok(()),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.scalars.get(name).cloned()
    }

    pub(super) fn required(&self, name: &str) -> Result<String, Failure> {
        self.get(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| Failure::bad(format!("{name} is required")))
    }
}

pub(super) fn bad_param(name: &str) -> Failure {
    Failure::bad(format!("Unknown parameter: {name}"))
}

/// Everything the handlers share.
pub type Shared = Served<AffiseExtras>;

pub(super) type Params = BTreeMap<String, String>;

pub(super) fn query_int(q: &Params, name: &str, default: usize) -> Result<usize, Failure> {
    q.get(name)
        .map_or(Ok(default), |v| v.trim().parse().map_err(|_| Failure::bad(format!("{name} must be an integer"))))
}

impl Shared {
    pub(super) fn authorize(&self, headers: &HeaderMap) -> Result<(), Failure> {
        match headers.get("api-key").and_then(|v| v.to_str().ok()) {
            Some(key) if key == self.api_key => Ok(()),
            _ => Err(Failure::new(StatusCode::UNAUTHORIZED, "Invalid API key")),
        }
    }

    pub(super) fn record(&self, route: &'static str, id: Option<&str>, fields: Vec<String>) {
        self.lock().received.push(Received { route, id: id.map(str::to_string), fields });
    }

    pub(super) fn user_json(user: &AffiseUser, with_permissions: bool) -> Value {
        let mut v = json!({
            "id": user.id, "email": user.email, "first_name": user.first_name, "last_name": user.last_name,
            "roles": user.roles, "type": user.kind, "skype": user.skype, "work_hours": user.work_hours,
            "api_key": user.api_key, "created_at": user.created_at, "updated_at": user.updated_at,
        });
        if with_permissions {
            v["permissions"] = user.permissions.clone();
        }
        v
    }

    pub(super) fn list_users(&self, headers: &HeaderMap, q: &Params, injected: Injected) -> Result<Value, Failure> {
        self.authorize(headers)?;
        if let Some(unknown) = q.keys().find(|k| !["page", "limit", "updated_at", "q"].contains(&k.as_str())) {
            return Err(bad_param(unknown));
        }
        let page = query_int(q, "page", 1)?;
        let limit = query_int(q, "limit", DEFAULT_LIMIT)?;
        if page < 1 || !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Failure::bad(format!("page starts at 1 and limit is between 1 and {MAX_LIMIT}")));
        }
        // A capping server pages by the size it serves, and says so in `per_page`.
        let limit = self.page_cap.apply(limit);
        self.log_listing(q);
        let store = self.lock();
        let since = q.get("updated_at").map(|d| d.trim().to_string());
        if since.as_deref().is_some_and(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()) {
            return Err(Failure::bad("updated_at must be a day, YYYY-MM-DD"));
        }
        let search = q.get("q").map(|s| s.to_lowercase());
        let matching: Vec<&AffiseUser> = store
            .users
            .values()
            .filter(|u| since.as_ref().is_none_or(|d| u.updated_at.as_str() >= d.as_str()))
            .filter(|u| {
                search
                    .as_ref()
                    .is_none_or(|s| format!("{} {} {}", u.email, u.first_name, u.last_name).to_lowercase().contains(s))
            })
            .collect();
        let skip = (page - 1).saturating_mul(limit);
        let mut users: Vec<Value> = matching.iter().skip(skip).take(limit).map(|u| Self::user_json(u, false)).collect();
        if injected.truncate {
            users.pop();
        }
        Ok(json!({"users": users, "pagination": {"per_page": limit, "total_count": matching.len(), "page": page}}))
    }

    pub(super) fn read_user(&self, headers: &HeaderMap, id: &str) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let store = self.lock();
        let user = store.users.get(id).ok_or_else(not_found)?;
        Ok(json!({ "user": Self::user_json(user, true) }))
    }

    pub(super) fn create_user(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        let form = UserForm::parse(headers, body)?;
        self.record("create", None, form.names.clone());
        let email = form.required("email")?;
        let password = form.required("password")?;
        let (first_name, last_name) = (form.required("first_name")?, form.required("last_name")?);
        let roles = form.roles.clone().ok_or_else(|| Failure::bad("roles is required"))?;
        let mut store = self.lock();
        store.passwords.push(password.clone());
        store.ensure_unique(&email, None)?;
        let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
        let mut user = AffiseUser::new(&first_name, &last_name, &email, &role_refs);
        user.password = password;
        user.kind = form.get("type").unwrap_or(user.kind);
        user.skype = form.get("skype");
        user.work_hours = form.get("work_hours");
        let user = store.insert(user);
        Ok(json!({ "user": Self::user_json(&user, false) }))
    }

    pub(super) fn edit_user(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let form = UserForm::parse(headers, body)?;
        self.record("update", Some(id), form.names.clone());
        let mut store = self.lock();
        store.user_mut(id)?;
        if let Some(email) = form.get("email") {
            store.ensure_unique(&email, Some(id))?;
        }
        if let Some(password) = form.get("password") {
            store.passwords.push(password);
        }
        let user = store.user_mut(id)?;
        apply_form(user, form);
        Ok(json!({ "user": Self::user_json(user, false) }))
    }

    pub(super) fn rotate_key(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        if !body.is_empty() {
            let form = UserForm::parse(headers, body)?;
            if let Some(name) = form.names.first() {
                return Err(bad_param(name));
            }
        }
        self.record("api_key", Some(id), Vec::new());
        let mut store = self.lock();
        let user = store.user_mut(id)?;
        user.api_key = random_key();
        user.updated_at = now();
        // As the contract says, the answer carries the new key.
        Ok(json!({ "user": Self::user_json(user, false) }))
    }

    pub(super) fn set_password(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let form = UserForm::parse(headers, body)?;
        self.record("password", Some(id), form.names.clone());
        if let Some(other) = form.names.iter().find(|n| *n != "password") {
            return Err(bad_param(other));
        }
        let password = form.required("password")?;
        let mut store = self.lock();
        store.passwords.push(password.clone());
        let user = store.user_mut(id)?;
        user.password = password;
        user.updated_at = now();
        Ok(json!({}))
    }

    pub(super) fn set_permissions(&self, headers: &HeaderMap, id: &str, body: &[u8]) -> Result<Value, Failure> {
        self.authorize(headers)?;
        check_id(id)?;
        let json_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !json_type.starts_with("application/json") {
            return Err(Failure::bad("Content-Type must be application/json"));
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return Err(Failure::bad("The body must be a JSON object"));
        };
        self.record("permissions", Some(id), body.keys().cloned().collect());
        if let Some(other) = body.keys().find(|k| *k != "permissions") {
            return Err(bad_param(other));
        }
        let sent = body
            .get("permissions")
            .and_then(Value::as_object)
            .ok_or_else(|| Failure::bad("permissions is required"))?;
        check_permissions(sent)?;
        let mut store = self.lock();
        let user = store.user_mut(id)?;
        for (section, entries) in sent {
            for (name, entry) in entries.as_object().into_iter().flatten() {
                // What is sent replaces the entry: exceptions left out are gone.
                user.permissions[section][name] = entry.clone();
            }
        }
        user.updated_at = now();
        Ok(json!({ "permissions": user.permissions }))
    }
}

/// Sections and permissions from the catalogue, levels from `deny`/`read`/`write`.
pub(super) fn check_permissions(sent: &Map<String, Value>) -> Result<(), Failure> {
    for (section, entries) in sent {
        let Some(known) = CATALOGUE.iter().find(|(s, _)| s == section).map(|(_, names)| *names) else {
            return Err(Failure::bad(format!("Unknown permission section {section}")));
        };
        let entries = entries.as_object().ok_or_else(|| Failure::bad(format!("{section} must be an object")))?;
        for (name, entry) in entries {
            if !known.contains(&name.as_str()) {
                return Err(Failure::bad(format!("Unknown permission {section}.{name}")));
            }
            if !entry["level"].as_str().is_some_and(|l| LEVELS.contains(&l)) {
                return Err(Failure::bad(format!("{section}.{name}.level must be one of deny, read, write")));
            }
        }
    }
    Ok(())
}

/// Apply the given fields only.
pub(super) fn apply_form(user: &mut AffiseUser, form: UserForm) {
    for (name, value) in form.scalars {
        match name.as_str() {
            "email" => user.email = value,
            "password" => user.password = value,
            "first_name" => user.first_name = value,
            "last_name" => user.last_name = value,
            "type" => user.kind = value,
            "skype" => user.skype = Some(value).filter(|v| !v.is_empty()),
            "work_hours" => user.work_hours = Some(value).filter(|v| !v.is_empty()),
            _ => {}
        }
    }
    if let Some(roles) = form.roles {
        user.roles = roles;
    }
    user.updated_at = now();
}
