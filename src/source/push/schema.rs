//! The attributes the service provider keeps, as one table per schema: the `/Schemas`
//! endpoint publishes them (RFC 7643 §8.7) and incoming resources are checked and cut to them.

use serde_json::{json, Map, Value};

use super::error::ScimError;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// An attribute's type (RFC 7643 §2.3), as far as the service provider checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Complex,
    Reference,
}

/// One attribute of a schema.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub kind: Kind,
    pub multi: bool,
    pub required: bool,
    /// Read-only attributes are derived by the service provider and ignored on input.
    pub read_only: bool,
    /// `userName` and a Group's `displayName`: unique (case-insensitively) on the server.
    pub unique: bool,
    pub sub: &'static [Attr],
    /// What a reference may point to, or the canonical values of a `type` sub-attribute.
    pub values: &'static [&'static str],
}

const fn attr(name: &'static str, kind: Kind) -> Attr {
    Attr { name, kind, multi: false, required: false, read_only: false, unique: false, sub: &[], values: &[] }
}

const fn string(name: &'static str) -> Attr {
    attr(name, Kind::String)
}

const fn complex(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr { sub, ..attr(name, Kind::Complex) }
}

const fn multi(name: &'static str, sub: &'static [Attr]) -> Attr {
    Attr { multi: true, ..complex(name, sub) }
}

const fn typed(name: &'static str, values: &'static [&'static str]) -> Attr {
    Attr { values, ..string(name) }
}

const NAME: &[Attr] = &[
    string("formatted"),
    string("familyName"),
    string("givenName"),
    string("middleName"),
    string("honorificPrefix"),
    string("honorificSuffix"),
];
const EMAIL: &[Attr] = &[string("value"), typed("type", &["work", "home", "other"]), attr("primary", Kind::Boolean)];
const PHONE: &[Attr] =
    &[string("value"), typed("type", &["work", "home", "mobile", "other"]), attr("primary", Kind::Boolean)];
const ADDRESS: &[Attr] = &[
    string("formatted"),
    string("streetAddress"),
    string("locality"),
    string("region"),
    string("postalCode"),
    string("country"),
    typed("type", &["work", "home", "other"]),
    attr("primary", Kind::Boolean),
];
const USER_GROUP: &[Attr] = &[
    string("value"),
    Attr { values: &["Group"], ..attr("$ref", Kind::Reference) },
    string("display"),
    typed("type", &["direct", "indirect"]),
];
const MEMBER: &[Attr] = &[
    string("value"),
    Attr { values: &["User", "Group"], ..attr("$ref", Kind::Reference) },
    string("display"),
    typed("type", &["User", "Group"]),
];
const MANAGER: &[Attr] =
    &[string("value"), Attr { values: &["User"], ..attr("$ref", Kind::Reference) }, string("displayName")];

/// The core User attributes kept.
pub const USER: &[Attr] = &[
    Attr { required: true, unique: true, ..string("userName") },
    complex("name", NAME),
    string("displayName"),
    string("nickName"),
    string("title"),
    string("userType"),
    string("preferredLanguage"),
    string("locale"),
    string("timezone"),
    attr("active", Kind::Boolean),
    multi("emails", EMAIL),
    multi("phoneNumbers", PHONE),
    multi("addresses", ADDRESS),
    Attr { read_only: true, ..multi("groups", USER_GROUP) },
];

/// The enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE: &[Attr] = &[
    string("employeeNumber"),
    string("costCenter"),
    string("organization"),
    string("division"),
    string("department"),
    complex("manager", MANAGER),
];

/// The Group attributes kept.
pub const GROUP: &[Attr] = &[Attr { required: true, unique: true, ..string("displayName") }, multi("members", MEMBER)];

/// A schema the service provider serves.
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: &'static [Attr],
}

pub const SCHEMAS: [Schema; 3] = [
    Schema { id: USER_URN, name: "User", description: "User Account", attrs: USER },
    Schema { id: GROUP_URN, name: "Group", description: "Group", attrs: GROUP },
    Schema { id: ENTERPRISE_URN, name: "EnterpriseUser", description: "Enterprise User", attrs: ENTERPRISE },
];

/// The attribute named `name` (case-insensitively, RFC 7643 §2.1).
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The RFC 7643 §8.7 definition of one attribute.
fn definition(a: &Attr) -> Value {
    let kind = match a.kind {
        Kind::String => "string",
        Kind::Boolean => "boolean",
        Kind::Complex => "complex",
        Kind::Reference => "reference",
    };
    let mut d = json!({
        "name": a.name,
        "type": kind,
        "multiValued": a.multi,
        "description": a.name,
        "required": a.required,
        "mutability": if a.read_only { "readOnly" } else { "readWrite" },
        "returned": "default",
        "uniqueness": if a.unique { "server" } else { "none" },
    });
    if matches!(a.kind, Kind::String | Kind::Reference) {
        d["caseExact"] = json!(false);
    }
    match a.kind {
        Kind::Complex => d["subAttributes"] = a.sub.iter().map(definition).collect(),
        Kind::Reference => d["referenceTypes"] = json!(a.values),
        _ if !a.values.is_empty() => d["canonicalValues"] = json!(a.values),
        _ => {}
    }
    d
}

/// One schema as `/Schemas/{id}` serves it; `location` is the base of the SCIM endpoint.
pub fn schema_json(schema: &Schema, base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attrs.iter().map(definition).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)},
    })
}

/// `value` checked against `a` and written in its canonical form: keys in the schema's
/// case, unknown sub-attributes dropped, Entra ID's `"True"`/`"False"` read as booleans,
/// and a single object given for a multi-valued attribute taken as a list of one.
/// `Ok(None)` for a null (an attribute set to null is unassigned, RFC 7644 §3.3).
pub fn canonical(a: &Attr, value: &Value, at: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if a.multi {
        let items = match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        let single = Attr { multi: false, ..attr(a.name, a.kind) };
        let single = Attr { sub: a.sub, values: a.values, ..single };
        let out: Result<Vec<Option<Value>>, ScimError> = items.iter().map(|v| canonical(&single, v, at)).collect();
        let out: Vec<Value> = out?.into_iter().flatten().collect();
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    let wrong = || ScimError::Value(format!("{at}: {} must be {}", a.name, expected(a.kind)));
    match (a.kind, value) {
        (Kind::String | Kind::Reference, Value::String(_)) => Ok(Some(value.clone())),
        (Kind::Boolean, Value::Bool(_)) => Ok(Some(value.clone())),
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
        (Kind::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
        // Entra ID sends the enterprise `manager` as the manager's id alone.
        (Kind::Complex, Value::String(_)) if find(a.sub, "value").is_some() => Ok(Some(json!({ "value": value }))),
        (Kind::Complex, Value::Object(map)) => {
            let out = canonical_object(a.sub, map, &format!("{at}.{}", a.name))?;
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        _ => Err(wrong()),
    }
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::String | Kind::Reference => "a string",
        Kind::Boolean => "a boolean",
        Kind::Complex => "an object",
    }
}

/// The attributes of `map` that `attrs` defines, each canonical; read-only ones are ignored
/// (the service provider derives them), as RFC 7644 §3.3 lets a server do.
pub fn canonical_object(attrs: &[Attr], map: &Map<String, Value>, at: &str) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in map {
        let Some(a) = find(attrs, key) else { continue };
        if a.read_only {
            continue;
        }
        if let Some(v) = canonical(a, value, at)? {
            out.insert(a.name.to_string(), v);
        }
    }
    Ok(out)
}

/// The required attributes of `attrs` that `map` lacks, named for the error.
pub fn missing(attrs: &[Attr], map: &Map<String, Value>) -> Option<&'static str> {
    attrs
        .iter()
        .find(|a| a.required && map.get(a.name).is_none_or(|v| v.as_str().is_none_or(str::is_empty)))
        .map(|a| a.name)
}
