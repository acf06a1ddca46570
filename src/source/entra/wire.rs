//! Microsoft Graph on the wire: a listing page (`value` + `@odata.nextLink` /
//! `@odata.deltaLink`), a user object mapped onto a person (full, or a delta's changed
//! fields merged into the person already held), and Graph's error body.

use compact_str::CompactString;
use serde_json::{Map, Value};

use crate::model::{Email, Person};

/// The user properties asked for: Graph's default set lacks most of them.
pub const USER_SELECT: &str =
    "id,userPrincipalName,mail,otherMails,givenName,surname,displayName,accountEnabled,userType,employeeId,department,jobTitle,companyName";

/// One page of a listing, as Graph sent it.
#[derive(Debug, Default)]
pub struct Page {
    pub value: Vec<Map<String, Value>>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

/// Why a page could not be understood (said with the page's place by the caller).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not JSON ({0})")]
    NotJson(String),
    #[error("no `value` array")]
    NoValue,
    #[error("value[{index}] is not an object with a string `id`")]
    NoId { index: usize },
    #[error("user {id:?}: {problem}")]
    User { id: String, problem: String },
}

/// Parse one page: a 200 whose `value` is an array of objects that each carry an `id`.
pub fn parse_page(body: &[u8]) -> Result<Page, WireError> {
    let Value::Object(mut root) =
        serde_json::from_slice::<Value>(body).map_err(|e| WireError::NotJson(e.to_string()))?
    else {
        return Err(WireError::NoValue);
    };
    let Some(Value::Array(items)) = root.remove("value") else {
        return Err(WireError::NoValue);
    };
    let mut value = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(o) if o.get("id").is_some_and(Value::is_string) => value.push(o),
            _ => return Err(WireError::NoId { index }),
        }
    }
    let link = |root: &Map<String, Value>, key: &str| root.get(key).and_then(Value::as_str).map(str::to_string);
    Ok(Page { next_link: link(&root, "@odata.nextLink"), delta_link: link(&root, "@odata.deltaLink"), value })
}

/// An object's `id` (checked present by [`parse_page`]).
pub fn id_of(object: &Map<String, Value>) -> &str {
    object.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// Whether a delta entry says the user left (`"@removed": {"reason": "changed" | "deleted"}`).
pub fn is_removed(object: &Map<String, Value>) -> bool {
    object.contains_key("@removed")
}

/// A whole user object as a person; Err when it cannot be one (no UPN, no `accountEnabled`).
pub fn person(object: &Map<String, Value>) -> Result<Person, WireError> {
    let mut person = Person { id: id_of(object).into(), ..Person::default() };
    merge_into(&mut person, object)?;
    check(&person)?;
    Ok(person)
}

/// A delta entry (the id and the fields that changed) merged into the person held; a
/// person not held yet is built from what came.
pub fn merge_delta(held: Option<&Person>, object: &Map<String, Value>) -> Result<Person, WireError> {
    let Some(held) = held else {
        return person(object);
    };
    let mut person = held.clone();
    merge_into(&mut person, object)?;
    check(&person)?;
    Ok(person)
}

fn check(person: &Person) -> Result<(), WireError> {
    let problem = if person.user_name.is_empty() {
        "no userPrincipalName"
    } else if person.active_unsent {
        "accountEnabled is absent or null, so whether the account may sign in is unknown"
    } else {
        return Ok(());
    };
    Err(WireError::User { id: person.id.to_string(), problem: problem.into() })
}

/// Set each property present in `object` (a value of `null` clears it). `accountEnabled`
/// starts unsent on a new person and must be a boolean once present.
fn merge_into(person: &mut Person, object: &Map<String, Value>) -> Result<(), WireError> {
    if person.user_name.is_empty() && !object.contains_key("accountEnabled") {
        person.active_unsent = true;
    }
    let mut extras = person.extras.take().map(|x| *x).unwrap_or_default();
    for (key, value) in object {
        let text = value.as_str().map(CompactString::from);
        match key.as_str() {
            "userPrincipalName" => {
                person.user_name = text.unwrap_or_default();
                refresh_primary(person, None);
            }
            "mail" => refresh_primary(person, Some(text)),
            "otherMails" => set_other_mails(person, value),
            "givenName" => person.given_name = text.unwrap_or_default(),
            "surname" => person.family_name = text.unwrap_or_default(),
            "displayName" => person.display_name = text,
            "accountEnabled" => match value.as_bool() {
                Some(enabled) => (person.active, person.active_unsent) = (enabled, false),
                None => person.active_unsent = true,
            },
            "userType" => extras.user_type = text,
            "employeeId" => person.employee_number = text,
            "department" => person.department = text,
            "jobTitle" => person.title = text,
            "companyName" => person.organization = text,
            "manager" => person.manager = value.get("id").and_then(Value::as_str).map(Into::into),
            "manager@delta" => person.manager = manager_delta(value),
            _ => {}
        }
    }
    person.extras = extras.boxed();
    Ok(())
}

/// `manager@delta`: the entry not `@removed`, if any (only `@removed` ones: no manager now).
fn manager_delta(value: &Value) -> Option<CompactString> {
    let entries = value.as_array()?;
    entries.iter().find(|e| e.get("@removed").is_none()).and_then(|e| e.get("id")?.as_str().map(Into::into))
}

/// The primary address is `mail`, else the UPN [inferred]; kind `work` marks one that came
/// from `mail`, so a later UPN change moves only a primary that came from the UPN.
/// `mail`: `None` when only the UPN changed, `Some(None)` when mail was cleared.
fn refresh_primary(person: &mut Person, mail: Option<Option<CompactString>>) {
    let from_mail = person.emails.first().is_some_and(|e| e.primary && e.kind.is_some());
    let current = match mail {
        Some(m) => m,
        None if from_mail => person.emails.first().map(|e| e.value.clone()),
        None => None,
    };
    let primary = match current {
        Some(value) if !value.is_empty() => Email { value, kind: Some("work".into()), primary: true },
        _ => Email { value: person.user_name.clone(), kind: None, primary: true },
    };
    person.emails.retain(|e| !e.primary);
    if !primary.value.is_empty() {
        person.emails.insert(0, primary);
    }
}

fn set_other_mails(person: &mut Person, value: &Value) {
    person.emails.retain(|e| e.primary);
    let others = value.as_array().into_iter().flatten().filter_map(Value::as_str);
    person.emails.extend(others.map(|v| Email { value: v.into(), kind: Some("other".into()), primary: false }));
}

/// The useful part of a Graph error: `error.code: error.message` (or the token endpoint's
/// `error: error_description`), else the start of the body.
pub fn error_detail(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let graph = parsed.as_ref().and_then(|v| {
        let e = v.get("error")?;
        Some(format!("{}: {}", e.get("code")?.as_str()?, e.get("message").and_then(Value::as_str).unwrap_or("")))
    });
    let token = parsed.as_ref().and_then(|v| {
        Some(format!("{}: {}", v.get("error")?.as_str()?, v.get("error_description").and_then(Value::as_str)?))
    });
    graph.or(token).unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// The Graph error code of a body (`syncStateNotFound`, `InvalidAuthenticationToken`).
pub fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("error")?.get("code")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_user_maps_as_the_contract_says() {
        let p = person(&object(json!({
            "id": "u1", "userPrincipalName": "ana@acme.com", "mail": "ana.m@acme.com", "otherMails": ["a@x.org"],
            "givenName": "Ana", "surname": "Lee", "displayName": "Ana Lee", "accountEnabled": false,
            "userType": "Guest", "employeeId": "E7", "department": "Ops", "jobTitle": "Lead",
            "companyName": "Acme", "manager": {"id": "m9"}
        })))
        .unwrap();
        assert_eq!((p.id.as_str(), p.user_name.as_str(), p.active), ("u1", "ana@acme.com", false));
        assert_eq!(p.emails.iter().map(|e| e.value.as_str()).collect::<Vec<_>>(), ["ana.m@acme.com", "a@x.org"]);
        assert_eq!((p.given_name.as_str(), p.family_name.as_str()), ("Ana", "Lee"));
        assert_eq!(p.extras.as_ref().and_then(|x| x.user_type.as_deref()), Some("Guest"));
        assert_eq!(
            (p.employee_number.as_deref(), p.department.as_deref(), p.title.as_deref()),
            (Some("E7"), Some("Ops"), Some("Lead"))
        );
        assert_eq!((p.organization.as_deref(), p.manager.as_deref()), (Some("Acme"), Some("m9")));
    }

    #[test]
    fn no_mail_means_the_upn_and_no_account_enabled_is_unparseable() {
        let p = person(&object(json!({"id": "u", "userPrincipalName": "b@acme.com", "accountEnabled": true}))).unwrap();
        assert_eq!(p.emails[0].value, "b@acme.com");
        let e = person(&object(json!({"id": "u", "userPrincipalName": "b@acme.com", "accountEnabled": null})));
        assert!(e.unwrap_err().to_string().contains("accountEnabled"));
        assert!(person(&object(json!({"id": "u", "userPrincipalName": "b@acme.com"}))).is_err());
    }

    #[test]
    fn a_delta_merges_only_the_fields_it_carries() {
        let held = person(&object(json!({
            "id": "u", "userPrincipalName": "c@acme.com", "givenName": "C", "accountEnabled": true, "department": "A"
        })))
        .unwrap();
        let p =
            merge_delta(Some(&held), &object(json!({"id": "u", "accountEnabled": false, "department": null}))).unwrap();
        assert_eq!((p.active, p.given_name.as_str(), p.department.as_deref()), (false, "C", None));
        let p = merge_delta(Some(&p), &object(json!({"id": "u", "userPrincipalName": "d@acme.com"}))).unwrap();
        assert_eq!((p.user_name.as_str(), p.emails[0].value.as_str()), ("d@acme.com", "d@acme.com"));
        let p = merge_delta(Some(&p), &object(json!({"id": "u", "manager@delta": [{"id": "m2"}]}))).unwrap();
        assert_eq!(p.manager.as_deref(), Some("m2"));
    }

    #[test]
    fn pages_need_a_value_array_of_objects_with_ids() {
        let page = parse_page(br#"{"value":[{"id":"a"}],"@odata.nextLink":"https://g/next"}"#).unwrap();
        assert_eq!((page.value.len(), page.next_link.as_deref()), (1, Some("https://g/next")));
        assert!(matches!(parse_page(b"<html>"), Err(WireError::NotJson(_))));
        assert!(matches!(parse_page(br#"{"values":[]}"#), Err(WireError::NoValue)));
        assert!(matches!(parse_page(br#"{"value":[{"x":1}]}"#), Err(WireError::NoId { index: 0 })));
    }
}
