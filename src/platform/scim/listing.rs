//! Reading Users from a SCIM target: a resource as a `Remote` account, ListResponse pages
//! that must add up, a single user, and the `userName` look-up.

use std::collections::{BTreeMap, HashSet};

use compact_str::CompactString;
use reqwest::Method;
use serde_json::Value;

use super::attributes::Attribute;
use super::wire::{self, ListResponse};
use super::{filter_literal, ScimTargetConnector, CREDENTIALS_CHECK};
use crate::model::{normalize_key, Account, AccountStatus};
use crate::platform::redact::Redactor;
use crate::platform::PlatformError;

/// One user resource as listed: the account, plus its `meta.version` for `If-Match`.
#[derive(Debug, Clone)]
pub(super) struct Remote {
    pub(super) account: Account,
    pub(super) external_id: Option<String>,
    pub(super) version: Option<String>,
}

/// One User resource; a resource without `id` or `userName` is refused.
pub(super) fn parse_user(resource: Value) -> Result<Remote, String> {
    // Only the attributes compared here are parsed (Unknown ones, a `password` or certificate
    // a server wrongly returns, are dropped and never reach an Account).
    let user = wire::User::core(resource).map_err(|e| e.to_string())?;
    let email = user.primary_email().map(|e| e.to_string());
    let version = user.meta.map(wire::Meta::version).transpose().map_err(|e| e.to_string())?.flatten();
    let id = user.id.filter(|i| !i.is_empty()).ok_or("no id")?;
    let user_name = user.user_name.filter(|u| !u.trim().is_empty());
    let user_name = user_name.ok_or_else(|| format!("id \"{id}\": no userName (RFC 7643 makes it required)"))?;
    let name = user.name.unwrap_or_default();
    let mut fields = BTreeMap::new();
    let mut put = |field: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            fields.insert(field.to_string(), v);
        }
    };
    put("userName", Some(user_name.to_string()));
    put("externalId", user.external_id.as_ref().map(CompactString::to_string));
    put("givenName", name.given_name.map(String::from));
    put("familyName", name.family_name.map(String::from));
    put("displayName", user.display_name.map(String::from));
    put("email", email);
    let status = if user.active.unwrap_or(true) { AccountStatus::Active } else { AccountStatus::Inactive };
    let account = Account { id, key: normalize_key(&user_name), fields: fields.into(), role: None, status };
    Ok(Remote { account, external_id: user.external_id.map(String::from), version })
}

/// One User resource with the configured extra attributes among its fields.
pub(super) fn parse_user_with(resource: Value, attributes: &[Attribute]) -> Result<Remote, String> {
    let extra: Vec<(String, String)> =
        attributes.iter().filter_map(|a| Some((a.field.clone(), a.read(&resource)?))).collect();
    let mut remote = parse_user(resource)?;
    for (field, value) in extra {
        remote.account.fields.insert(crate::model::FieldName::new(&field), value.into());
    }
    Ok(remote)
}

/// One ListResponse page.
pub(super) struct Page {
    pub(super) total: u64,
    pub(super) start: Option<u64>,
    pub(super) resources: Vec<Value>,
}

pub(super) fn parse_page(body: &[u8], redactor: &Redactor) -> Result<Page, wire::WireError> {
    let list = ListResponse::parse(body, redactor)?;
    let (total, start) = (list.total, list.start);
    Ok(Page { total, start, resources: list.resources()? })
}

/// A listing being read page by page; any page that does not add up fails it.
#[derive(Default)]
pub(super) struct Listing {
    pub(super) remotes: Vec<Remote>,
    pub(super) ids: HashSet<CompactString>,
    pub(super) total: Option<u64>,
    /// The extra attributes read into each account's fields.
    pub(super) attributes: Vec<Attribute>,
}

impl Listing {
    /// Take one page; the `startIndex` to ask for next, or `None` when the listing is complete.
    pub(super) fn add_page(&mut self, label: &str, start: u64, page: Page) -> Result<Option<u64>, String> {
        if let Some(before) = self.total.filter(|t| *t != page.total) {
            return Err(format!("{label}: totalResults changed from {before} to {} while paging", page.total));
        }
        self.total = Some(page.total);
        if let Some(answered) = page.start.filter(|s| *s != start) {
            return Err(format!("{label}: the answer starts at index {answered}"));
        }
        let held = self.remotes.len() as u64;
        if page.resources.is_empty() {
            return match held >= page.total {
                true => Ok(None),
                false => Err(format!("{label}: empty page after {held} of totalResults {}", page.total)),
            };
        }
        let count = page.resources.len() as u64;
        for (i, resource) in page.resources.into_iter().enumerate() {
            let remote =
                parse_user_with(resource, &self.attributes).map_err(|e| format!("{label}, resource {}: {e}", i + 1))?;
            if !self.ids.insert(remote.account.id.clone()) {
                return Err(format!("{label}: id \"{}\" listed twice", remote.account.id));
            }
            self.remotes.push(remote);
        }
        let more = (self.remotes.len() as u64) < page.total;
        Ok(more.then_some(start + count))
    }

    pub(super) fn finish(self) -> Result<Vec<Remote>, String> {
        let total = self.total.unwrap_or(0);
        match self.remotes.len() as u64 == total {
            true => Ok(self.remotes),
            false => Err(format!("the listing holds {} users but totalResults is {total}", self.remotes.len())),
        }
    }
}

impl ScimTargetConnector {
    // ---- Reading.

    pub(super) async fn fetch_page(&self, label: &str, start: u64) -> Result<Page, PlatformError> {
        let mut url = self.users.clone();
        url.set_query(Some(&wire::page_query(start, self.page_size().await?)));
        let answer = self.call(label, Method::GET, &url, None, None).await;
        let answer = answer.map_err(|e| e.with_credentials_hint(CREDENTIALS_CHECK))?;
        if !answer.status.is_success() {
            return Err(self.failure(label, &answer));
        }
        parse_page(&answer.body, self.http.redactor())
            .map_err(|detail| self.http.malformed("list", format!("{label}: {detail}")))
    }

    /// `GET /Users/{id}`, as the raw resource (PUT sends it back) and as parsed.
    pub(super) async fn read_user(&self, operation: &str, id: &str) -> Result<(Value, Remote), PlatformError> {
        let answer = self.call(operation, Method::GET, &self.user_url(id), None, None).await?;
        let value = self.json_of(operation, &answer)?;
        let remote = parse_user_with(value.clone(), &self.attributes)
            .map_err(|e| self.http.malformed(operation, format!("user {id}: {e}")))?;
        if remote.account.id != id {
            return Err(self
                .http
                .malformed(operation, format!("asked for user {id}, the answer is {}", remote.account.id)));
        }
        self.remember(&remote);
        Ok((value, remote))
    }

    /// `GET /Users?filter=userName eq "..."`: the resource holding this userName, if any.
    pub(super) async fn find_by_user_name(
        &self,
        operation: &str,
        user_name: &str,
    ) -> Result<Option<Remote>, PlatformError> {
        let filter = format!("userName eq {}", filter_literal(user_name));
        let mut url = self.users.clone();
        url.set_query(Some(&format!("filter={}", wire::encode_filter(&filter))));
        let answer = self.call(operation, Method::GET, &url, None, None).await?;
        if !answer.status.is_success() {
            return Err(self.failure(operation, &answer));
        }
        let page = parse_page(&answer.body, self.http.redactor())
            .map_err(|d| self.http.malformed(operation, format!("userName filter: {d}")))?;
        let wanted = normalize_key(user_name);
        let mut found = Vec::new();
        for resource in page.resources {
            let remote = parse_user_with(resource, &self.attributes)
                .map_err(|e| self.http.malformed(operation, format!("userName filter: {e}")))?;
            if remote.account.key == wanted {
                found.push(remote);
            }
        }
        match found.len() {
            0 | 1 => Ok(found.pop()),
            n => Err(self.rejected(operation, format!("{n} resources hold userName {user_name:?}"))),
        }
    }
}
