//! Unit tests of the FileSpin connector against its strict emulator.

use super::*;
use crate::platform::filespin::sandbox::{slow_down, FileSpinSandbox, FileSpinSandboxOptions as Options, FileSpinUser};
use crate::platform::test_support::{
    account, assert_listing_waits_out, assert_secret_hidden, assert_unavailable, change, deactivated, desired_person,
    quick, rejected_message, spoilt_listing, started, Call, Leak,
};
use crate::sandbox::faults::{Fault, FaultRule, LostAs};
use secrecy::SecretString;
use std::collections::HashSet;

/// Distinctive, so a leak anywhere is found by a plain substring search.
const KEY: &str = "fs-LEAKCHECK-5a0c9d71e3";

fn settings_for(sandbox: &FileSpinSandbox, key: &str) -> FileSpinSettings {
    let mut settings = FileSpinSettings::new("filespin", sandbox.base_url(), SecretString::from(key.to_string()));
    quick(&mut settings.connection);
    settings
}

async fn start(options: Options) -> (FileSpinSandbox, FileSpinConnector) {
    let connect = |sandbox: &FileSpinSandbox| FileSpinConnector::new(settings_for(sandbox, KEY));
    started(options.with_api_key(KEY), connect, FileSpinConnector::with_retry).await
}

/// An admin, then `n - 1` creators `p1..`.
fn people(n: usize) -> Options {
    let admin = FileSpinUser::new("Api", "Owner", "owner@assets.example", 1);
    let creators =
        (1..n).map(|i| FileSpinUser::new("Given", &format!("Family{i}"), &format!("p{i}@assets.example"), 3));
    Options::default().with_user(admin).with_users(creators)
}

fn desired(email: &str, role: &str) -> DesiredAccount {
    let fields = [("first_name", "Ana"), ("last_name", "Lima"), ("email", email), ("locale", "pt_BR")];
    desired_person(email, Some(role), &fields)
}

fn page_body(users: Value, total: u64, count: u64) -> Fault {
    Fault::answer(200, json!({"status": "OK", "total_users": total, "count": count, "users": users}))
}

#[tokio::test]
async fn a_listing_of_75_users_takes_exactly_3_calls_of_30() {
    let (sandbox, fs) = start(people(75)).await;
    let accounts = fs.list().await.unwrap();
    assert_eq!(sandbox.list_calls(), 3);
    assert_eq!(accounts.len(), 75);
    let ids: HashSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), 75);
    let p7 = accounts.iter().find(|a| a.key == "p7@assets.example").unwrap();
    assert_eq!((p7.role.as_deref(), p7.status), (Some("3"), AccountStatus::Active));
    assert_eq!((p7.fields["locale"].as_str(), p7.fields["group_asset_access"].as_str()), ("en_US", "true"));
}

#[tokio::test]
async fn the_users_secrets_are_returned_by_filespin_and_kept_nowhere() {
    let (sandbox, fs) = start(people(3)).await;
    let created = fs.create(&desired("ana@assets.example", "CREATOR")).await.unwrap();
    let secrets = sandbox.secrets();
    assert_eq!(secrets.len(), 12);
    let listed = fs.list().await.unwrap();
    let mut printed = format!("{listed:?}{created:?}{fs:?}{}", serde_json::to_string(&listed).unwrap());
    // A record FileSpin garbles must not carry its secrets into the error either.
    let bad = json!([{"id": 7, "email": 42, "enabled": true, "apikey": "ak-SECRET", "access_id": "acc-SECRET",
                      "uploadKey": "up-SECRET"}]);
    sandbox.faults().script(FaultRule::on("list", page_body(bad, 1, 1)));
    printed.push_str(&fs.list().await.unwrap_err().to_string());
    let cut = format!(r#"{{"status":"OK","total_users":1,"count":1,"users":[{{"id":7,"apikey":"{}"#, secrets[0]);
    sandbox.faults().script(FaultRule::on("list", Fault::answer(200, cut)));
    let truncated = fs.list().await.unwrap_err();
    assert!(truncated.to_string().contains("not JSON"), "{truncated}");
    printed.push_str(&format!("{truncated}{truncated:?}"));
    for secret in secrets.iter().map(String::as_str).chain(["ak-SECRET", "acc-SECRET", "up-SECRET"]) {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
}

#[tokio::test]
async fn create_sends_the_contract_fields_and_the_invitation_is_requested() {
    let (sandbox, fs) = start(people(1)).await;
    let created = fs.create(&desired("Ana@Assets.example", "creator")).await.unwrap();
    assert_eq!((created.key.as_str(), created.role.as_deref()), ("ana@assets.example", Some("3")));
    let mut fields = sandbox.last_write_fields().unwrap();
    fields.sort();
    assert_eq!(fields, ["email", "first_name", "last_name", "locale", "role_id"]);
    let stored = sandbox.user_by_login("ana@assets.example").unwrap();
    assert_eq!((stored.invite_status.as_str(), stored.role_id, stored.locale.as_str()), ("REQUESTED", 3, "pt_BR"));
    assert_eq!(account(&fs, "ana@assets.example").await, created);
}

#[tokio::test]
async fn update_sends_only_the_changed_fields() {
    let (sandbox, fs) = start(people(3)).await;
    let p1 = account(&fs, "p1@assets.example").await;
    fs.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
    assert_eq!(sandbox.last_write_fields().unwrap(), ["last_name"]);
    fs.update(&p1, &[change(ROLE_FIELD, "4"), change("group_asset_access", "false")]).await.unwrap();
    assert_eq!(
        sandbox.writes().last().unwrap(),
        &json!({"role_id": 4, "group_asset_access": false}).as_object().cloned().unwrap()
    );
    let stored = sandbox.user_by_login("p1@assets.example").unwrap();
    assert_eq!((stored.last_name.as_str(), stored.role_id, stored.group_asset_access), ("Okafor", 4, false));
    let writes = sandbox.write_calls();
    fs.update(&p1, &[]).await.unwrap();
    assert!(matches!(
        fs.update(&p1, &[change("group_asset_access", "yes")]).await,
        Err(PlatformError::Unsupported { .. })
    ));
    assert_eq!(sandbox.write_calls(), writes, "nothing to change or nothing valid, nothing sent");
}

#[tokio::test]
async fn deactivate_then_reactivate_with_changes_in_one_write() {
    let (sandbox, fs) = start(people(2)).await;
    let p1 = deactivated(&fs, "p1@assets.example").await;
    assert_eq!(sandbox.writes().last().unwrap(), &json!({"enabled": false}).as_object().cloned().unwrap());
    assert_eq!(account(&fs, "p1@assets.example").await.status, AccountStatus::Inactive);
    let writes = sandbox.write_calls();
    fs.reactivate(&p1, &[change(ROLE_FIELD, "MANAGER"), change("first_name", "Bia")]).await.unwrap();
    assert_eq!(sandbox.write_calls(), writes + 1);
    let mut fields = sandbox.last_write_fields().unwrap();
    fields.sort();
    assert_eq!(fields, ["enabled", "first_name", "role_id"]);
    let back = account(&fs, "p1@assets.example").await;
    assert_eq!(
        (back.status, back.role.as_deref(), back.fields["first_name"].as_str()),
        (AccountStatus::Active, Some("2"), "Bia")
    );
}

#[tokio::test]
async fn contract_errors_surface_on_their_record() {
    let (sandbox, fs) = start(people(2)).await;
    let mut outcomes = Vec::new();
    for email in ["b@assets.example", "P1@Assets.example", "c@assets.example"] {
        outcomes.push(fs.create(&desired(email, "USER")).await);
    }
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
    assert_eq!(rejected_message(outcomes.remove(1)), "A user with email P1@Assets.example already exists");
    let p1 = account(&fs, "p1@assets.example").await;
    assert_eq!(
        rejected_message(fs.update(&p1, &[change("email", "not an email")]).await),
        "not an email is not a valid email address"
    );
    let gone = Account { id: "999".into(), ..p1.clone() };
    assert_eq!(rejected_message(fs.deactivate(&gone).await), "User 999 not found");
    sandbox.faults().script(FaultRule::on("update", Fault::status(503)).always());
    assert_unavailable(fs.update(&p1, &[change("last_name", "Z")]).await);
    assert_eq!(sandbox.users().len(), 4);
}

#[tokio::test]
async fn a_wrong_key_or_a_non_admin_key_is_an_auth_error() {
    let (sandbox, _) = start(people(2)).await;
    let wrong = FileSpinConnector::new(settings_for(&sandbox, "not-the-key")).unwrap();
    match wrong.list().await {
        Err(PlatformError::Auth { message, .. }) => {
            assert_eq!(message, format!("Invalid API key; {CREDENTIALS_CHECK}"))
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    let creator_key = sandbox.user_by_login("p1@assets.example").unwrap().apikey;
    let creator = FileSpinConnector::new(settings_for(&sandbox, &creator_key)).unwrap();
    assert!(matches!(creator.list().await, Err(PlatformError::Auth { .. })));
}

#[tokio::test]
async fn a_slow_down_429_is_retried_after_its_delay() {
    let (sandbox, fs) = start(people(31)).await;
    assert_listing_waits_out(&fs, sandbox.faults(), FaultRule::on("list", slow_down(1)).nth(2), 31).await;
    assert_eq!(sandbox.list_calls(), 3);
}

#[tokio::test]
async fn a_garbage_or_truncated_page_is_malformed_naming_the_page() {
    let (sandbox, fs) = start(people(65)).await;
    let detail = spoilt_listing(&fs, sandbox.faults(), Fault::Garbage, 2).await;
    assert!(detail.starts_with("users page at offset 30: not JSON: <html>"), "{detail}");
    assert_eq!(sandbox.list_calls(), 2, "no page is skipped past the garbage");
    assert_eq!(
        spoilt_listing(&fs, sandbox.faults(), Fault::Truncate, 3).await,
        "users page at offset 60: count says 5 but 4 users came"
    );
    let error = json!({"status": "ERROR", "message": "Report server busy"}).to_string();
    assert_eq!(
        spoilt_listing(&fs, sandbox.faults(), Fault::answer(200, error), 1).await,
        "users page at offset 0: Report server busy"
    );
}

#[tokio::test]
async fn pages_that_do_not_add_up_are_malformed() {
    let (sandbox, fs) = start(people(40)).await;
    let one = |id: u64| json!({"id": id, "email": format!("u{id}@x.com"), "enabled": true, "role_id": "3"});
    assert!(spoilt_listing(&fs, sandbox.faults(), page_body(json!([one(1)]), 41, 1), 2)
        .await
        .contains("total_users changed from 40 to 41"));
    assert!(spoilt_listing(&fs, sandbox.faults(), page_body(json!([]), 40, 0), 1)
        .await
        .contains("no users, but total_users is 40"));
    let too_many: Vec<Value> = (1..=31).map(one).collect();
    assert!(spoilt_listing(&fs, sandbox.faults(), page_body(json!(too_many), 31, 31), 1)
        .await
        .contains("more than FileSpin's 30"));
    assert!(spoilt_listing(&fs, sandbox.faults(), page_body(json!([one(1), one(1)]), 2, 2), 1)
        .await
        .contains("user 1 listed twice"));
    sandbox.faults().script(FaultRule::on("list", page_body(json!([one(1)]), 1, 1)));
    assert_eq!(fs.list().await.unwrap()[0].role.as_deref(), Some("3"), "a role_id as text is read");
}

#[tokio::test]
async fn a_lost_answer_on_create_is_not_sent_again_and_leaves_one_account() {
    let (sandbox, fs) = start(people(1)).await;
    sandbox.faults().script(FaultRule::on("create", Fault::LoseAnswer(LostAs::ServerError)));
    let outcome = fs.create(&desired("new@assets.example", "USER")).await;
    assert!(matches!(outcome, Err(PlatformError::Status { status: 500, .. })), "{outcome:?}");
    assert_eq!(sandbox.faults().count("create"), 1, "a create that may have been made is not re-sent");
    assert_eq!(sandbox.users().len(), 2);
}

#[tokio::test]
async fn the_inferred_paths_are_configurable() {
    let (sandbox, _) = start(people(2)).await;
    let mut settings = settings_for(&sandbox, KEY);
    settings.create_path = "/api/v2/user".into();
    let fs = FileSpinConnector::new(settings).unwrap();
    let error = fs.create(&desired("z@assets.example", "USER")).await.unwrap_err();
    assert_eq!(error.to_string(), "filespin: create refused: Not found");
    let mut settings = settings_for(&sandbox, KEY);
    settings.update_path = "/api/v1/user".into();
    assert!(FileSpinConnector::new(settings).is_err(), "an update path without {{id}}");
}

/// A tenant whose ids differ from the built-in guess: `role_ids` decides what is sent and read.
#[tokio::test]
async fn the_role_table_is_configurable() {
    let sandbox = FileSpinSandbox::start(people(1).with_api_key(KEY)).await.unwrap();
    let options: FileSpinOptions =
        serde_yaml::from_str("{ role_ids: { admin: 1, CREATOR: 2, MANAGER: 3, USER: 4 } }").unwrap();
    let mut settings = settings_for(&sandbox, KEY);
    settings.roles = roles_from(&options);
    let fs = FileSpinConnector::new(settings).unwrap();
    let created = fs.create(&desired("ana@assets.example", "creator")).await.unwrap();
    assert_eq!(created.role.as_deref(), Some("2"));
    assert_eq!(sandbox.user_by_login("ana@assets.example").unwrap().role_id, 2, "CREATOR is 2 in this table");
    assert_eq!(fs.known_roles().await.unwrap().unwrap(), ["1", "2", "3", "4"]);
    let extra = serde_yaml::Mapping::new();
    let with = |role: &str, yaml: &str| {
        let options: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
        crate::platform::kind::role_value(&SPEC, &role.into(), &extra, &options).map(|r| r.role)
    };
    assert_eq!(with("Editor", "{ role_ids: { EDITOR: 7, USER: 9 } }").unwrap(), "7");
    assert!(with("creator", "{ role_ids: { EDITOR: 7 } }").unwrap_err().contains("EDITOR (7)"));
    assert_eq!(with("creator", "{}").unwrap(), "3", "the built-in table without role_ids");
    let problems = |yaml: &str| (SPEC.check_options)(&serde_yaml::from_str(yaml).unwrap());
    assert_eq!(
        problems("{ role_ids: { A: 1, B: 1 } }")[0],
        ("role_ids".into(), "two role names have the same role_id".into())
    );
    assert_eq!(problems("{ role_ids: {} }")[0].0, "role_ids");
}

#[test]
fn the_spec_takes_role_names_or_ids_and_checks_options() {
    let role = |v: serde_yaml::Value| (SPEC.role)(&v, &serde_yaml::Mapping::new()).map(|r| r.role);
    assert_eq!(role("creator".into()).unwrap(), "3");
    assert_eq!(role(serde_yaml::Value::Number(1.into())).unwrap(), "1");
    assert_eq!(role("4".into()).unwrap(), "4");
    assert!(role("7".into()).unwrap_err().contains("ADMIN (1), MANAGER (2), CREATOR (3), USER (4)"));
    let options = |yaml: &str| (SPEC.check_options)(&serde_yaml::from_str(yaml).unwrap());
    assert!(options("{ create_path: /api/v1/user, update_path: '/api/v1/user/{id}' }").is_empty());
    assert_eq!(options("{ update_path: /api/v1/user }")[0].0, "update_path");
    assert!(options("{ page_size: 30 }")[0].1.contains("unknown field"));
}

/// Every kind of error, and the connector itself, printed both ways: the key is nowhere.
#[tokio::test]
async fn the_api_key_appears_in_no_error_and_no_debug_output() {
    let (sandbox, fs) = start(people(40)).await;
    let settings = settings_for(&sandbox, KEY);
    let refused = vec![fs.create(&desired("x@assets.example", "OWNER")).await.unwrap_err()];
    let echo = json!({"status": "ERROR", "message": format!("bad request from {KEY}")});
    let echo = FaultRule::on("update", Fault::answer(400, echo));
    let leak = Leak::new("p1@assets.example", echo, change("last_name", "X"), "update", Call::List);
    let wrong = FileSpinConnector::new(settings_for(&sandbox, &format!("{KEY}-old"))).unwrap();
    let errors = leak.errors(sandbox, [&fs, &wrong], refused).await;
    assert_secret_hidden(KEY, &errors, &fs, &settings);
}
