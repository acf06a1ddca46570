//! The enterprise user extension in the SCIM emulator (RFC 7643 §4.3): its attributes under
//! their schema's object, the schema required in `schemas`, unknown attributes refused.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{check_schemas, ScimError, ScimUser};

pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The extension's string attributes (`manager` is `manager.value`).
const ATTRIBUTES: [&str; 6] = ["employeeNumber", "costCenter", "organization", "division", "department", "manager"];

fn canonical(name: &str) -> Result<&'static str, ScimError> {
    ATTRIBUTES
        .iter()
        .find(|a| a.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| ScimError::path(format!("{ENTERPRISE_URN}:{name} is not an attribute of the extension")))
}

fn text(name: &str, value: &Value) -> Result<Option<String>, ScimError> {
    let value = if name == "manager" { value.get("value").unwrap_or(&Value::Null) } else { value };
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::value(format!("{ENTERPRISE_URN}:{name} must be a string"))),
    }
}

/// Set one attribute, by the path after the URN (`department`, `manager.value`).
pub fn set_one(user: &mut ScimUser, path: &str, value: &Value) -> Result<(), ScimError> {
    let (name, value) = match path.split_once('.') {
        Some((m, v)) if m.eq_ignore_ascii_case("manager") && v.eq_ignore_ascii_case("value") => {
            ("manager", json!({ "value": value }))
        }
        Some(_) => return Err(ScimError::path(format!("{ENTERPRISE_URN}:{path} is not supported"))),
        None => (canonical(path)?, value.clone()),
    };
    match text(name, &value)? {
        Some(v) => user.enterprise.insert(name.to_string(), v),
        None => user.enterprise.remove(name),
    };
    Ok(())
}

/// The extension's object of a POST or PUT body; its schema must be listed in `schemas`.
pub fn set_all(user: &mut ScimUser, map: &Map<String, Value>, value: &Value) -> Result<(), ScimError> {
    check_schemas(map, ENTERPRISE_URN)?;
    let Value::Object(object) = value else {
        return Err(ScimError::value(format!("{ENTERPRISE_URN} must be an object")));
    };
    user.enterprise = BTreeMap::new();
    for (name, v) in object {
        let name = canonical(name)?;
        if let Some(text) = text(name, v)? {
            user.enterprise.insert(name.to_string(), text);
        }
    }
    Ok(())
}

/// The extension as served, with its schema added to `schemas`; nothing when it is empty.
pub fn render(user: &ScimUser, body: &mut Value) {
    if user.enterprise.is_empty() {
        return;
    }
    let mut object = Map::new();
    for (name, value) in &user.enterprise {
        let value = if name == "manager" { json!({ "value": value }) } else { json!(value) };
        object.insert(name.clone(), value);
    }
    body[ENTERPRISE_URN] = Value::Object(object);
    if let Some(schemas) = body["schemas"].as_array_mut() {
        schemas.push(json!(ENTERPRISE_URN));
    }
}

/// A PATCH path inside the extension: the part after `<urn>:`.
pub fn patch_path(path: &str) -> Option<&str> {
    let prefix = path.get(..ENTERPRISE_URN.len() + 1)?;
    prefix.eq_ignore_ascii_case(&format!("{ENTERPRISE_URN}:")).then(|| &path[ENTERPRISE_URN.len() + 1..])
}

#[cfg(test)]
mod tests {
    use super::super::{ScimSandbox, ScimSandboxOptions, MEDIA_TYPE, USER_URN};
    use super::*;

    async fn post(sandbox: &ScimSandbox, body: Value) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/Users", sandbox.base_url()))
            .bearer_auth(sandbox.token())
            .header("Content-Type", MEDIA_TYPE)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn the_extension_needs_its_schema_and_known_attributes() {
        let sandbox = ScimSandbox::start(ScimSandboxOptions::default()).await.unwrap();
        let user = |schemas: Value, extension: Value| json!({"schemas": schemas, "userName": "a@x.com", ENTERPRISE_URN: extension});
        let unlisted = post(&sandbox, user(json!([USER_URN]), json!({"department": "Eng"}))).await;
        assert_eq!(unlisted.0, 400);
        let unknown = post(&sandbox, user(json!([USER_URN, ENTERPRISE_URN]), json!({"badge": "7"}))).await;
        assert_eq!(unknown.1["scimType"], "invalidPath");
        let (status, created) = post(
            &sandbox,
            user(json!([USER_URN, ENTERPRISE_URN]), json!({"department": "Eng", "manager": {"value": "m1"}})),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created[ENTERPRISE_URN], json!({"department": "Eng", "manager": {"value": "m1"}}));
        assert_eq!(created["schemas"], json!([USER_URN, ENTERPRISE_URN]));
    }
}
