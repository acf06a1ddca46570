//! Issue 3's acceptance: two real scim2-servers (PyPI), the first the identity source and the
//! second the target (`kind: scim`). Users are created at the target with externalId = the
//! source id, a rename reaches it by PATCH (or PUT with `patch: never`), a leaver becomes
//! `active=false`, and a quiet run writes nothing. A fault proxy in front of the target
//! records every request, so the tests see which methods rosterd sent.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use rosterd::sandbox::proxy::FaultProxy;
use serde_json::{json, Value};
use support::rig::reconcile_in;
use support::scim_server::ScimServer;

const SOURCE_TOKEN: &str = "scim-source-SEEDED-77aa01";
const TARGET_TOKEN: &str = "scim-target-SEEDED-19be42";
const USERS: usize = 30;

fn user_name(i: usize) -> String {
    format!("user{i:02}@acme.example")
}

/// User `i` is active unless i % 10 == 0, and in `app-users` unless i % 3 == 0.
fn in_scope(i: usize) -> bool {
    i % 10 != 0 && i % 3 != 0
}

/// Seed the source; returns the source ids, user 1 first.
async fn seed(source: &ScimServer) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 1..=USERS {
        let name = user_name(i);
        ids.push(source.create_user(&name, &format!("Given{i}"), &format!("Family{i}"), &name, i % 10 != 0).await);
    }
    let members: Vec<String> = (1..=USERS).filter(|i| i % 3 != 0).map(|i| ids[i - 1].clone()).collect();
    source.create_group("app-users", &members).await;
    source.create_group("Finance", &ids[..5]).await;
    ids
}

/// A temp folder with the two tokens and a config reading `source` and writing `target_url`.
fn write_config(dir: &Path, source: &ScimServer, target_url: &url::Url, extra: &str) {
    std::fs::write(dir.join("source-token"), SOURCE_TOKEN).expect("token");
    std::fs::write(dir.join("target-token"), TARGET_TOKEN).expect("token");
    let config = format!(
        r#"state_dir: state
source:
  scim: {{ url: "{}", token_file: source-token, page_size: 10 }}
safety:
  max_removals: {{ count: 10, percent: 50 }}
platforms:
  - name: app
    kind: scim
    base_url: "{target_url}"
    api_key_file: target-token
    page_size: 7
    scope: 'groups.display eq "app-users"'
    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}
{extra}
"#,
        source.base
    );
    std::fs::write(dir.join("rosterd.yaml"), config).expect("config");
}

/// The target's users by userName, read straight from the server.
async fn target_users(target: &ScimServer) -> BTreeMap<String, Value> {
    let page = target.get_json("Users?startIndex=1&count=1000").await;
    let resources = page["Resources"].as_array().cloned().unwrap_or_default();
    resources.into_iter().map(|u| (u["userName"].as_str().expect("a userName").to_string(), u)).collect()
}

/// The write methods the proxy forwarded from request `from` on.
fn writes_since(proxy: &FaultProxy, from: usize) -> Vec<(String, String)> {
    let requests = proxy.requests();
    let writes = requests.into_iter().skip(from).filter(|r| r.method != "GET");
    writes.map(|r| (r.method, r.path)).collect()
}

/// Change a source user's given name, as an administrator of the identity provider would.
async fn rename_at_source(source: &ScimServer, id: &str, given: &str) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{ "op": "replace", "path": "name.givenName", "value": given }],
    });
    source.request(reqwest::Method::PATCH, &format!("Users/{id}"), &body).await;
}

async fn start_pair() -> (ScimServer, ScimServer, Vec<String>, FaultProxy, tempfile::TempDir) {
    let source = ScimServer::start(SOURCE_TOKEN).await;
    let target = ScimServer::start(TARGET_TOKEN).await;
    let ids = seed(&source).await;
    let proxy = FaultProxy::start(target.base.clone()).await.expect("a proxy");
    let dir = tempfile::tempdir().expect("a temp dir");
    (source, target, ids, proxy, dir)
}

#[tokio::test]
async fn a_real_scim_target_converges_from_a_real_scim_source() {
    let (source, target, ids, proxy, dir) = start_pair().await;
    write_config(dir.path(), &source, &proxy.url(), "");

    // First run: the active in-scope users, each with externalId = its source id.
    let (plan, summary) = reconcile_in(dir.path()).await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    let expected: Vec<usize> = (1..=USERS).filter(|i| in_scope(*i)).collect();
    assert_eq!((summary.record.platforms[0].created, summary.record.platforms[0].failed), (expected.len(), 0));
    let held = target_users(&target).await;
    assert_eq!(held.keys().cloned().collect::<Vec<_>>(), expected.iter().map(|i| user_name(*i)).collect::<Vec<_>>());
    for i in &expected {
        let user = &held[&user_name(*i)];
        assert_eq!(user["externalId"].as_str(), Some(ids[i - 1].as_str()), "user {i}");
        assert_eq!(
            (user["active"].as_bool(), user["name"]["givenName"].as_str()),
            (Some(true), Some(format!("Given{i}").as_str()))
        );
        assert_eq!(user["emails"][0]["value"].as_str(), Some(user_name(*i).as_str()));
    }

    // Second run: zero writes.
    let mark = proxy.request_count();
    let (plan, _) = reconcile_in(dir.path()).await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(writes_since(&proxy, mark), []);
    let pages: Vec<String> = proxy.requests()[mark..]
        .iter()
        .filter(|r| r.path == "/Users" && r.query_param("filter").is_none())
        .filter_map(|r| r.query_param("startIndex").map(str::to_string))
        .collect();
    assert_eq!(pages, ["1", "8", "15"], "the target's {} users were read 7 a page", expected.len());

    // A rename at the source reaches the target by one PATCH.
    rename_at_source(&source, &ids[0], "Gwendolyn").await;
    let mark = proxy.request_count();
    let (_, summary) = reconcile_in(dir.path()).await;
    assert_eq!(summary.record.platforms[0].updated, 1);
    let target_id = target_users(&target).await[&user_name(1)]["id"].as_str().unwrap().to_string();
    assert_eq!(writes_since(&proxy, mark), [("PATCH".to_string(), format!("/Users/{target_id}"))]);
    assert_eq!(target_users(&target).await[&user_name(1)]["name"]["givenName"], "Gwendolyn");

    // A leaver at the source: active=false at the target, the resource kept.
    source.patch_user_active(&ids[1], false).await;
    let mark = proxy.request_count();
    let (_, summary) = reconcile_in(dir.path()).await;
    assert_eq!(summary.record.platforms[0].deactivated, 1);
    assert_eq!(writes_since(&proxy, mark).len(), 1);
    let held = target_users(&target).await;
    assert_eq!(held[&user_name(2)]["active"].as_bool(), Some(false));
    assert_eq!(held.values().filter(|u| u["active"] == json!(false)).count(), 1);

    // And quiet again.
    let mark = proxy.request_count();
    let (plan, _) = reconcile_in(dir.path()).await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(writes_since(&proxy, mark), []);
}

#[tokio::test]
async fn with_patch_never_a_real_target_is_updated_and_deactivated_by_put() {
    let (source, target, ids, proxy, dir) = start_pair().await;
    write_config(dir.path(), &source, &proxy.url(), "    patch: never");
    reconcile_in(dir.path()).await;

    rename_at_source(&source, &ids[3], "Quentin").await;
    source.patch_user_active(&ids[4], false).await;
    let mark = proxy.request_count();
    let (_, summary) = reconcile_in(dir.path()).await;
    let app = &summary.record.platforms[0];
    assert_eq!((app.updated, app.deactivated, app.failed), (1, 1, 0));
    let methods: Vec<String> = writes_since(&proxy, mark).into_iter().map(|(m, _)| m).collect();
    assert_eq!(methods, ["PUT", "PUT"]);
    let held = target_users(&target).await;
    assert_eq!(held[&user_name(4)]["name"]["givenName"], "Quentin");
    assert_eq!(held[&user_name(4)]["externalId"].as_str(), Some(ids[3].as_str()), "PUT kept externalId");
    assert_eq!(held[&user_name(5)]["active"].as_bool(), Some(false));

    let mark = proxy.request_count();
    let (plan, _) = reconcile_in(dir.path()).await;
    assert_eq!(plan.change_count(), 0, "{}", plan.to_table());
    assert_eq!(writes_since(&proxy, mark), []);
}
