//! The FileSpin emulator's request handling: body checks, FileSpin's failure answers, and
//! what each route does to the store.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Map, Value};

use super::*;
use crate::platform::emulator::PersonPatch;
pub(super) use crate::sandbox::reply::answer;
use crate::sandbox::reply::{self, Stamped, Word};

/// FileSpin stamps `status` on every answer: `OK`, or `ERROR` with a message.
#[derive(Debug)]
pub(super) struct StatusError;

impl Stamped for StatusError {
    const STAMP: (&'static str, Word, Word) = ("status", Word::Text("OK"), Word::Text("ERROR"));
}

/// A failure with its HTTP status.
pub(super) type Failure = reply::Failure<StatusError>;

pub(super) fn role(role_id: u64) -> Option<&'static (u64, &'static str, &'static [&'static str])> {
    ROLES.iter().find(|(id, _, _)| *id == role_id)
}

pub(super) fn check_email(email: &str) -> Result<(), Failure> {
    match email.contains('@') && !email.trim().contains(' ') {
        true => Ok(()),
        false => Err(Failure::invalid(format!("{email} is not a valid email address"))),
    }
}

/// The validated fields of a create or an update; absent ones stay `None`.
#[derive(Debug, Default)]
pub(super) struct Patch {
    pub(super) person: PersonPatch,
    pub(super) locale: Option<String>,
    pub(super) group_asset_access: Option<bool>,
    pub(super) enabled: Option<bool>,
}

impl Patch {
    /// Refuse unknown fields and wrong types with 422, as FileSpin does.
    pub(super) fn parse(fields: &Map<String, Value>, allowed: &[&str]) -> Result<Patch, Failure> {
        if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Failure::invalid(format!("Unknown field: {unknown}")));
        }
        let text = |name: &str| match fields.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(Failure::invalid(format!("{name} must be a non-empty string"))),
        };
        let flag = |name: &str| match fields.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Failure::invalid(format!("{name} must be true or false"))),
        };
        let role_id = match fields.get("role_id") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|id| role(*id).is_some()).ok_or_else(|| {
                Failure::invalid("role_id must be one of 1 (ADMIN), 2 (MANAGER), 3 (CREATOR), 4 (USER)")
            })?),
        };
        let email = text("email")?;
        email.as_deref().map(check_email).transpose()?;
        let person = PersonPatch { email, first_name: text("first_name")?, last_name: text("last_name")?, role_id };
        Ok(Patch {
            person,
            locale: text("locale")?,
            group_asset_access: flag("group_asset_access")?,
            enabled: flag("enabled")?,
        })
    }

    pub(super) fn apply(self, user: &mut FileSpinUser) {
        let texts = [
            (self.person.email, &mut user.email),
            (self.person.first_name, &mut user.first_name),
            (self.person.last_name, &mut user.last_name),
            (self.locale, &mut user.locale),
        ];
        for (value, slot) in texts {
            if let Some(value) = value {
                *slot = value;
            }
        }
        user.role_id = self.person.role_id.unwrap_or(user.role_id);
        user.group_asset_access = self.group_asset_access.unwrap_or(user.group_asset_access);
        user.enabled = self.enabled.unwrap_or(user.enabled);
    }
}

/// Everything the handlers share.
pub type Shared = Served<FileSpinExtras>;

impl Shared {
    /// The administrator's key, or an ADMIN user's own key; another user's key is 403.
    pub(super) fn authorize(&self, headers: &HeaderMap) -> Result<(), Failure> {
        let given = headers.get("x-filespin-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !given.is_empty() && given == self.api_key {
            return Ok(());
        }
        let store = self.lock();
        match store.users.values().find(|u| !given.is_empty() && u.apikey == given) {
            Some(u) if u.role_id == 1 && u.enabled => Ok(()),
            Some(_) => Err(Failure::new(StatusCode::FORBIDDEN, "This API key does not have the Admin role")),
            None => Err(Failure::new(StatusCode::UNAUTHORIZED, "Invalid API key")),
        }
    }

    /// A record exactly as FileSpin returns it: secrets included.
    pub(super) fn user_json(&self, user: &FileSpinUser) -> Value {
        let (_, role_name, permissions) = role(user.role_id).copied().unwrap_or((0, "USER", &[]));
        json!({
            "id": user.id,
            "access_id": user.access_id,
            "apikey": user.apikey,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "enabled": user.enabled,
            "invite_status": user.invite_status,
            "role_id": user.role_id,
            "group_id": self.group_id,
            "locale": user.locale,
            "permissions": permissions,
            "role_name": role_name,
            "uploadKey": user.upload_key,
            "group_asset_access": user.group_asset_access,
            "addons": [],
        })
    }

    pub(super) fn list_users(&self, q: &HashMap<String, String>, injected: Injected) -> Result<Value, Failure> {
        if let Some(unknown) = q.keys().find(|k| *k != "offset") {
            return Err(Failure::new(StatusCode::BAD_REQUEST, format!("Unknown parameter: {unknown}")));
        }
        let offset = match q.get("offset") {
            None => 0,
            Some(raw) => raw
                .parse::<usize>()
                .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "offset must be a non-negative integer"))?,
        };
        let store = self.lock();
        let mut users: Vec<Value> =
            store.users.values().skip(offset).take(self.page_cap.apply(PAGE)).map(|u| self.user_json(u)).collect();
        let count = users.len();
        if injected.truncate {
            // The answer claims `count` users but carries one fewer.
            users.pop();
        }
        Ok(json!({ "total_users": store.users.len(), "count": count, "users": users }))
    }

    pub(super) fn create_user(&self, fields: &Map<String, Value>) -> Result<Value, Failure> {
        let patch = Patch::parse(fields, CREATE_FIELDS)?;
        let missing = [("email", patch.person.email.is_none()), ("first_name", patch.person.first_name.is_none())];
        let missing = missing.into_iter().chain([("last_name", patch.person.last_name.is_none())]);
        if let Some((name, _)) = missing.chain([("role_id", patch.person.role_id.is_none())]).find(|(_, m)| *m) {
            return Err(Failure::invalid(format!("{name} is required")));
        }
        let mut store = self.lock();
        store.ensure_unique(patch.person.email.as_deref().unwrap_or_default(), None)?;
        let mut user = FileSpinUser::new("", "", "", 4);
        // FileSpin mails the invitation: the login is not active yet.
        user.invite_status = "REQUESTED".into();
        patch.apply(&mut user);
        let user = store.insert(user);
        Ok(json!({ "user": self.user_json(&user) }))
    }

    pub(super) fn update_user(&self, raw_id: &str, fields: &Map<String, Value>) -> Result<Value, Failure> {
        let not_found = || Failure::new(StatusCode::NOT_FOUND, format!("User {raw_id} not found"));
        let id: u64 = raw_id.parse().map_err(|_| not_found())?;
        let patch = Patch::parse(fields, UPDATE_FIELDS)?;
        let mut store = self.lock();
        if !store.users.contains_key(&id) {
            return Err(not_found());
        }
        if let Some(email) = &patch.person.email {
            store.ensure_unique(email, Some(id))?;
        }
        let user = store.users.get_mut(&id).ok_or_else(not_found)?;
        patch.apply(user);
        let user = user.clone();
        Ok(json!({ "user": self.user_json(&user) }))
    }

    /// Authorize, then read the JSON object body (400 otherwise) and log it.
    pub(super) fn write_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Failure> {
        self.authorize(headers)?;
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
            return Err(Failure::new(StatusCode::BAD_REQUEST, "The request body must be a JSON object"));
        };
        self.lock().log.writes.push(fields.clone());
        Ok(fields)
    }
}
