//! Attributes a SCIM target gets beyond the core six: `title`, the enterprise extension
//! (`department`, `employeeNumber`, `costCenter`, `organization`, `division`, `manager`) by
//! short name, and any schema's attribute by its full URN path
//! (`urn:acme:params:scim:schemas:extension:acme:2.0:User:badge`).

use serde_json::{json, Map, Value};

use super::{entry_ci, set_path};
use crate::model::ENTERPRISE_URN;

/// Field names config may use besides the core six; the last one stands for any URN path.
pub const EXTRA_FIELDS: [&str; 8] =
    ["title", "department", "employeeNumber", "costCenter", "organization", "division", "manager", URN_FIELD];

/// How `fields_allowed` says "any attribute by its URN path".
pub const URN_FIELD: &str = "urn:<schema>:<attribute>";

const CORE_PREFIX: &str = "urn:ietf:params:scim:schemas:core:";

/// One extra attribute: where it lives in a User resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The field name in config and in the account's fields.
    pub field: String,
    /// The extension schema holding it; `None` for the core schema (top level).
    pub schema: Option<String>,
    /// `attr` or `attr.sub`.
    pub path: String,
}

impl Attribute {
    /// The attribute a config field name stands for, or why it is not one.
    pub fn of(field: &str) -> Result<Attribute, String> {
        let enterprise =
            |path: &str| Attribute { field: field.into(), schema: Some(ENTERPRISE_URN.into()), path: path.into() };
        match field {
            "title" => return Ok(Attribute { field: field.into(), schema: None, path: "title".into() }),
            "manager" => return Ok(enterprise("manager.value")),
            "department" | "employeeNumber" | "costCenter" | "organization" | "division" => {
                return Ok(enterprise(field))
            }
            _ => {}
        }
        let Some((schema, path)) = field.strip_prefix("urn:").and(field.rsplit_once(':')) else {
            return Err(format!("{field:?} is not an attribute: write a short name or urn:<schema>:<attribute>"));
        };
        let names_ok = path.split('.').all(is_attribute_name) && path.split('.').count() <= 2;
        if schema.matches(':').count() < 2 || !names_ok {
            return Err(format!("{field:?} is not urn:<schema>:<attribute> (an attribute name, optionally .sub)"));
        }
        let schema = (!schema.to_ascii_lowercase().starts_with(CORE_PREFIX)).then(|| schema.to_string());
        Ok(Attribute { field: field.into(), schema, path: path.into() })
    }

    /// The PATCH path (RFC 7644 §3.5.2: extension attributes by their full URN).
    pub fn patch_path(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}:{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The attribute's value in a resource as the server sent it, as text.
    pub fn read(&self, resource: &Value) -> Option<String> {
        let mut node = match &self.schema {
            Some(schema) => child_ci(resource, schema)?,
            None => resource,
        };
        for name in self.path.split('.') {
            node = child_ci(node, name)?;
        }
        match node {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA ($ is allowed too).
fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'))
}

fn child_ci<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// Whether a config field name is an attribute rosterd can write beyond the core six.
pub fn is_extra(field: &str) -> bool {
    Attribute::of(field).is_ok()
}

/// Set an attribute in a whole resource (POST, PUT) by its PATCH path: an extension's
/// attribute under its schema's object, with the schema added to `schemas`.
pub fn set_attribute(map: &mut Map<String, Value>, path: &str, value: Value) {
    let Some((schema, attr)) = path.strip_prefix("urn:").and(path.rsplit_once(':')) else {
        return set_path(map, path, value);
    };
    if schema.to_ascii_lowercase().starts_with(CORE_PREFIX) {
        return set_path(map, attr, value);
    }
    let schemas = entry_ci(map, "schemas");
    match schemas {
        Value::Array(list) if list.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(schema))) => {}
        Value::Array(list) => list.push(json!(schema)),
        other => *other = json!([schema]),
    }
    let inner = entry_ci(map, schema);
    if !inner.is_object() {
        *inner = json!({});
    }
    if let Some(inner) = inner.as_object_mut() {
        set_path(inner, attr, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{normalize_key, DesiredAccount, FieldChange};
    use crate::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions};
    use crate::platform::scim::{ScimTargetConnector, ScimTargetSettings};
    use crate::platform::Connector;
    use secrecy::SecretString;

    async fn start(options: ScimSandboxOptions) -> (ScimSandbox, ScimTargetConnector) {
        let sandbox = ScimSandbox::start(options.with_token("t-attr")).await.unwrap();
        let mut settings =
            ScimTargetSettings::new("scim", sandbox.base_url(), SecretString::from("t-attr".to_string()));
        settings.connection.per_second = 0.0;
        settings.extra_fields = vec!["department".into(), "employeeNumber".into()];
        (sandbox, ScimTargetConnector::new(settings).unwrap())
    }

    fn desired() -> DesiredAccount {
        DesiredAccount {
            person_id: "src-1".into(),
            label: "a@x.com".into(),
            key: normalize_key("a@x.com"),
            fields: crate::model::Fields::from([
                ("userName", "a@x.com"),
                ("externalId", "src-1"),
                ("department", "Eng"),
                ("employeeNumber", "42"),
            ]),
            role: None,
        }
    }

    #[tokio::test]
    async fn enterprise_attributes_are_created_listed_and_changed_by_patch_or_put() {
        for options in [ScimSandboxOptions::default(), ScimSandboxOptions::default().without_patch()] {
            let (sandbox, scim) = start(options).await;
            let created = scim.create(&desired()).await.unwrap();
            assert_eq!(sandbox.last_write().unwrap().body["schemas"][1], ENTERPRISE_URN);
            let listed = scim.list().await.unwrap().remove(0);
            assert_eq!(
                (
                    listed.fields.get("department").map(|v| v.as_str()),
                    listed.fields.get("employeeNumber").map(|v| v.as_str())
                ),
                (Some("Eng"), Some("42"))
            );
            let change =
                FieldChange { field: "department".into(), before: Some("Eng".into()), after: Some("Research".into()) };
            scim.update(&created, &[change]).await.unwrap();
            let stored = sandbox.user(&created.id).unwrap();
            assert_eq!(
                (stored.enterprise["department"].as_str(), stored.enterprise["employeeNumber"].as_str()),
                ("Research", "42")
            );
        }
    }

    #[test]
    fn short_names_and_urn_paths_are_attributes_and_others_are_not() {
        let department = Attribute::of("department").unwrap();
        assert_eq!(department.patch_path(), format!("{ENTERPRISE_URN}:department"));
        assert_eq!(Attribute::of("manager").unwrap().patch_path(), format!("{ENTERPRISE_URN}:manager.value"));
        assert_eq!(Attribute::of("title").unwrap().patch_path(), "title");
        let badge = Attribute::of("urn:acme:scim:schemas:extension:acme:2.0:User:badge").unwrap();
        assert_eq!(badge.schema.as_deref(), Some("urn:acme:scim:schemas:extension:acme:2.0:User"));
        let core = Attribute::of("urn:ietf:params:scim:schemas:core:2.0:User:nickName").unwrap();
        assert_eq!((core.schema.as_deref(), core.patch_path().as_str()), (None, "nickName"));
        for bad in ["badge", "urn:x", "urn:a:b:", "urn:a:b:c:9lives", "urn:a:b:c:x.y.z", "urn:a:b:c:bad name"] {
            assert!(Attribute::of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_read_case_insensitively_and_written_under_their_schema() {
        let user = json!({"Title": "Boss", (ENTERPRISE_URN.to_lowercase()): {"Department": "Sales", "manager": {"value": "m1"}}});
        assert_eq!(Attribute::of("title").unwrap().read(&user).as_deref(), Some("Boss"));
        assert_eq!(Attribute::of("department").unwrap().read(&user).as_deref(), Some("Sales"));
        assert_eq!(Attribute::of("manager").unwrap().read(&user).as_deref(), Some("m1"));
        assert_eq!(Attribute::of("employeeNumber").unwrap().read(&user), None);
        let mut map = Map::new();
        map.insert("schemas".into(), json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
        set_attribute(&mut map, &Attribute::of("employeeNumber").unwrap().patch_path(), json!("42"));
        set_attribute(&mut map, &Attribute::of("department").unwrap().patch_path(), json!("Eng"));
        set_attribute(&mut map, "title", json!("Dev"));
        assert_eq!(map["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_URN]));
        assert_eq!(map[ENTERPRISE_URN], json!({"employeeNumber": "42", "department": "Eng"}));
        assert_eq!(map["title"], "Dev");
    }
}
