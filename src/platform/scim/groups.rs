//! Groups on a SCIM target (RFC 7644 `/Groups`): paged listing, `POST` with `externalId`
//! (the source group's key, so rosterd knows its own groups), rename and membership by
//! `PATCH` (`add members`, `remove members[value eq "…"]`), or a whole-resource `PUT`
//! where `ServiceProviderConfig` announces no PATCH, and `DELETE` only when config allows.

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::wire::{self, lowercase_keys};
use super::{filter_literal, parse_page, ScimTargetConnector, PATCH_URN};
use crate::platform::groups::{GroupChange, GroupPolicy, GroupTarget, TargetGroup};
use crate::platform::http::RetryMode;
use crate::platform::PlatformError;

pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Listing pages at most: a server that never ends a listing fails it.
const MAX_PAGES: u32 = 10_000;

/// `groups:` of a SCIM platform, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroups {
    #[serde(default)]
    pub select: Vec<String>,
    pub filter: Option<String>,
    #[serde(default)]
    pub manage: Vec<String>,
    #[serde(default)]
    pub allow_delete: bool,
}

impl RawGroups {
    /// The policy, or (key, message) for what is wrong with it.
    pub fn policy(self) -> Result<GroupPolicy, (String, String)> {
        let filter = match &self.filter {
            Some(text) => Some(
                crate::filter::Filter::parse(text)
                    .map_err(|e| ("groups.filter".to_string(), format!("bad filter {text:?}: {e}")))?,
            ),
            None => None,
        };
        if self.select.is_empty() && filter.is_none() {
            let why = "selects no group: list source groups (ids or names) in groups.select, or give groups.filter";
            return Err(("groups".into(), why.into()));
        }
        Ok(GroupPolicy { select: self.select, filter, manage: self.manage, allow_delete: self.allow_delete })
    }
}

/// A create is not idempotent: retried only when the server cannot have acted on it.
pub fn retry_mode(operation: &str) -> RetryMode {
    match operation {
        "group create" => RetryMode::NotAfterSend,
        other => RetryMode::for_operation(other),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireGroup {
    id: Option<String>,
    #[serde(rename = "displayname")]
    display_name: Option<String>,
    #[serde(rename = "externalid")]
    external_id: Option<String>,
    members: Option<Vec<WireMember>>,
    meta: Option<WireMeta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireMember {
    value: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireMeta {
    version: Option<String>,
}

/// One Group resource; one without `id` or `displayName` is refused (RFC 7643 §4.2).
fn parse_group(resource: Value) -> Result<TargetGroup, String> {
    let group: WireGroup = serde_json::from_value(lowercase_keys(resource)).map_err(|e| e.to_string())?;
    let id = group.id.filter(|i| !i.is_empty()).ok_or("a group with no id")?;
    let display = group.display_name.filter(|d| !d.trim().is_empty());
    let display = display.ok_or_else(|| format!("group {id:?} has no displayName (RFC 7643 makes it required)"))?;
    // Nested groups are not rosterd's: they are neither listed as members nor touched.
    let users = group
        .members
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.kind.as_deref().is_none_or(|k| k.eq_ignore_ascii_case("user")));
    let members: BTreeSet<String> = users.filter_map(|m| m.value.filter(|v| !v.is_empty())).collect();
    let version = group.meta.and_then(|m| m.version);
    Ok(TargetGroup { id, display, external_id: group.external_id.filter(|e| !e.is_empty()), members, version })
}

fn patch_operations(change: &GroupChange) -> Value {
    let mut operations = Vec::new();
    if let Some(name) = &change.rename {
        operations.push(json!({ "op": "replace", "path": "displayName", "value": name }));
    }
    if !change.add.is_empty() {
        let members: Vec<Value> = change.add.iter().map(|id| json!({ "value": id })).collect();
        operations.push(json!({ "op": "add", "path": "members", "value": members }));
    }
    for id in &change.remove {
        operations.push(json!({ "op": "remove", "path": format!("members[value eq {}]", filter_literal(id)) }));
    }
    json!({ "schemas": [PATCH_URN], "Operations": operations })
}

/// The whole group for a PUT: as the server holds it, renamed, members in and out, and
/// every other member (nested groups included) kept.
fn put_group(resource: Value, change: &GroupChange) -> Result<Value, String> {
    let Value::Object(mut map) = resource else { return Err("the group is not a JSON object".into()) };
    map.retain(|k, _| !k.eq_ignore_ascii_case("meta"));
    if let Some(name) = &change.rename {
        *super::entry_ci(&mut map, "displayName") = json!(name);
    }
    let gone: HashSet<&str> = change.remove.iter().map(String::as_str).collect();
    let members = super::entry_ci(&mut map, "members");
    let mut list: Vec<Value> = members.as_array().cloned().unwrap_or_default();
    list.retain(|m| !m["value"].as_str().is_some_and(|v| gone.contains(v)));
    let held: HashSet<String> = list.iter().filter_map(|m| m["value"].as_str().map(str::to_string)).collect();
    list.extend(change.add.iter().filter(|id| !held.contains(*id)).map(|id| json!({ "value": id })));
    *members = Value::Array(list);
    Ok(Value::Object(map))
}

impl ScimTargetConnector {
    fn group_url(&self, id: Option<&str>) -> Url {
        let mut url = self.users.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop().push("Groups");
            if let Some(id) = id {
                segments.push(id);
            }
        }
        url
    }

    async fn group_page(&self, start: u64) -> Result<(u64, Vec<TargetGroup>), PlatformError> {
        let operation = "list groups";
        let mut url = self.group_url(None);
        url.set_query(Some(&wire::page_query(start, self.page_size().await?)));
        let answer = self.call(operation, Method::GET, &url, None, None).await?;
        if !answer.status.is_success() {
            return Err(self.failure(operation, &answer));
        }
        let label = format!("Groups page at startIndex={start}");
        let page = parse_page(&answer.body, self.http.redactor())
            .map_err(|d| self.http.malformed(operation, format!("{label}: {d}")))?;
        if let Some(answered) = page.start.filter(|s| *s != start) {
            return Err(self.http.malformed(operation, format!("{label}: the answer starts at index {answered}")));
        }
        let mut groups = Vec::with_capacity(page.resources.len());
        for (i, resource) in page.resources.into_iter().enumerate() {
            let group = parse_group(resource)
                .map_err(|e| self.http.malformed(operation, format!("{label}, resource {}: {e}", i + 1)))?;
            groups.push(group);
        }
        Ok((page.total, groups))
    }

    /// `GET /Groups/{id}`, as the raw resource (a PUT sends it back).
    async fn read_group(&self, operation: &str, id: &str) -> Result<Value, PlatformError> {
        let answer = self.call(operation, Method::GET, &self.group_url(Some(id)), None, None).await?;
        self.json_of(operation, &answer)
    }

    /// A PUT of the whole group: read it, change it, send it back with its version.
    async fn put_group(&self, group: &TargetGroup, change: &GroupChange, etag: bool) -> Result<(), PlatformError> {
        let operation = "group update";
        let resource = self.read_group(operation, &group.id).await?;
        let version = resource["meta"]["version"].as_str().map(str::to_string).filter(|_| etag);
        let body = put_group(resource, change)
            .map_err(|d| self.http.malformed(operation, format!("group {}: {d}", group.id)))?;
        let url = self.group_url(Some(&group.id));
        let answer = self.call(operation, Method::PUT, &url, Some(&body), version.as_deref()).await?;
        self.group_written(operation, group, &answer)
    }

    fn group_written(&self, operation: &str, group: &TargetGroup, answer: &super::Answer) -> Result<(), PlatformError> {
        match answer.status.as_u16() {
            412 => Err(self.rejected(
                operation,
                format!("group {} changed since it was listed; the next run plans it again", group.id),
            )),
            _ if answer.status.is_success() => Ok(()),
            _ => Err(self.failure(operation, answer)),
        }
    }
}

#[async_trait]
impl GroupTarget for ScimTargetConnector {
    fn policy(&self) -> &GroupPolicy {
        static NONE: std::sync::OnceLock<GroupPolicy> = std::sync::OnceLock::new();
        self.settings.groups.as_ref().unwrap_or_else(|| NONE.get_or_init(GroupPolicy::default))
    }

    /// Every group, paged like users: the listing must add up to `totalResults`.
    async fn list_groups(&self) -> Result<Vec<TargetGroup>, PlatformError> {
        let (mut groups, mut ids, mut start) = (Vec::new(), HashSet::new(), 1u64);
        for _ in 0..MAX_PAGES {
            let (total, page) = self.group_page(start).await?;
            if page.is_empty() {
                return match groups.len() as u64 >= total {
                    true => Ok(groups),
                    false => Err(self.http.malformed(
                        "list groups",
                        format!("empty page after {} of totalResults {total} groups", groups.len()),
                    )),
                };
            }
            start += page.len() as u64;
            for group in page {
                if !ids.insert(group.id.clone()) {
                    return Err(self.http.malformed("list groups", format!("group id {:?} listed twice", group.id)));
                }
                groups.push(group);
            }
            if groups.len() as u64 >= total {
                return Ok(groups);
            }
        }
        Err(self.http.malformed("list groups", format!("the listing did not end within {MAX_PAGES} pages")))
    }

    async fn create_group(
        &self,
        display: &str,
        external_id: &str,
        members: &[String],
    ) -> Result<TargetGroup, PlatformError> {
        let operation = "group create";
        let mut body = Map::new();
        body.insert("schemas".into(), json!([GROUP_URN]));
        body.insert("displayName".into(), json!(display));
        body.insert("externalId".into(), json!(external_id));
        body.insert("members".into(), members.iter().map(|id| json!({ "value": id })).collect());
        let answer =
            self.call(operation, Method::POST, &self.group_url(None), Some(&Value::Object(body)), None).await?;
        let value = self.json_of(operation, &answer)?;
        parse_group(value).map_err(|e| self.http.malformed(operation, format!("the created group: {e}")))
    }

    async fn update_group(&self, group: &TargetGroup, change: &GroupChange) -> Result<(), PlatformError> {
        if change.is_empty() {
            return Ok(());
        }
        let capabilities = self.capabilities().await?;
        if !capabilities.patch {
            return self.put_group(group, change, capabilities.etag).await;
        }
        let operation = "group update";
        let version = group.version.as_deref().filter(|_| capabilities.etag);
        let url = self.group_url(Some(&group.id));
        let answer = self.call(operation, Method::PATCH, &url, Some(&patch_operations(change)), version).await?;
        self.group_written(operation, group, &answer)
    }

    /// `DELETE /Groups/{id}`: only planned for a group rosterd created, with `allow_delete`.
    async fn delete_group(&self, group: &TargetGroup) -> Result<(), PlatformError> {
        let operation = "group delete";
        let answer = self.call(operation, Method::DELETE, &self.group_url(Some(&group.id)), None, None).await?;
        match answer.status.as_u16() {
            // Already gone: what was wanted.
            404 => Ok(()),
            _ if answer.status.is_success() => Ok(()),
            _ => Err(self.failure(operation, &answer)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::http::RetryPolicy;
    use crate::platform::scim::sandbox::{ScimGroup, ScimSandbox, ScimSandboxOptions, ScimUser};
    use crate::platform::scim::ScimTargetSettings;
    use crate::sandbox::faults::{Fault, FaultRule};
    use secrecy::SecretString;

    const TOKEN: &str = "scim-groups-LEAKCHECK-31f0";

    /// An emulator with users u1..u3 and `groups` groups, and a connector paging by 2.
    async fn start(options: ScimSandboxOptions, groups: usize) -> (ScimSandbox, ScimTargetConnector) {
        let options = (1..=3).fold(options.with_token(TOKEN), |o, i| {
            let name = format!("u{i}@x.com");
            o.with_user(ScimUser::new(&name, "G", "F", &name))
        });
        let sandbox = ScimSandbox::start(options).await.unwrap();
        for i in 1..=groups {
            sandbox.insert_group(ScimGroup::new(&format!("G{i}"), &[]));
        }
        let mut settings = ScimTargetSettings::new("scim", sandbox.base_url(), SecretString::from(TOKEN.to_string()));
        settings.connection.per_second = 0.0;
        settings.page_size = Some(2);
        settings.groups = Some(GroupPolicy { select: vec!["G1".into()], ..Default::default() });
        let scim = ScimTargetConnector::new(settings).unwrap().with_retry(RetryPolicy::quick());
        (sandbox, scim)
    }

    fn user_ids(sandbox: &ScimSandbox) -> Vec<String> {
        sandbox.users().into_iter().map(|u| u.id).collect()
    }

    #[tokio::test]
    async fn groups_are_listed_across_pages_and_a_broken_page_fails_the_listing() {
        let (sandbox, scim) = start(ScimSandboxOptions::default(), 5).await;
        let groups = scim.list_groups().await.unwrap();
        assert_eq!(groups.iter().map(|g| g.display.as_str()).collect::<Vec<_>>(), ["G1", "G2", "G3", "G4", "G5"]);
        assert_eq!(sandbox.faults().count("groups list"), 3, "5 groups in pages of 2");
        sandbox.faults().script(FaultRule::on("groups list", Fault::Garbage).nth(2));
        assert!(matches!(scim.list_groups().await, Err(PlatformError::Malformed { .. })));
        sandbox.faults().script(FaultRule::on("groups list", Fault::Truncate).nth(3));
        assert!(matches!(scim.list_groups().await, Err(PlatformError::Malformed { .. })));
    }

    #[tokio::test]
    async fn a_group_is_created_renamed_and_refilled_by_patch_with_if_match_then_deleted() {
        let (sandbox, scim) = start(ScimSandboxOptions::default(), 0).await;
        let users = user_ids(&sandbox);
        let created = scim.create_group("Eng", "src-eng", &users[..2]).await.unwrap();
        assert_eq!((created.external_id.as_deref(), created.members.len()), (Some("src-eng"), 2));
        let change = GroupChange {
            rename: Some("Engineering".into()),
            add: vec![users[2].clone()],
            remove: vec![users[0].clone()],
        };
        scim.update_group(&created, &change).await.unwrap();
        let write = sandbox.last_write().unwrap();
        assert_eq!((write.method.as_str(), write.if_match.as_deref()), ("PATCH", Some("W/\"1\"")));
        let stored = sandbox.group_by_name("Engineering").unwrap();
        assert_eq!(stored.members, users[1..].to_vec());
        // Listed before the change: its version is stale now, and the server says so.
        let stale =
            scim.update_group(&created, &GroupChange { rename: Some("Late".into()), ..Default::default() }).await;
        assert!(
            matches!(stale, Err(PlatformError::Rejected { ref message, .. }) if message.contains("changed since")),
            "{stale:?}"
        );
        scim.delete_group(&created).await.unwrap();
        assert!(sandbox.groups().is_empty());
        scim.delete_group(&created).await.unwrap();
    }

    #[tokio::test]
    async fn without_patch_a_group_is_put_whole_keeping_what_rosterd_does_not_manage() {
        let (sandbox, scim) = start(ScimSandboxOptions::default().without_patch(), 0).await;
        let users = user_ids(&sandbox);
        let nested = sandbox.insert_group(ScimGroup::new("Nested", &[]));
        let outer = sandbox.insert_group(ScimGroup::new("Outer", &[&users[0], &nested.id]));
        let listed = scim.list_groups().await.unwrap().into_iter().find(|g| g.id == outer.id).unwrap();
        assert_eq!(listed.members.len(), 1, "a nested group is not a member rosterd manages");
        let change = GroupChange { rename: None, add: vec![users[1].clone()], remove: vec![users[0].clone()] };
        scim.update_group(&listed, &change).await.unwrap();
        assert_eq!(sandbox.last_write().unwrap().method, "PUT");
        assert_eq!(sandbox.group_by_name("Outer").unwrap().members, [nested.id.clone(), users[1].clone()]);
    }

    #[tokio::test]
    async fn a_refused_create_names_the_reason_and_never_the_token() {
        let (sandbox, scim) = start(ScimSandboxOptions::default(), 1).await;
        let taken = scim.create_group("g1", "src-g1", &[]).await.unwrap_err();
        assert!(
            matches!(taken, PlatformError::Rejected { ref message, .. } if message.contains("uniqueness")),
            "{taken:?}"
        );
        let echo =
            json!({"schemas": [super::super::ERROR_URN], "status": "400", "detail": format!("bad Bearer {TOKEN}")});
        sandbox.faults().script(FaultRule::on(
            "group create",
            Fault::Status { code: 400, retry_after: None, body: echo.to_string() },
        ));
        let error = scim.create_group("New", "src-new", &[]).await.unwrap_err();
        assert!(!format!("{error} {error:?}").contains(TOKEN), "{error}");
        sandbox.faults().script(FaultRule::on("group create", Fault::status(503)).always());
        assert!(scim.create_group("New", "src-new", &[]).await.is_err());
        assert_eq!(sandbox.faults().count("group create"), 3, "a create that reached the server is not sent again");
    }

    #[test]
    fn groups_parse_strictly_and_keep_only_user_members() {
        let group = parse_group(json!({
            "id": "g1", "DisplayName": "Eng", "externalId": "src-1", "meta": {"version": "W/\"3\""},
            "members": [{"value": "u1"}, {"value": "u2", "type": "User"}, {"value": "g9", "type": "Group"}]
        }))
        .unwrap();
        assert_eq!(group.members.iter().collect::<Vec<_>>(), ["u1", "u2"]);
        assert_eq!((group.external_id.as_deref(), group.version.as_deref()), (Some("src-1"), Some("W/\"3\"")));
        assert!(parse_group(json!({"id": "g1"})).unwrap_err().contains("no displayName"));
        assert!(parse_group(json!({"displayName": "x"})).is_err());
        assert!(parse_group(json!("text")).is_err());
    }

    #[test]
    fn a_patch_renames_adds_and_removes_by_value_filter() {
        let change = GroupChange { rename: Some("Ops".into()), add: vec!["u1".into()], remove: vec!["u\"2".into()] };
        let body = patch_operations(&change);
        assert_eq!(body["Operations"][0], json!({"op": "replace", "path": "displayName", "value": "Ops"}));
        assert_eq!(body["Operations"][1], json!({"op": "add", "path": "members", "value": [{"value": "u1"}]}));
        assert_eq!(body["Operations"][2]["path"], "members[value eq \"u\\\"2\"]");
    }

    #[test]
    fn a_put_keeps_nested_groups_and_drops_meta() {
        let held = json!({"id": "g", "displayName": "A", "meta": {"version": "1"},
            "members": [{"value": "u1"}, {"value": "g2", "type": "Group"}, {"value": "u3"}]});
        let change =
            GroupChange { rename: Some("B".into()), add: vec!["u4".into(), "u1".into()], remove: vec!["u3".into()] };
        let body = put_group(held, &change).unwrap();
        assert!(body.get("meta").is_none());
        assert_eq!(body["displayName"], "B");
        let values: Vec<&str> =
            body["members"].as_array().unwrap().iter().filter_map(|m| m["value"].as_str()).collect();
        assert_eq!(values, ["u1", "g2", "u4"]);
    }

    #[test]
    fn a_policy_needs_a_selection_and_a_valid_filter() {
        let raw = RawGroups { select: vec!["Eng".into()], ..Default::default() };
        let policy = raw.policy().unwrap();
        assert!(policy.selects("id-1", "eng") && !policy.selects("id-2", "Sales"));
        assert_eq!(RawGroups::default().policy().unwrap_err().0, "groups");
        let bad = RawGroups { filter: Some("display eq".into()), ..Default::default() };
        assert_eq!(bad.policy().unwrap_err().0, "groups.filter");
        let by_filter = RawGroups { filter: Some("display sw \"app-\"".into()), ..Default::default() };
        assert!(by_filter.policy().unwrap().selects("x", "app-users"));
    }
}
