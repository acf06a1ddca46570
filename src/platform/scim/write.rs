//! Writing Users to a SCIM target: the attributes a change list writes, PATCH and PUT bodies,
//! `If-Match` with one re-read on a 412, the POST body, and adopting a resource on a 409.

use compact_str::CompactString;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::attributes::{self, Attribute};
use super::listing::parse_user;
use super::{error_detail, Capabilities, ScimTargetConnector, FIELDS, PATCH_URN, STATUS_FIELD, USER_URN};
use crate::model::{Account, DesiredAccount, FieldChange, ROLE_FIELD};
use crate::platform::http::Answer;
use crate::platform::PlatformError;

/// One attribute to write, by its SCIM path (PATCH `path`, or where PUT sets it).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Write {
    path: String,
    value: Value,
}

/// The SCIM path of a rosterd field.
pub(super) fn attribute_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "userName" => "userName",
        "externalId" => "externalId",
        "givenName" => "name.givenName",
        "familyName" => "name.familyName",
        "displayName" => "displayName",
        "email" => "emails",
        _ => return None,
    })
}

/// The value an attribute takes. rosterd owns `emails` on the target: one primary work
/// address, which is what it compares.
pub(super) fn attribute_value(path: &str, value: &str) -> Value {
    match path {
        "emails" => json!([{ "value": value, "type": "work", "primary": true }]),
        _ => json!(value),
    }
}

/// Whether the changes planned against the listing still make sense on the resource as it
/// now is: each changed field still holds what was listed, or already what was wanted.
pub(super) fn still_applies(current: &Account, changes: &[FieldChange]) -> bool {
    changes.iter().filter(|c| attribute_of(&c.field).is_some()).all(|c| {
        let now = current.fields.get(c.field.as_str()).map(CompactString::as_str);
        let same = |want: Option<&str>| match (now, want) {
            (Some(a), Some(b)) if c.field == "userName" => a.trim().eq_ignore_ascii_case(b.trim()),
            (a, b) => a == b,
        };
        same(c.before.as_deref()) || same(c.after.as_deref())
    })
}

/// The value stored under `name` in a SCIM object, found case-insensitively (inserted if absent).
pub(super) fn entry_ci<'a>(map: &'a mut Map<String, Value>, name: &str) -> &'a mut Value {
    let key = map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned().unwrap_or_else(|| name.to_string());
    map.entry(key).or_insert(Value::Null)
}

pub(super) fn set_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        Some((parent, child)) => {
            let entry = entry_ci(map, parent);
            if !entry.is_object() {
                *entry = json!({});
            }
            if let Some(inner) = entry.as_object_mut() {
                set_path(inner, child, value);
            }
        }
        None => *entry_ci(map, path) = value,
    }
}

/// The whole resource for a PUT: as the server holds it, with the writes applied and the
/// read-only `meta` left out. Everything else (attributes rosterd does not manage) is kept.
pub(super) fn put_body(resource: Value, writes: &[Write]) -> Result<Value, String> {
    let Value::Object(mut map) = resource else { return Err("the resource is not a JSON object".into()) };
    map.retain(|k, _| !k.eq_ignore_ascii_case("meta"));
    for write in writes {
        attributes::set_attribute(&mut map, &write.path, write.value.clone());
    }
    Ok(Value::Object(map))
}

pub(super) fn patch_body(writes: &[Write]) -> Value {
    let operations: Vec<Value> =
        writes.iter().map(|w| json!({ "op": "replace", "path": w.path, "value": w.value })).collect();
    json!({ "schemas": [PATCH_URN], "Operations": operations })
}

/// Whether a write went through, or met a 412 (the resource changed since it was read).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Done,
    Stale,
}

impl ScimTargetConnector {
    // ---- Writing.

    /// The attributes a change list writes; anything rosterd cannot write is refused before
    /// a request is sent.
    pub(super) fn writes_for(
        &self,
        account: &Account,
        changes: &[FieldChange],
        active: Option<bool>,
    ) -> Result<Vec<Write>, PlatformError> {
        let cannot =
            |what: String| self.http.unsupported(format!("cannot {what} of {} (id {})", account.key, account.id));
        let mut writes = Vec::new();
        for change in changes {
            let after = change.after.as_deref().map(str::trim).filter(|v| !v.is_empty());
            let field = change.field.as_str();
            let write = match (field, after) {
                (ROLE_FIELD, _) => return Err(cannot("change the role: roles are not managed on SCIM targets".into())),
                (STATUS_FIELD, Some("active")) => Write { path: "active".into(), value: json!(true) },
                (STATUS_FIELD, Some("inactive")) => Write { path: "active".into(), value: json!(false) },
                (STATUS_FIELD, other) => return Err(cannot(format!("set status {other:?}"))),
                (_, after) => {
                    let path = match attribute_of(field) {
                        Some(path) => path.to_string(),
                        None => self.extra_path(field).ok_or_else(|| {
                            cannot(format!("change {field:?}: not a field rosterd writes on SCIM targets"))
                        })?,
                    };
                    let value = after.ok_or_else(|| cannot(format!("clear {field}")))?;
                    Write { value: attribute_value(&path, value), path }
                }
            };
            writes.push(write);
        }
        if let Some(active) = active {
            // Last, so that a reactivation always ends active.
            writes.retain(|w| w.path != "active");
            writes.push(Write { path: "active".into(), value: json!(active) });
        }
        Ok(writes)
    }

    /// Write the changes (and the status), by PATCH or PUT; a 412 re-reads the resource and
    /// tries once more if the changes still make sense on it.
    pub(super) async fn write(
        &self,
        operation: &str,
        account: &Account,
        changes: &[FieldChange],
        active: Option<bool>,
    ) -> Result<(), PlatformError> {
        let writes = self.writes_for(account, changes, active)?;
        if writes.is_empty() {
            return Ok(());
        }
        let capabilities = self.capabilities().await?;
        if self.attempt(operation, &account.id, &writes, capabilities).await? == Outcome::Done {
            return Ok(());
        }
        let stale = || self.rejected(operation, format!("user {} changed concurrently; re-plan", account.id));
        let (_, current) = self.read_user(operation, &account.id).await?;
        if !still_applies(&current.account, changes) {
            return Err(stale());
        }
        match self.attempt(operation, &account.id, &writes, capabilities).await? {
            Outcome::Done => Ok(()),
            Outcome::Stale => Err(stale()),
        }
    }

    pub(super) async fn attempt(
        &self,
        operation: &str,
        id: &str,
        writes: &[Write],
        capabilities: Capabilities,
    ) -> Result<Outcome, PlatformError> {
        let (method, body, version) = if capabilities.patch {
            let version = match (capabilities.etag, self.cached_version(id)) {
                (false, _) => None,
                (true, Some(v)) => Some(v),
                (true, None) => self.read_user(operation, id).await?.1.version,
            };
            (Method::PATCH, patch_body(writes), version)
        } else {
            let (resource, remote) = self.read_user(operation, id).await?;
            let body =
                put_body(resource, writes).map_err(|d| self.http.malformed(operation, format!("user {id}: {d}")))?;
            (Method::PUT, body, remote.version.filter(|_| capabilities.etag))
        };
        let answer = self.call(operation, method, &self.user_url(id), Some(&body), version.as_deref()).await?;
        if answer.status.as_u16() == 412 {
            return Ok(Outcome::Stale);
        }
        if !answer.status.is_success() {
            return Err(self.failure(operation, &answer));
        }
        self.after_write(id, &answer);
        Ok(Outcome::Done)
    }

    /// The PATCH path of a configured extra attribute.
    pub(super) fn extra_path(&self, field: &str) -> Option<String> {
        self.attributes.iter().find(|a| a.field == field).map(Attribute::patch_path)
    }

    /// Keep the version the answer gives (200 with the resource); a 204 gives none here.
    pub(super) fn after_write(&self, id: &str, answer: &Answer) {
        let remote = serde_json::from_slice::<Value>(&answer.body).ok().and_then(|v| parse_user(v).ok());
        match remote.filter(|r| r.account.id == id) {
            Some(remote) => self.remember(&remote),
            None => self.forget(id),
        }
    }

    /// The POST body: every desired field rosterd writes, and `active`.
    pub(super) fn create_body(&self, desired: &DesiredAccount) -> Result<(String, Value), PlatformError> {
        let field = |name: &str| desired.fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let user_name = field("userName").or(Some(desired.key.as_str()).filter(|k| !k.is_empty()));
        let user_name = user_name
            .ok_or_else(|| self.http.unsupported(format!("{} has no userName, which SCIM requires", desired.label)))?;
        let mut body = Map::new();
        body.insert("schemas".into(), json!([USER_URN]));
        body.insert("userName".into(), json!(user_name));
        for name in ["externalId", "givenName", "familyName", "displayName", "email"] {
            if let (Some(value), Some(path)) = (field(name), attribute_of(name)) {
                set_path(&mut body, path, attribute_value(path, value));
            }
        }
        for attribute in &self.attributes {
            if let Some(value) = field(&attribute.field) {
                attributes::set_attribute(&mut body, &attribute.patch_path(), json!(value));
            }
        }
        let known = |f: &str| FIELDS.contains(&f) || self.extra_path(f).is_some();
        if let Some(unknown) = desired.fields.keys().find(|f| !known(f.as_str())) {
            return Err(self.http.unsupported(format!("{unknown:?} is not a field rosterd writes on SCIM targets")));
        }
        if desired.role.is_some() {
            return Err(self.http.unsupported("roles are not managed on SCIM targets".into()));
        }
        body.insert("active".into(), json!(true));
        Ok((user_name.to_string(), Value::Object(body)))
    }

    /// A 409 on create: the name is taken. The resource holding it is this person's account
    /// (linked) when its externalId is this person's or absent; otherwise it is someone else's.
    pub(super) async fn adopt_existing(
        &self,
        desired: &DesiredAccount,
        user_name: &str,
        answer: &Answer,
    ) -> Result<Account, PlatformError> {
        let detail = self.http.redact(&error_detail(&answer.body, self.http.redactor()));
        let Some(existing) = self.find_by_user_name("create", user_name).await? else {
            return Err(self
                .rejected("create", format!("userName {user_name:?} conflicts ({detail}), but no resource holds it")));
        };
        let wanted = desired.fields.get("externalId").map(|v| v.trim()).filter(|v| !v.is_empty());
        match (existing.external_id.as_deref().filter(|v| !v.is_empty()), wanted) {
            (None, _) | (_, None) => {}
            (Some(have), Some(want)) if have == want => {}
            (Some(have), Some(_)) => {
                let message = format!("userName {user_name:?} is taken by user {} with externalId {have:?}: a conflict for a person to resolve", existing.account.id);
                return Err(self.rejected("create", message));
            }
        }
        tracing::info!(platform = %self.settings.name, id = %existing.account.id, "create met an existing resource; linked it");
        self.remember(&existing);
        Ok(existing.account)
    }
}
