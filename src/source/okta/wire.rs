//! Okta's wire format as the source reads it: users and groups as listed, the `Link` header
//! that pages them, the error body, and the `X-Rate-Limit-*` headers.

use compact_str::CompactString;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::{Email, Group, Person};

/// One user of `GET /api/v1/users`; `credentials` and `_links` are not read (dropped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OktaUser {
    pub id: String,
    pub status: String,
    #[serde(default, rename = "lastUpdated", skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// The profile's attributes by name (`login`, `email`, `firstName`...); only the ones
    /// the contract maps are read, whatever else an org's schema adds.
    pub profile: serde_json::Map<String, serde_json::Value>,
}

/// One group of `GET /api/v1/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OktaGroup {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub profile: GroupProfile,
    #[serde(default, rename = "lastMembershipUpdated", skip_serializing_if = "Option::is_none")]
    pub last_membership_updated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupProfile {
    pub name: String,
}

/// A member of `GET /api/v1/groups/{id}/users`: only its id is needed.
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    pub id: String,
}

/// Okta's error body: `{"errorCode":"E0000011","errorSummary":"Invalid token provided",...}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaError {
    pub error_code: String,
    pub error_summary: String,
}

impl OktaError {
    pub fn new(code: &str, summary: &str) -> OktaError {
        OktaError { error_code: code.into(), error_summary: summary.into() }
    }

    /// `E0000011 "Invalid token provided"` from an error body; `None` when it is not one.
    pub fn describe(body: &[u8]) -> Option<String> {
        let e: OktaError = serde_json::from_slice(body).ok()?;
        Some(format!("{} {:?}", e.error_code, e.error_summary))
    }
}

impl OktaUser {
    /// A profile attribute as text: absent, null, non-text and blank are all "none".
    pub fn attribute(&self, name: &str) -> Option<CompactString> {
        let value = self.profile.get(name)?.as_str()?.trim();
        (!value.is_empty()).then(|| value.into())
    }

    /// `profile.login`, the user name; every Okta user has one.
    pub fn login(&self) -> Option<CompactString> {
        self.attribute("login")
    }

    /// The person the contract maps this user to, `active` by `is_active(status)`, no groups yet.
    pub fn into_person(self, active: bool) -> Person {
        let mut emails = Vec::new();
        if let Some(value) = self.attribute("email") {
            emails.push(Email { value, kind: Some("work".into()), primary: true });
        }
        if let Some(value) = self.attribute("secondEmail") {
            emails.push(Email { value, kind: Some("other".into()), primary: false });
        }
        let (given, family) =
            (self.attribute("firstName").unwrap_or_default(), self.attribute("lastName").unwrap_or_default());
        let display = self.attribute("displayName").or_else(|| {
            let joined = format!("{given} {family}");
            (!joined.trim().is_empty()).then(|| joined.trim().into())
        });
        Person {
            user_name: self.login().unwrap_or_default(),
            given_name: given,
            family_name: family,
            display_name: display,
            emails,
            active,
            title: self.attribute("title"),
            employee_number: self.attribute("employeeNumber"),
            department: self.attribute("department"),
            manager: self.attribute("managerId"),
            last_modified: self.last_updated.map(Into::into),
            id: self.id.into(),
            ..Person::default()
        }
    }
}

impl OktaGroup {
    /// The group as people carry it: `profile.name` as its display, the id as its value.
    pub fn as_group(&self) -> Group {
        Group::new(self.profile.name.as_str(), Some(self.id.as_str().into()))
    }
}

/// The `rel="next"` target of the answer's `Link` headers (two headers, or one comma-joined).
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let values = headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok());
    values.flat_map(|v| v.split(',')).find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// Why a `next` link is not followed.
pub fn foreign_link(base: &Url, next: &Url) -> Option<String> {
    let same = next.scheme() == base.scheme()
        && next.host_str() == base.host_str()
        && next.port_or_known_default() == base.port_or_known_default();
    (!same).then(|| format!("the next link points to {}://{} instead of the org", next.scheme(), host(next)))
}

fn host(url: &Url) -> String {
    url.host_str().unwrap_or("?").to_string()
}

/// The `X-Rate-Limit-*` headers of an answer, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: u64,
    pub remaining: u64,
    /// When the bucket refills, UTC epoch seconds.
    pub reset: u64,
    /// The answer's `Date`, epoch seconds, when it has one: `reset` is read against it.
    pub date: Option<u64>,
}

impl RateHeaders {
    pub fn read(headers: &HeaderMap) -> Option<RateHeaders> {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        Some(RateHeaders {
            limit: number("x-rate-limit-limit")?,
            remaining: number("x-rate-limit-remaining")?,
            reset: number("x-rate-limit-reset")?,
            date,
        })
    }

    /// Seconds until the bucket refills, by the server's clock when it sent `Date`.
    pub fn until_reset(&self) -> u64 {
        let now = self.date.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        });
        self.reset.saturating_sub(now)
    }
}
