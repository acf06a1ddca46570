//! Unit tests of the SCIM target connector against its strict emulator.

use super::*;
use crate::model::{normalize_key, AccountStatus, ROLE_FIELD};
use crate::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions, ScimUser};
use crate::platform::test_support::{
    account, assert_no_change_sends_nothing, assert_secret_hidden, assert_unavailable, deactivated,
    garbage_then_truncated, quick, rejected_message, spoilt_listing, started, Call, Leak,
};
use crate::sandbox::faults::{Fault, FaultRule};
use serde_json::json;

/// Distinctive, so a leak anywhere is found by a plain substring search.
const TOKEN: &str = "scim-LEAKCHECK-4be01f9c77";

fn settings_for(sandbox: &ScimSandbox, token: &str, page_size: u32) -> ScimTargetSettings {
    let mut settings = ScimTargetSettings::new("scim", sandbox.base_url(), SecretString::from(token.to_string()));
    quick(&mut settings.connection);
    settings.page_size = Some(page_size);
    settings
}

async fn start(options: ScimSandboxOptions, page_size: u32) -> (ScimSandbox, ScimTargetConnector) {
    let connect = |sandbox: &ScimSandbox| ScimTargetConnector::new(settings_for(sandbox, TOKEN, page_size));
    started(options.with_token(TOKEN), connect, ScimTargetConnector::with_retry).await
}

fn people(n: usize) -> ScimSandboxOptions {
    let people = (0..n).map(|i| {
        let name = format!("p{i}@acme.example");
        ScimUser::new(&name, "Given", &format!("Family{i}"), &name).with_external_id(&format!("src-{i}"))
    });
    ScimSandboxOptions::default().with_users(people)
}

fn desired(user_name: &str, external_id: &str) -> DesiredAccount {
    DesiredAccount {
        person_id: external_id.into(),
        label: user_name.into(),
        key: normalize_key(user_name),
        fields: crate::model::Fields::from([
            ("userName".to_string(), user_name.to_string()),
            ("externalId".to_string(), external_id.to_string()),
            ("givenName".to_string(), "Alex".to_string()),
            ("familyName".to_string(), "Chen".to_string()),
            ("email".to_string(), user_name.to_lowercase()),
        ]),
        role: None,
    }
}

fn change(field: &str, before: Option<&str>, after: &str) -> FieldChange {
    FieldChange { field: field.into(), before: before.map(str::to_string), after: Some(after.into()) }
}

fn page_body(resources: Value, total: u64, start: u64) -> Fault {
    Fault::answer(
        200,
        json!({"schemas": [LIST_URN], "totalResults": total, "startIndex": start, "Resources": resources}),
    )
}

#[tokio::test]
async fn listing_across_pages_returns_every_user_once_with_its_fields() {
    let (sandbox, scim) = start(people(7), 3).await;
    let accounts = scim.list().await.unwrap();
    assert_eq!(sandbox.list_calls(), 3, "7 users in pages of 3");
    let starts: Vec<String> = sandbox.list_queries().iter().map(|q| q["startIndex"].clone()).collect();
    assert_eq!(starts, ["1", "4", "7"]);
    assert!(sandbox.list_queries().iter().all(|q| q["count"] == "3"));
    let ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
    assert_eq!(ids, sandbox.users().into_iter().map(|u| u.id).collect::<Vec<_>>());
    let p3 = &accounts[3];
    assert_eq!(p3.key, "p3@acme.example");
    assert_eq!(p3.status, AccountStatus::Active);
    let fields: Vec<(&str, &str)> = p3.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        fields,
        [
            ("email", "p3@acme.example"),
            ("externalId", "src-3"),
            ("familyName", "Family3"),
            ("givenName", "Given"),
            ("userName", "p3@acme.example")
        ]
    );
}

#[tokio::test]
async fn a_server_that_caps_count_is_paged_by_what_it_returned() {
    let (sandbox, scim) = start(people(7).with_max_results(2), 5).await;
    assert_eq!(scim.list().await.unwrap().len(), 7);
    let starts: Vec<String> = sandbox.list_queries().iter().map(|q| q["startIndex"].clone()).collect();
    assert_eq!(starts, ["1", "3", "5", "7"]);
}

#[tokio::test]
async fn without_a_page_size_pages_are_as_large_as_the_server_announces() {
    let sandbox = ScimSandbox::start(people(7).with_max_results(4).with_token(TOKEN)).await.unwrap();
    let mut settings = settings_for(&sandbox, TOKEN, 1);
    settings.page_size = None;
    let scim = ScimTargetConnector::new(settings).unwrap();
    scim.prepare().await.unwrap();
    assert_eq!(scim.list().await.unwrap().len(), 7);
    assert!(sandbox.list_queries().iter().all(|q| q["count"] == "4"), "{:?}", sandbox.list_queries());
    assert_eq!(sandbox.list_calls(), 2, "7 users in pages of 4");
    assert_eq!(sandbox.faults().count("config"), 1, "one discovery read serves the run");
}

#[tokio::test]
async fn create_sends_the_resource_with_external_id_and_active() {
    let (sandbox, scim) = start(people(1), 10).await;
    let created = scim.create(&desired("A.Chen@acme.example", "src-9")).await.unwrap();
    assert_eq!((created.key.as_str(), created.status), ("a.chen@acme.example", AccountStatus::Active));
    let write = sandbox.last_write().unwrap();
    assert_eq!(write.method, "POST");
    let mut keys: Vec<&String> = write.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["active", "emails", "externalId", "name", "schemas", "userName"]);
    assert_eq!(write.body["emails"], json!([{"value": "a.chen@acme.example", "type": "work", "primary": true}]));
    let stored = sandbox.user_by_login("a.chen@acme.example").unwrap();
    assert_eq!((stored.external_id.as_deref(), stored.given_name.as_deref()), (Some("src-9"), Some("Alex")));
    assert_eq!(account(&scim, "a.chen@acme.example").await, created);
}

#[tokio::test]
async fn update_patches_only_the_changed_attributes_with_if_match() {
    let (sandbox, scim) = start(people(2), 10).await;
    scim.prepare().await.unwrap();
    let p1 = account(&scim, "p1@acme.example").await;
    let version = sandbox.user(&p1.id).unwrap().etag();
    scim.update(&p1, &[change("givenName", Some("Given"), "Gina")]).await.unwrap();
    let write = sandbox.last_write().unwrap();
    assert_eq!((write.method.as_str(), write.patch_paths()), ("PATCH", vec!["name.givenName".to_string()]));
    assert_eq!(write.if_match, Some(version));
    assert_eq!(write.body["Operations"][0], json!({"op": "replace", "path": "name.givenName", "value": "Gina"}));
    let stored = sandbox.user(&p1.id).unwrap();
    assert_eq!((stored.given_name.as_deref(), stored.family_name.as_deref()), (Some("Gina"), Some("Family1")));
    assert_no_change_sends_nothing(&scim, &p1, || sandbox.write_calls()).await;
}

#[tokio::test]
async fn without_patch_announced_an_update_puts_the_whole_resource() {
    let (sandbox, scim) = start(people(2).without_patch(), 10).await;
    scim.prepare().await.unwrap();
    assert_eq!(scim.capabilities().await.unwrap(), Capabilities { patch: false, etag: true });
    let p0 = account(&scim, "p0@acme.example").await;
    scim.update(&p0, &[change("email", Some("p0@acme.example"), "p0.new@acme.example")]).await.unwrap();
    let write = sandbox.last_write().unwrap();
    assert_eq!(write.method, "PUT");
    assert_eq!(write.if_match, Some("W/\"1\"".to_string()));
    assert!(write.body.get("meta").is_none(), "meta is read-only");
    let stored = sandbox.user(&p0.id).unwrap();
    assert_eq!(stored.email(), Some("p0.new@acme.example"));
    assert_eq!(stored.family_name.as_deref(), Some("Family0"), "the rest of the resource is kept");
    assert_eq!(stored.external_id.as_deref(), Some("src-0"));
    assert!(sandbox.writes().iter().all(|w| w.method != "PATCH"));
}

#[tokio::test]
async fn deactivate_sets_active_false_and_reactivate_restores_it_with_changes_in_one_call() {
    let (sandbox, scim) = start(people(1), 10).await;
    let p0 = deactivated(&scim, "p0@acme.example").await;
    let write = sandbox.last_write().unwrap();
    assert_eq!(write.body["Operations"], json!([{"op": "replace", "path": "active", "value": false}]));
    let off = account(&scim, "p0@acme.example").await;
    assert_eq!(off.status, AccountStatus::Inactive);
    let writes = sandbox.write_calls();
    scim.reactivate(&off, &[change("familyName", Some("Family0"), "Okafor")]).await.unwrap();
    assert_eq!(sandbox.write_calls(), writes + 1);
    assert_eq!(sandbox.last_write().unwrap().patch_paths(), ["name.familyName", "active"]);
    let back = sandbox.user(&p0.id).unwrap();
    assert_eq!((back.active, back.family_name.as_deref()), (true, Some("Okafor")));
}

#[tokio::test]
async fn deactivate_by_put_when_patch_is_not_announced() {
    let (sandbox, scim) = start(people(1).without_patch(), 10).await;
    let p0 = deactivated(&scim, "p0@acme.example").await;
    assert_eq!(sandbox.last_write().unwrap().method, "PUT");
    assert!(!sandbox.user(&p0.id).unwrap().active);
}

#[tokio::test]
async fn a_409_on_create_links_the_resource_when_its_external_id_matches_or_is_absent() {
    let options = people(0)
        .with_user(ScimUser::new("mine@acme.example", "A", "B", "mine@acme.example").with_external_id("src-1"))
        .with_user(ScimUser::new("bare@acme.example", "A", "B", "bare@acme.example"))
        .with_user(ScimUser::new("theirs@acme.example", "A", "B", "t@acme.example").with_external_id("other"));
    let (sandbox, scim) = start(options, 10).await;
    let linked = scim.create(&desired("MINE@acme.example", "src-1")).await.unwrap();
    assert_eq!(linked.id, sandbox.user_by_login("mine@acme.example").unwrap().id);
    let bare = scim.create(&desired("bare@acme.example", "src-2")).await.unwrap();
    assert_eq!(bare.id, sandbox.user_by_login("bare@acme.example").unwrap().id);
    let message = rejected_message(scim.create(&desired("theirs@acme.example", "src-3")).await);
    assert!(message.contains("externalId \"other\"") && message.contains("a person to resolve"), "{message}");
    assert_eq!(sandbox.users().len(), 3, "nothing was created twice");
    assert_eq!(sandbox.faults().count("find"), 3);
    let lookup = sandbox.list_queries().last().unwrap().clone();
    assert_eq!(lookup["filter"], "userName eq \"theirs@acme.example\"");
}

#[tokio::test]
async fn a_412_rereads_and_retries_once_when_the_change_still_applies() {
    let (sandbox, scim) = start(people(1), 10).await;
    let p0 = account(&scim, "p0@acme.example").await;
    // Another admin edits an attribute rosterd is not changing.
    sandbox.modify(&p0.id, |u| u.display_name = Some("Someone".into()));
    scim.update(&p0, &[change("givenName", Some("Given"), "Gina")]).await.unwrap();
    let patches: Vec<_> = sandbox.writes().into_iter().filter(|w| w.method == "PATCH").collect();
    assert_eq!(patches.len(), 2);
    assert_eq!((patches[0].if_match.as_deref(), patches[1].if_match.as_deref()), (Some("W/\"1\""), Some("W/\"2\"")));
    let stored = sandbox.user(&p0.id).unwrap();
    assert_eq!((stored.given_name.as_deref(), stored.display_name.as_deref()), (Some("Gina"), Some("Someone")));
}

#[tokio::test]
async fn a_412_on_a_field_changed_meanwhile_is_rejected_for_a_new_plan() {
    for options in [people(1), people(1).without_patch()] {
        let (sandbox, scim) = start(options, 10).await;
        let p0 = account(&scim, "p0@acme.example").await;
        sandbox.modify(&p0.id, |u| u.given_name = Some("Greta".into()));
        if !scim.capabilities().await.unwrap().patch {
            // A PUT reads first, so the race must land between its read and its write.
            sandbox.faults().script(FaultRule::on("put", Fault::status(412)));
        }
        let message = rejected_message(scim.update(&p0, &[change("givenName", Some("Given"), "Gina")]).await);
        assert!(message.contains("changed concurrently; re-plan"), "{message}");
        assert_eq!(sandbox.user(&p0.id).unwrap().given_name.as_deref(), Some("Greta"), "nothing overwritten");
    }
}

#[tokio::test]
async fn without_etags_no_if_match_is_sent() {
    let (sandbox, scim) = start(people(1).without_etag(), 10).await;
    deactivated(&scim, "p0@acme.example").await;
    assert_eq!(sandbox.last_write().unwrap().if_match, None);
}

#[tokio::test]
async fn contract_errors_surface_on_their_record() {
    let (sandbox, scim) = start(people(2), 10).await;
    let accounts = scim.list().await.unwrap();
    let gone = Account { id: "u999999".into(), ..accounts[0].clone() };
    assert!(rejected_message(scim.deactivate(&gone).await).contains("not found"));
    let message = rejected_message(scim.update(&accounts[0], &[change("userName", None, "p1@acme.example")]).await);
    assert!(message.contains("uniqueness"), "{message}");
    let writes = sandbox.write_calls();
    for bad in [change(ROLE_FIELD, None, "admin"), change("title", None, "Boss"), change(STATUS_FIELD, None, "gone")] {
        assert!(matches!(scim.update(&accounts[1], &[bad]).await, Err(PlatformError::Unsupported { .. })));
    }
    assert_eq!(sandbox.write_calls(), writes, "nothing unwritable is sent");
    sandbox.faults().script(FaultRule::on("patch", Fault::status(503)).always());
    assert_unavailable(scim.deactivate(&accounts[1]).await);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error() {
    let (sandbox, _) = start(people(1), 10).await;
    let scim = ScimTargetConnector::new(settings_for(&sandbox, "not-the-token", 10)).unwrap();
    assert!(matches!(scim.prepare().await, Err(PlatformError::Auth { .. })));
    assert!(matches!(scim.list().await, Err(PlatformError::Auth { .. })));
}

#[tokio::test]
async fn a_garbage_or_truncated_page_is_malformed_naming_the_page() {
    let (sandbox, scim) = start(people(7), 3).await;
    let [garbage, truncated] = garbage_then_truncated(&scim, sandbox.faults(), 3).await;
    assert!(garbage.starts_with("Users page 2 (startIndex=4): not JSON"), "{garbage}");
    let empty = "Users page 3 (startIndex=7): empty page after 6 of totalResults 7";
    assert!(truncated.contains(empty), "{truncated}");
}

#[tokio::test]
async fn pages_that_do_not_add_up_are_malformed() {
    let (sandbox, scim) = start(people(4), 2).await;
    let user = |id: &str| json!({"id": id, "userName": format!("{id}@x.com")});
    let faults = sandbox.faults();
    assert!(spoilt_listing(&scim, faults, page_body(json!([user("u000001")]), 4, 3), 2)
        .await
        .contains("id \"u000001\" listed twice"));
    assert!(spoilt_listing(&scim, faults, page_body(json!([user("a"), user("b")]), 5, 3), 2)
        .await
        .contains("totalResults changed from 4 to 5"));
    assert!(spoilt_listing(&scim, faults, page_body(json!([user("a")]), 4, 1), 2)
        .await
        .contains("the answer starts at index 1"));
    assert!(spoilt_listing(&scim, faults, page_body(json!([{"id": "x"}]), 1, 1), 1)
        .await
        .contains("resource 1: id \"x\": no userName"));
    assert!(spoilt_listing(&scim, faults, page_body(json!([]), 3, 1), 1)
        .await
        .contains("empty page after 0 of totalResults 3"));
}

#[tokio::test]
async fn the_token_and_returned_passwords_appear_in_no_account_error_or_debug_output() {
    let (sandbox, scim) = start(people(2), 1).await;
    let settings = settings_for(&sandbox, TOKEN, 1);
    // A server that wrongly returns a password with a user: dropped at parse time.
    let leaky = json!([{"id": "z", "userName": "z@x.com", "password": "pw-LEAKCHECK-91", "x509Certificates": [{"value": "MIIC"}]}]);
    sandbox.faults().script(FaultRule::on("list", page_body(leaky, 1, 1)));
    let accounts = scim.list().await.unwrap();
    let text = format!("{accounts:?} {}", serde_json::to_string(&accounts).unwrap());
    assert!(!text.contains("pw-LEAKCHECK") && !text.contains("MIIC"), "{text}");
    let p0 = account(&scim, "p0@acme.example").await;
    let refused = vec![scim.update(&p0, &[change(ROLE_FIELD, None, "admin")]).await.unwrap_err()];
    // A server echoing the token back in a message must not carry it further.
    let echo = json!({"schemas": [ERROR_URN], "status": "400", "detail": format!("bad request from Bearer {TOKEN}")});
    let echo = FaultRule::on("patch", Fault::answer(400, echo));
    let leak = Leak::new("p0@acme.example", echo, change("givenName", None, "X"), "patch", Call::Prepare);
    let wrong = ScimTargetConnector::new(settings_for(&sandbox, &format!("{TOKEN}-old"), 1)).unwrap();
    let errors = leak.errors(sandbox, [&scim, &wrong], refused).await;
    assert_secret_hidden(TOKEN, &errors, &scim, &settings);
}

#[test]
fn endpoints_keep_the_base_path_and_refuse_credentials_in_the_url() {
    let token = || SecretString::from("t".to_string());
    let base = Url::parse("https://app.example/scim/v2/").unwrap();
    let scim = ScimTargetConnector::new(ScimTargetSettings::new("s", base, token())).unwrap();
    assert_eq!(scim.users.as_str(), "https://app.example/scim/v2/Users");
    assert_eq!(scim.user_url("a b").as_str(), "https://app.example/scim/v2/Users/a%20b");
    for bad in ["https://u:p@app.example/scim", "https://app.example/scim?token=x", "ftp://app.example/"] {
        let settings = ScimTargetSettings::new("s", Url::parse(bad).unwrap(), token());
        assert!(matches!(ScimTargetConnector::new(settings), Err(PlatformError::Unsupported { .. })), "{bad}");
    }
}

#[test]
fn options_are_checked_and_roles_refused() {
    let options: serde_yaml::Mapping = serde_yaml::from_str("patch: never\netag: always").unwrap();
    assert!(check_options(&options).is_empty());
    let bad: serde_yaml::Mapping = serde_yaml::from_str("patch: sometimes").unwrap();
    assert_eq!(check_options(&bad)[0].0, "patch");
    assert!(no_roles(&serde_yaml::Value::from("admin"), &serde_yaml::Mapping::new()).is_err());
    assert_eq!(filter_literal("a\"b"), "\"a\\\"b\"");
}
