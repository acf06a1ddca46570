//! Users and Groups as the service provider keeps them: their kind (endpoint, schema,
//! tree), a pushed body cut to the schema, and the record stored per resource.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schema::{self, Attr, ENTERPRISE_URN, GROUP_URN, USER_URN};

/// The two resource types served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    /// The endpoint and `meta.resourceType`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }

    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }

    pub fn urn(self) -> &'static str {
        match self {
            Kind::User => USER_URN,
            Kind::Group => GROUP_URN,
        }
    }

    pub fn attrs(self) -> &'static [Attr] {
        match self {
            Kind::User => schema::USER,
            Kind::Group => schema::GROUP,
        }
    }

    /// The sled tree the resources of this kind live in (in the store's database).
    pub fn tree(self) -> &'static str {
        match self {
            Kind::User => "push_users",
            Kind::Group => "push_groups",
        }
    }

    /// The attribute that must be unique: `userName` or `displayName`.
    pub fn unique(self) -> &'static str {
        match self {
            Kind::User => "userName",
            Kind::Group => "displayName",
        }
    }
}

/// One stored resource: its SCIM body (with `id`, `schemas` and `meta` but without what is
/// derived at read time, such as a User's `groups` or `meta.location`), and a tombstone
/// flag. A deleted User stays as a tombstone so the engine deactivates the person, and a
/// later POST with the same userName or externalId revives it instead of making a twin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    pub body: Map<String, Value>,
    pub version: u64,
    #[serde(default)]
    pub deleted: bool,
}

impl Stored {
    pub fn id(&self) -> &str {
        text(&self.body, "id").unwrap_or_default()
    }

    /// `active`, absent meaning true (RFC 7643 leaves it to the service provider).
    pub fn active(&self) -> bool {
        !self.deleted && self.body.get("active").and_then(Value::as_bool).unwrap_or(true)
    }

    /// The unique name (`userName` or `displayName`).
    pub fn unique_name(&self, kind: Kind) -> &str {
        text(&self.body, kind.unique()).unwrap_or_default()
    }

    pub fn external_id(&self) -> Option<&str> {
        text(&self.body, "externalId")
    }

    /// `meta.created`, kept through replaces and revivals.
    pub fn created(&self) -> Option<String> {
        self.body.get("meta")?.get("created")?.as_str().map(str::to_string)
    }

    /// The weak ETag of this version.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    /// The ids of the direct members of a Group.
    pub fn member_ids(&self) -> Vec<String> {
        let members = self.body.get("members").and_then(Value::as_array);
        members.into_iter().flatten().filter_map(|m| m.get("value")?.as_str().map(str::to_string)).collect()
    }
}

pub fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// A pushed body (POST, PUT, or a resource after PATCH) cut to what this kind keeps, each
/// attribute canonical; `id` and `meta` are the service provider's and are dropped here.
pub fn canonical(kind: Kind, body: &Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    let at = kind.name();
    let mut out = schema::canonical_object(kind.attrs(), body, at)?;
    let mut schemas = vec![json!(kind.urn())];
    for (key, value) in body {
        if key.eq_ignore_ascii_case("externalId") {
            match value {
                Value::String(s) => {
                    out.insert("externalId".into(), json!(s));
                }
                Value::Null => {}
                _ => return Err(ScimError::Value(format!("{at}: externalId must be a string"))),
            }
        }
        if kind == Kind::User && key.eq_ignore_ascii_case(ENTERPRISE_URN) {
            let Value::Object(ext) = value else {
                return Err(ScimError::Value(format!("{at}: {ENTERPRISE_URN} must be an object")));
            };
            let ext = schema::canonical_object(schema::ENTERPRISE, ext, ENTERPRISE_URN)?;
            if !ext.is_empty() {
                out.insert(ENTERPRISE_URN.into(), Value::Object(ext));
                schemas.push(json!(ENTERPRISE_URN));
            }
        }
    }
    if let Some(name) = schema::missing(kind.attrs(), &out) {
        return Err(ScimError::Value(format!("{at}: {name} is required (RFC 7643)")));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(out)
}

/// The body as a JSON object, or the SCIM error saying it is not one.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ScimError::Syntax("the request body must be a JSON object".into())),
        Err(e) => Err(ScimError::Syntax(format!("the request body is not JSON: {e}"))),
    }
}
