//! SCIM 2.0 on the wire, once for every SCIM reader and writer: the URNs and media type, the
//! User resource shape, ListResponse envelopes, error bodies and `startIndex`/`count` paging.
//!
//! The SCIM target connector (`platform::scim`), its emulator and the SCIM identity source
//! (`source::scim`) all speak through here, so the two sides cannot drift apart. Every key is
//! lower-cased before parsing (RFC 7643 §2.1: attribute names are case-insensitive), which is
//! why the structs below use lower-case names. Unknown attributes are ignored, so a `password`
//! or certificate a server wrongly returns is dropped here and never reaches rosterd's records.

use compact_str::CompactString;
use serde::Deserialize;
use serde_json::Value;

use crate::platform::redact::Redactor;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// RFC 7644 §3.1: SCIM's media type.
pub const MEDIA_TYPE: &str = "application/scim+json";
/// What rosterd accepts back: SCIM's media type, with plain JSON accepted too.
pub const ACCEPTED: &str = "application/scim+json, application/json";

/// A SCIM JSON answer, with the resource's ETag when there is one: what the SCIM emulator
/// and the push source's service provider send.
pub fn answer_json(status: axum::http::StatusCode, body: &Value, etag: Option<String>) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let mut response = (status, [(header::CONTENT_TYPE, MEDIA_TYPE)], body.to_string()).into_response();
    if let Some(tag) = etag.and_then(|t| header::HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// Why a SCIM body could not be read. The texts are the ones operators see in messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not JSON ({error}): {snippet}")]
    NotJson { error: String, snippet: String },
    #[error("not a SCIM ListResponse (no totalResults): {snippet}")]
    NotListResponse { snippet: String },
    #[error("Resources is not a list")]
    ResourcesNotList,
    #[error("no Resources list although totalResults is {total}")]
    NoResources { total: u64 },
}

/// Lower-case every key, at every depth.
pub fn lowercase_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k.to_lowercase(), lowercase_keys(v))).collect())
        }
        Value::Array(list) => Value::Array(list.into_iter().map(lowercase_keys).collect()),
        other => other,
    }
}

/// The query of one listing page: `startIndex=S&count=N`.
pub fn page_query(start: u64, count: u32) -> String {
    format!("startIndex={start}&count={count}")
}

/// A filter as a query value. Spaces become `%20`: `+` means a space only to form decoders,
/// and not every server is one.
pub fn encode_filter(filter: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    encoded.replace('+', "%20")
}

/// Where a listing page is, for messages: `Users page 3 (startIndex=101)`.
pub fn page_label(resource: &str, page: u32, start: u64) -> String {
    format!("{resource} page {page} (startIndex={start})")
}

/// One ListResponse page, its keys lower-cased.
pub struct ListResponse {
    pub total: u64,
    /// The `startIndex` the server says the page starts at, when it says one.
    pub start: Option<u64>,
    resources: Option<Value>,
}

impl ListResponse {
    /// Parse a body; text quoted from it is redacted with `redactor` before it is cut.
    pub fn parse(body: &[u8], redactor: &Redactor) -> Result<ListResponse, WireError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| WireError::NotJson { error: e.to_string(), snippet: redactor.snippet(body) })?;
        let mut value = lowercase_keys(value);
        let total = value
            .get("totalresults")
            .and_then(Value::as_u64)
            .ok_or_else(|| WireError::NotListResponse { snippet: redactor.snippet(body) })?;
        let start = value.get("startindex").and_then(Value::as_u64);
        Ok(ListResponse { total, start, resources: value.get_mut("resources").map(Value::take) })
    }

    /// The resources. RFC 7644 §3.4.2: `Resources` may be left out of an answer that holds
    /// none; whether the page then adds up is the pager's question.
    pub fn resources(self) -> Result<Vec<Value>, WireError> {
        match self.resources {
            Some(Value::Array(list)) => Ok(list),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(WireError::ResourcesNotList),
        }
    }

    /// The resources, where a missing list is accepted only when `totalResults` is 0.
    pub fn resources_for_total(self) -> Result<Vec<Value>, WireError> {
        match self.resources {
            Some(Value::Array(list)) => Ok(list),
            None | Some(Value::Null) if self.total == 0 => Ok(Vec::new()),
            _ => Err(WireError::NoResources { total: self.total }),
        }
    }
}

/// A SCIM User resource (RFC 7643 §4.1, with the enterprise extension), keys lower-cased.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct User {
    pub id: Option<CompactString>,
    #[serde(rename = "externalid")]
    pub external_id: Option<CompactString>,
    #[serde(rename = "username")]
    pub user_name: Option<CompactString>,
    pub name: Option<Name>,
    #[serde(rename = "displayname")]
    pub display_name: Option<CompactString>,
    pub emails: Option<Vec<Email>>,
    pub active: Option<bool>,
    pub groups: Option<Vec<Ref>>,
    pub title: Option<CompactString>,
    #[serde(rename = "nickname")]
    pub nick_name: Option<CompactString>,
    #[serde(rename = "usertype")]
    pub user_type: Option<CompactString>,
    pub locale: Option<CompactString>,
    #[serde(rename = "phonenumbers")]
    pub phone_numbers: Option<Vec<Email>>,
    pub schemas: Option<Vec<CompactString>>,
    /// The enterprise extension, its URN lower-cased like every key once a resource is read.
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user")]
    pub enterprise: Option<Enterprise>,
    pub meta: Option<Meta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Name {
    #[serde(rename = "givenname")]
    pub given_name: Option<CompactString>,
    #[serde(rename = "familyname")]
    pub family_name: Option<CompactString>,
    #[serde(rename = "middlename")]
    pub middle_name: Option<CompactString>,
}

/// A multi-valued entry with `value`, `type` and `primary` (`emails[]`, `phoneNumbers[]`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Email {
    pub value: Option<CompactString>,
    #[serde(rename = "type")]
    pub kind: Option<CompactString>,
    pub primary: Option<bool>,
}

/// A multi-valued reference (`groups[]`, `members[]`, `manager`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Ref {
    pub value: Option<CompactString>,
    pub display: Option<CompactString>,
    #[serde(rename = "type")]
    pub kind: Option<CompactString>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Enterprise {
    #[serde(rename = "employeenumber")]
    pub employee_number: Option<CompactString>,
    pub department: Option<CompactString>,
    pub organization: Option<CompactString>,
    pub manager: Option<Ref>,
    #[serde(rename = "costcenter")]
    pub cost_center: Option<CompactString>,
    pub division: Option<CompactString>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Meta {
    #[serde(rename = "lastmodified")]
    pub last_modified: Option<CompactString>,
    pub created: Option<CompactString>,
    #[serde(rename = "resourcetype")]
    pub resource_type: Option<CompactString>,
    /// Kept raw: only a writer uses it (for `If-Match`), see [`Meta::version`].
    version: Option<Value>,
}

impl Meta {
    /// `meta.version`; a value that is not a string is an error, as for any typed attribute.
    pub fn version(self) -> Result<Option<String>, serde_json::Error> {
        self.version.map(serde_json::from_value::<String>).transpose()
    }
}

impl User {
    /// Parse a resource whose keys are already lower-cased, reading every attribute.
    pub fn from_lowercased(resource: Value) -> Result<User, serde_json::Error> {
        serde_json::from_value(resource)
    }

    /// Parse a resource (any key case) reading only the core attributes a target compares:
    /// `id`, `userName`, `externalId`, `name.givenName`/`familyName`, `displayName`,
    /// `emails[].value`/`primary`, `active` and `meta.version`. Attributes a target never
    /// reads are dropped before parsing, so a malformed one cannot fail the resource.
    pub fn core(resource: Value) -> Result<User, serde_json::Error> {
        let mut value = lowercase_keys(resource);
        if let Value::Object(map) = &mut value {
            let core = ["id", "username", "externalid", "name", "displayname", "emails", "active", "meta"];
            map.retain(|k, _| core.contains(&k.as_str()));
            keep_keys(map.get_mut("name"), &["givenname", "familyname"]);
            keep_keys(map.get_mut("meta"), &["version"]);
            if let Some(Value::Array(emails)) = map.get_mut("emails") {
                emails.iter_mut().for_each(|e| keep_keys(Some(e), &["value", "primary"]));
            }
        }
        serde_json::from_value(value)
    }

    /// The primary email, else the first one.
    pub fn primary_email(&self) -> Option<&CompactString> {
        let emails = self.emails.as_deref().unwrap_or_default();
        emails.iter().find(|e| e.primary == Some(true)).or(emails.first()).and_then(|e| e.value.as_ref())
    }
}

/// Keep only `keys` of an object (anything else is left as it is, for serde to judge).
fn keep_keys(value: Option<&mut Value>, keys: &[&str]) {
    if let Some(Value::Object(map)) = value {
        map.retain(|k, _| keys.contains(&k.as_str()));
    }
}

/// Which error bodies have their `detail` quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorBodies {
    /// Any JSON body with a `detail`.
    AnyDetail,
    /// Only a SCIM Error (its schema, or a string `status` as RFC 7644 §3.12 has it).
    ScimOnly,
}

/// The useful part of an error answer: a SCIM Error's `detail` (and `scimType`), quoted, else
/// the start of the body, redacted before anything is cut.
pub fn error_detail(body: &[u8], redactor: &Redactor, quoted: ErrorBodies) -> String {
    let value = serde_json::from_slice::<Value>(body).map(lowercase_keys).unwrap_or(Value::Null);
    let is_scim_error = || {
        let urn = value["schemas"].as_array();
        let named =
            urn.is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(ERROR_URN))));
        named || value["status"].is_string()
    };
    match value["detail"].as_str() {
        Some(detail) if quoted == ErrorBodies::AnyDetail || is_scim_error() => match value["scimtype"].as_str() {
            Some(kind) => format!("SCIM error ({kind}) \"{detail}\""),
            None => format!("SCIM error \"{detail}\""),
        },
        _ if body.is_empty() => "empty answer".into(),
        _ => format!("answer: {}", redactor.snippet(body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_response_reads_in_any_key_case_and_missing_resources_follow_each_rule() {
        let body = br#"{"TOTALRESULTS": 2, "startIndex": 3, "Resources": [{"id": "a"}, {"id": "b"}]}"#;
        let page = ListResponse::parse(body, &Redactor::none()).unwrap();
        assert_eq!((page.total, page.start), (2, Some(3)));
        assert_eq!(page.resources().unwrap().len(), 2);
        let empty = br#"{"totalResults": 4}"#;
        assert!(ListResponse::parse(empty, &Redactor::none()).unwrap().resources().unwrap().is_empty());
        let strict = ListResponse::parse(empty, &Redactor::none()).unwrap().resources_for_total();
        assert_eq!(strict.unwrap_err().to_string(), "no Resources list although totalResults is 4");
        let odd = ListResponse::parse(br#"{"totalResults": 1, "Resources": 5}"#, &Redactor::none()).unwrap();
        assert_eq!(odd.resources().unwrap_err(), WireError::ResourcesNotList);
        let junk = ListResponse::parse(b"{]", &Redactor::none()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(junk.starts_with("not JSON ("), "{junk}");
    }

    #[test]
    fn the_core_read_ignores_malformed_attributes_a_target_never_reads() {
        let resource = json!({"id": "1", "userName": "a", "title": 5, "name": {"givenName": "A", "middleName": 7},
            "emails": [{"value": "x@y", "type": 3}], "meta": {"version": "W/\"1\"", "created": 9}});
        assert!(User::from_lowercased(lowercase_keys(resource.clone())).is_err());
        let user = User::core(resource).unwrap();
        assert_eq!(user.primary_email().map(CompactString::as_str), Some("x@y"));
        assert_eq!(user.meta.unwrap_or_default().version().unwrap().as_deref(), Some("W/\"1\""));
        let bad_version = User::core(json!({"id": "1", "meta": {"version": 5}})).unwrap();
        assert!(bad_version.meta.unwrap_or_default().version().is_err());
    }

    #[test]
    fn error_details_quote_scim_errors_and_cut_the_rest() {
        let plain = br#"{"detail": "no"}"#;
        assert_eq!(error_detail(plain, &Redactor::none(), ErrorBodies::AnyDetail), "SCIM error \"no\"");
        assert!(error_detail(plain, &Redactor::none(), ErrorBodies::ScimOnly).starts_with("answer: "));
        let scim = br#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:error"], "detail": "no", "scimType": "x"}"#;
        assert_eq!(error_detail(scim, &Redactor::none(), ErrorBodies::ScimOnly), "SCIM error (x) \"no\"");
        assert_eq!(error_detail(b"", &Redactor::none(), ErrorBodies::ScimOnly), "empty answer");
        assert_eq!(encode_filter("userName eq \"a b\""), "userName%20eq%20%22a%20b%22");
        assert_eq!(page_query(3, 10), "startIndex=3&count=10");
    }
}
