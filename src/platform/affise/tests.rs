//! Unit tests of the Affise connector against its strict emulator.

use std::sync::{Arc, Mutex};

use super::*;
use crate::platform::affise::sandbox::{AffiseSandbox, AffiseSandboxOptions, AffiseUser};
use crate::platform::test_support::{
    account, alex_chen, assert_listing_waits_out, assert_no_change_sends_nothing, assert_only_the_middle_refused,
    assert_secret_hidden, assert_unavailable, change, deactivated, quick, spoilt_listing, started, Call, Leak,
};
use crate::sandbox::faults::{Fault, FaultRule};
use std::collections::HashSet;

/// Distinctive, so a leak anywhere is found by a plain substring search.
const KEY: &str = "af-LEAKCHECK-93c1d7e5a2";
const MANAGER: &str = "ROLE_MANAGER_AFFILIATE,ROLE_SECTION_STATS";

/// What config grants a returning affiliate manager.
fn manager_permissions() -> Permissions {
    let v = json!({"general": {"marketplace": {"level": "read"}},
                   "stats": {"clicks-list": {"level": "read"}, "conversions-export": {"level": "read"}},
                   "users": {"entity-affiliate": {"level": "write"}}});
    v.as_object().unwrap().clone()
}

fn settings_for(sandbox: &AffiseSandbox, key: &str, page_size: u32) -> AffiseSettings {
    let mut settings = AffiseSettings::new("affise", sandbox.base_url(), SecretString::from(key.to_string()));
    quick(&mut settings.connection);
    settings.page_size = page_size;
    settings.permissions = BTreeMap::from([(MANAGER.to_string(), manager_permissions())]);
    settings
}

async fn start(options: AffiseSandboxOptions, page_size: u32) -> (AffiseSandbox, AffiseConnector) {
    let connect = |sandbox: &AffiseSandbox| AffiseConnector::new(settings_for(sandbox, KEY, page_size));
    started(options.with_api_key(KEY), connect, AffiseConnector::with_retry).await
}

fn people(n: usize) -> AffiseSandboxOptions {
    let admin = AffiseUser::new("Api", "Owner", "api.owner@yournetwork.com", &["ROLE_ADMIN"]);
    let roles = ["ROLE_SECTION_STATS", "ROLE_MANAGER_AFFILIATE"];
    let staff =
        (0..n).map(|i| AffiseUser::new("Given", &format!("Family{i}"), &format!("p{i}@yournetwork.com"), &roles));
    AffiseSandboxOptions::default().with_user(admin).with_users(staff)
}

fn desired(email: &str, role: &str) -> DesiredAccount {
    alex_chen(email, role, &["email"])
}

fn routes(sandbox: &AffiseSandbox) -> Vec<&'static str> {
    sandbox.received().iter().map(|r| r.route).collect()
}

fn page_body(users: Value, total_count: u64, page: u64) -> Fault {
    let pagination = json!({"per_page": 2, "total_count": total_count, "page": page});
    Fault::answer(200, json!({"status": 1, "users": users, "pagination": pagination}))
}

fn failure(code: u16, message: &str) -> Fault {
    Fault::answer(code, json!({"status": 2, "message": message}))
}

/// The independent statement of the rule the generator must meet.
fn meets_rule(p: &str) -> bool {
    (8..=30).contains(&p.len())
        && p.bytes().any(|b| b.is_ascii_uppercase())
        && p.bytes().any(|b| b.is_ascii_lowercase())
        && p.bytes().any(|b| b.is_ascii_digit())
        && p.bytes().any(|b| b.is_ascii_punctuation())
        && p.bytes().all(|b| b.is_ascii_graphic())
}

#[test]
fn ten_thousand_generated_passwords_all_meet_the_rule_and_differ() {
    let mut seen = HashSet::new();
    for _ in 0..10_000 {
        let password = generate_password();
        let p = password.expose_secret();
        assert!(meets_rule(p), "{p}");
        assert!(seen.insert(p.to_string()), "a repeated password");
    }
    assert!(format!("{:?}", generate_password()).contains("REDACTED"));
}

#[test]
fn role_rules_take_a_list_or_a_string_and_refuse_unknown_roles() {
    let yaml = |s: &str| serde_yaml::from_str::<serde_yaml::Value>(s).unwrap();
    let none = serde_yaml::Mapping::new();
    let listed = role_value(&yaml("[ROLE_SECTION_STATS, role_manager_affiliate, ROLE_SECTION_STATS]"), &none);
    assert_eq!(listed.unwrap().role, MANAGER);
    assert_eq!(role_value(&yaml("ROLE_ADMIN"), &none).unwrap().role, "ROLE_ADMIN");
    let unknown = role_value(&yaml("[ROLE_ADMIN, ROLE_SUPERUSER]"), &none).unwrap_err();
    assert!(unknown.contains("\"ROLE_SUPERUSER\"") && unknown.contains("ROLE_SECTION_AUTOMATION"), "{unknown}");
    assert!(role_value(&yaml("[]"), &none).is_err());
    assert!(role_value(&yaml("{a: 1}"), &none).is_err());
    let extra: serde_yaml::Mapping = serde_yaml::from_str("campaigns: x").unwrap();
    assert!(role_value(&yaml("ROLE_ADMIN"), &extra).unwrap_err().contains("campaigns"));
}

#[test]
fn options_are_checked_by_key() {
    let problems = |text: &str| check_options(&serde_yaml::from_str(text).unwrap());
    let good = "permissions: { 'ROLE_SECTION_STATS, ROLE_MANAGER_AFFILIATE': { stats: { x: { level: read } } } }";
    assert!(problems(good).is_empty(), "{:?}", problems(good));
    let bad_role = problems("permissions: { ROLE_BOSS: { stats: {} } }");
    assert_eq!(bad_role[0].0, "permissions.ROLE_BOSS");
    let bad_level = problems("permissions: { ROLE_ADMIN: { stats: { clicks-list: { level: all } } } }");
    assert_eq!(bad_level[0].0, "permissions.ROLE_ADMIN.stats.clicks-list.level");
    let twice = problems("permissions: { 'ROLE_ADMIN': {}, 'role_admin': {} }");
    assert!(twice[0].1.contains("configured twice"));
    assert_eq!(problems("permissions_read_path: /3.0/admin/user")[0].0, "permissions_read_path");
    assert_eq!(problems("permissions_field: user..permissions")[0].0, "permissions_field");
    assert_eq!(problems("permission: {}")[0].1.split(',').next().unwrap(), "unknown field `permission`");
}

#[tokio::test]
async fn listing_across_pages_returns_every_account_once_without_user_keys() {
    let (sandbox, affise) = start(people(6), 3).await;
    let accounts = affise.list().await.unwrap();
    assert_eq!(sandbox.list_calls(), 3, "7 users in pages of 3");
    let mut ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, sandbox.users().iter().map(|u| u.id.clone()).collect::<Vec<_>>());
    let pages: Vec<(String, String)> =
        sandbox.list_queries().iter().map(|q| (q["page"].clone(), q["limit"].clone())).collect();
    assert_eq!(pages, [("1".into(), "3".into()), ("2".into(), "3".into()), ("3".into(), "3".into())]);
    let p3 = accounts.iter().find(|a| a.key == "p3@yournetwork.com").unwrap();
    assert_eq!((p3.role.as_deref(), p3.fields["last_name"].as_str()), (Some(MANAGER), "Family3"));
    assert_eq!(p3.fields["type"], "affiliate_manager");
    let printed = format!("{accounts:?}{}", serde_json::to_string(&accounts).unwrap());
    for user in sandbox.users() {
        assert!(!printed.contains(&user.api_key), "a user's api_key was kept");
    }
}

#[tokio::test]
async fn create_sends_the_required_fields_and_a_generated_password_once() {
    let (sandbox, affise) = start(people(1), 500).await;
    let mut wanted = desired("A.Chen@yournetwork.com", "ROLE_SECTION_STATS,ROLE_MANAGER_AFFILIATE");
    wanted.fields.insert("skype".into(), "achen".into());
    let created = affise.create(&wanted).await.unwrap();
    assert_eq!((created.key.as_str(), created.role.as_deref()), ("a.chen@yournetwork.com", Some(MANAGER)));
    let fields = sandbox.last_write_fields().unwrap();
    assert_eq!(fields, ["first_name", "last_name", "email", "skype", "roles[0]", "roles[1]", "password"]);
    let stored = sandbox.user_by_login("a.chen@yournetwork.com").unwrap();
    assert!(meets_rule(&stored.password), "the emulator got a rule-abiding password");
    assert_eq!(sandbox.received_passwords(), std::slice::from_ref(&stored.password));
    assert!(!format!("{created:?}{affise:?}").contains(&stored.password));
    assert_eq!(account(&affise, "a.chen@yournetwork.com").await, created);
}

#[tokio::test]
async fn create_refuses_a_person_without_roles_or_names_before_sending() {
    let (sandbox, affise) = start(people(0), 500).await;
    let mut no_role = desired("x@yournetwork.com", MANAGER);
    no_role.role = None;
    let mut no_name = desired("y@yournetwork.com", MANAGER);
    no_name.fields.remove("last_name");
    for d in [no_role, no_name, desired("z@yournetwork.com", "ROLE_BOSS")] {
        assert!(matches!(affise.create(&d).await, Err(PlatformError::Unsupported { .. })));
    }
    assert_eq!(sandbox.write_calls(), 0);
}

#[tokio::test]
async fn update_sends_only_the_changed_fields() {
    let (sandbox, affise) = start(people(2), 500).await;
    let p1 = account(&affise, "p1@yournetwork.com").await;
    affise.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
    assert_eq!(sandbox.last_write_fields().unwrap(), ["last_name"]);
    affise
        .update(&p1, &[change(ROLE_FIELD, "ROLE_SECTION_OFFER,ROLE_ADMIN"), change("work_hours", "9-5")])
        .await
        .unwrap();
    assert_eq!(sandbox.last_write_fields().unwrap(), ["roles[0]", "roles[1]", "work_hours"]);
    let stored = sandbox.user_by_login("p1@yournetwork.com").unwrap();
    assert_eq!(stored.roles, ["ROLE_ADMIN", "ROLE_SECTION_OFFER"]);
    assert_eq!((stored.last_name.as_str(), stored.first_name.as_str()), ("Okafor", "Given"));
    let cleared = FieldChange { field: "work_hours".into(), before: Some("9-5".into()), after: None };
    affise.update(&p1, &[cleared]).await.unwrap();
    assert_eq!(sandbox.user_by_login("p1@yournetwork.com").unwrap().work_hours, None);
    assert_no_change_sends_nothing(&affise, &p1, || sandbox.write_calls()).await;
    let writes = sandbox.write_calls();
    for bad in
        [change("title", "Boss"), change("status", "inactive"), FieldChange { after: None, ..change("email", "") }]
    {
        assert!(matches!(affise.update(&p1, &[bad]).await, Err(PlatformError::Unsupported { .. })));
    }
    assert_eq!(sandbox.write_calls(), writes);
}

#[tokio::test]
async fn the_lock_out_runs_its_three_steps_and_the_user_then_reads_as_inactive() {
    let (sandbox, affise) = start(people(1), 500).await;
    let p0 = account(&affise, "p0@yournetwork.com").await;
    let before = sandbox.user_by_login("p0@yournetwork.com").unwrap();
    assert!(!affise.read_one(&p0.id).await.unwrap().all_denied());
    let (reads, writes) = (sandbox.read_calls(), sandbox.write_calls());
    affise.deactivate(&p0).await.unwrap();
    assert_eq!((sandbox.read_calls() - reads, sandbox.write_calls() - writes), (1, 3));
    assert_eq!(routes(&sandbox), ["permissions", "api_key", "password"]);
    let after = sandbox.user_by_login("p0@yournetwork.com").unwrap();
    assert!(after.all_denied() && after.permissions["users"]["entity-affiliate"] == json!({"level": "deny"}));
    assert_ne!(after.api_key, before.api_key, "the user's key was rotated");
    assert!(meets_rule(&after.password) && after.password != before.password);
    let record = affise.read_one(&p0.id).await.unwrap();
    assert!(record.all_denied());
    assert_eq!(record.account.status, AccountStatus::Inactive, "a locked-out user reads as inactive");
    let traits = affise.traits();
    assert!(traits.status_from_links && traits.can_reactivate);
}

/// "Read one" carrying `permissions` is [inferred]: `permissions_field` moves it.
#[tokio::test]
async fn the_permissions_field_is_configurable() {
    let (sandbox, affise) = start(people(1), 500).await;
    let p0 = account(&affise, "p0@yournetwork.com").await;
    let denied = json!({"users": {"entity-affiliate": {"level": "deny"}}});
    let user = json!({"id": p0.id.as_str(), "email": "p0@yournetwork.com", "rights": denied});
    let body = json!({"status": 1, "user": user}).to_string();
    let answer = Fault::answer(200, body);
    sandbox.faults().script(FaultRule::on("read", answer.clone()));
    match affise.read_one(&p0.id).await {
        Err(PlatformError::Malformed { detail, .. }) => {
            assert!(detail.contains("no permissions object at user.permissions"))
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    let mut settings = settings_for(&sandbox, KEY, 500);
    settings.permissions_field = "user.rights".into();
    let moved = AffiseConnector::new(settings).unwrap();
    sandbox.faults().script(FaultRule::on("read", answer));
    let record = moved.read_one(&p0.id).await.unwrap();
    assert!(record.all_denied() && record.account.status == AccountStatus::Inactive);
}

#[tokio::test]
async fn each_lock_out_step_is_retried_on_its_own_and_a_failed_step_stops_the_rest() {
    let (sandbox, affise) = start(people(2), 500).await;
    let p0 = account(&affise, "p0@yournetwork.com").await;
    sandbox.faults().script(FaultRule::on("api_key", Fault::status(503)));
    affise.deactivate(&p0).await.unwrap();
    let counts = |s: &AffiseSandbox| ["permissions", "api_key", "password"].map(|r| s.faults().count(r));
    assert_eq!(counts(&sandbox), [1, 2, 1], "only the failed step was sent again");
    let p1 = account(&affise, "p1@yournetwork.com").await;
    sandbox.faults().script(FaultRule::on("api_key", Fault::status(503)).always());
    match affise.deactivate(&p1).await {
        Err(PlatformError::Status { status: 503, operation, .. }) => {
            assert!(operation.contains("2/3"), "{operation}")
        }
        other => panic!("expected Status 503, got {other:?}"),
    }
    assert_eq!(counts(&sandbox), [2, 5, 1], "the password step never ran");
}

#[tokio::test]
async fn reactivation_restores_the_mapped_roles_permissions_without_a_password() {
    let (sandbox, affise) = start(people(1), 500).await;
    let p0 = deactivated(&affise, "p0@yournetwork.com").await;
    let passwords = sandbox.received_passwords().len();
    let before = sandbox.received().len();
    affise.reactivate(&p0, &[change("first_name", "Back")]).await.unwrap();
    let new: Vec<_> = sandbox.received()[before..].iter().map(|r| (r.route, r.fields.clone())).collect();
    assert_eq!(new, [("update", vec!["first_name".to_string()]), ("permissions", vec!["permissions".to_string()])]);
    assert_eq!(sandbox.received_passwords().len(), passwords, "no password is sent");
    let record = affise.read_one(&p0.id).await.unwrap();
    assert_eq!(record.account.status, AccountStatus::Active);
    assert_eq!(record.account.fields["first_name"], "Back");
    for (section, entries) in manager_permissions() {
        for (name, entry) in entries.as_object().unwrap() {
            assert_eq!(record.permissions[&section][name]["level"], entry["level"], "{section}.{name}");
        }
    }
}

#[tokio::test]
async fn reactivation_without_permissions_for_the_role_fails_naming_the_key() {
    let (sandbox, affise) = start(people(1), 500).await;
    let p0 = account(&affise, "p0@yournetwork.com").await;
    let writes = sandbox.write_calls();
    match affise.reactivate(&p0, &[change(ROLE_FIELD, "ROLE_MANAGER_SALES")]).await {
        Err(PlatformError::Unsupported { message, .. }) => {
            assert!(message.contains("`permissions` option key \"ROLE_MANAGER_SALES\""), "{message}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(sandbox.write_calls(), writes, "nothing is sent before the permissions are known");
}

#[tokio::test]
async fn a_duplicate_email_is_rejected_on_that_record_only() {
    let (sandbox, affise) = start(people(1), 500).await;
    let emails = ["b@yournetwork.com", "P0@YourNetwork.com", "c@yournetwork.com"];
    assert_only_the_middle_refused(&affise, emails.map(|email| desired(email, MANAGER))).await;
    assert_eq!(sandbox.users().len(), 4);
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_and_an_unknown_id_a_rejection() {
    let (sandbox, affise) = start(people(1), 500).await;
    let p0 = account(&affise, "p0@yournetwork.com").await;
    let wrong = AffiseConnector::new(settings_for(&sandbox, "not-the-key", 500)).unwrap();
    assert!(matches!(wrong.list().await, Err(PlatformError::Auth { .. })));
    assert!(matches!(wrong.deactivate(&p0).await, Err(PlatformError::Auth { .. })));
    let gone = Account { id: "5f17ed6b3e10795affffffff".into(), ..p0.clone() };
    match affise.update(&gone, &[change("first_name", "X")]).await {
        Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "User not found"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let odd = Account { id: "../users".into(), ..p0 };
    assert!(matches!(affise.deactivate(&odd).await, Err(PlatformError::Unsupported { .. })));
    sandbox.faults().script(FaultRule::on("update", failure(422, "work_hours is not valid")));
    let p0 = account(&affise, "p0@yournetwork.com").await;
    let rejected = affise.update(&p0, &[change("work_hours", "always")]).await.unwrap_err();
    assert_eq!(rejected.to_string(), "affise: update refused: work_hours is not valid");
}

#[tokio::test]
async fn a_garbage_page_2_is_malformed_naming_the_page() {
    let (sandbox, affise) = start(people(4), 2).await;
    let detail = spoilt_listing(&affise, sandbox.faults(), Fault::Garbage, 2).await;
    assert!(detail.starts_with("users page 2: not an Affise answer"), "{detail}");
    assert_eq!(sandbox.list_calls(), 2, "no page is skipped past the garbage");
    assert_eq!(
        spoilt_listing(&affise, sandbox.faults(), failure(400, "limit is too large"), 1).await,
        "users page 1: limit is too large"
    );
}

/// A server that serves fewer than `limit` a page says so in `per_page`, and pages by it.
#[tokio::test]
async fn a_capped_page_size_is_paged_by_per_page_and_must_hold() {
    let options = people(8).with_page_cap(crate::sandbox::page_cap::PageCap::Count(3));
    let (sandbox, affise) = start(options, 5).await;
    assert_eq!(affise.list().await.unwrap().len(), 9);
    assert_eq!(sandbox.list_calls(), 3, "9 users in the server's pages of 3");
    assert!(spoilt_listing(&affise, sandbox.faults(), Fault::Truncate, 2)
        .await
        .contains("users page 2: 2 users where 3 were due"));
    let (sandbox, affise) = start(people(4), 1).await;
    let two = json!([{"id": "5f17ed6b3e10795a0000aaaa", "email": "z@x.com"}]);
    assert!(spoilt_listing(&affise, sandbox.faults(), page_body(two, 5, 1), 1)
        .await
        .contains("per_page is 2, where at most the limit of 1"));
}

#[tokio::test]
async fn a_short_page_or_a_moving_total_is_malformed() {
    let (sandbox, affise) = start(people(4), 2).await;
    let detail = spoilt_listing(&affise, sandbox.faults(), Fault::Truncate, 2).await;
    assert_eq!(detail, "users page 2: 1 users where 2 were due (2 of total_count 5 read)");
    assert!(spoilt_listing(&affise, sandbox.faults(), Fault::Truncate, 3)
        .await
        .contains("users page 3: 0 users where 1 were due"));
    let user = |id: &str, email: &str| json!({"id": id, "email": email});
    let later = json!([user("5f17ed6b3e10795a0000aaaa", "z@x.com"), user("5f17ed6b3e10795a0000aaab", "y@x.com")]);
    assert!(spoilt_listing(&affise, sandbox.faults(), page_body(later, 6, 2), 2)
        .await
        .contains("total_count changed from 5 to 6"));
}

#[tokio::test]
async fn records_without_a_hex_id_or_an_email_are_refused() {
    let (sandbox, affise) = start(AffiseSandboxOptions::default(), 2).await;
    let one = json!({"id": "5f17ed6b3e10795a00000001", "email": "a@x.com"});
    let cases = [
        (json!([{"id": 17, "email": "a@x.com"}]), "row 1: invalid type"),
        (json!([{"id": "5f17ed6b3e10795a0000000z", "email": "a@x.com"}]), "is not 24 hex digits"),
        (json!([{"id": "5f17ed6b3e10795a00000001"}]), "missing field `email`"),
        (json!([one, one]), "listed twice"),
    ];
    for (users, expected) in cases {
        let total = users.as_array().unwrap().len() as u64;
        let detail = spoilt_listing(&affise, sandbox.faults(), page_body(users, total, 1), 1).await;
        assert!(detail.contains(expected), "{detail}");
    }
}

#[tokio::test]
async fn a_429_is_retried_and_a_persistent_503_is_a_status_error() {
    let (sandbox, affise) = start(people(2), 500).await;
    assert_listing_waits_out(&affise, sandbox.faults(), FaultRule::on("list", Fault::too_many(1)), 3).await;
    sandbox.faults().script(FaultRule::on("list", Fault::status(503)).always());
    assert_unavailable(affise.list().await);
}

/// Every kind of error, and the connector itself, printed both ways: no key is anywhere.
#[tokio::test]
async fn no_key_appears_in_any_error_or_debug_output() {
    let (sandbox, affise) = start(people(2), 1).await;
    let settings = settings_for(&sandbox, KEY, 1);
    let user_keys: Vec<String> = sandbox.users().into_iter().map(|u| u.api_key).collect();
    let p0 = account(&affise, "p0@yournetwork.com").await;
    let create = affise.create(&desired("p1@yournetwork.com", MANAGER)).await;
    let refused =
        vec![create.unwrap_err(), affise.reactivate(&p0, &[change(ROLE_FIELD, "ROLE_ADMIN")]).await.unwrap_err()];
    // A cut-short page holding a user's key must not quote it.
    let user_key = sandbox.user_by_login("p0@yournetwork.com").unwrap().api_key;
    let cut = format!("{{\"status\":1,\"users\":[{{\"id\":\"{}\",\"api_key\":\"{user_key}\"", p0.id);
    let echo = FaultRule::on("update", failure(400, &format!("Bad request from key {KEY}")));
    let leak = Leak::new("p0@yournetwork.com", echo, change("last_name", "X"), "read", Call::List);
    let wrong = AffiseConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
    let leak = leak.with_bad_page(FaultRule::on("list", Fault::answer(200, cut)));
    let errors = leak.errors(sandbox, [&affise, &wrong], refused).await;
    assert_secret_hidden(KEY, &errors, &affise, &settings);
    for error in &errors {
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(user_keys.iter().all(|k| !text.contains(k.as_str())), "a user's key leaked: {text}");
        }
    }
    assert!(errors[0].to_string().contains("cut-short or invalid JSON"), "{}", errors[0]);
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn generated_passwords_reach_no_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (sandbox, affise) = start(people(1), 500).await;
    let created = affise.create(&desired("new@yournetwork.com", MANAGER)).await.unwrap();
    affise.deactivate(&created).await.unwrap();
    sandbox.faults().script(FaultRule::on("password", Fault::status(503)).always());
    assert!(affise.deactivate(&created).await.is_err());
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("transient failure, retrying"), "the subscriber saw the run: {logs}");
    let passwords = sandbox.received_passwords();
    assert_eq!(passwords.len(), 2, "create and a lock-out; the failing attempts never reached the handler");
    for p in &passwords {
        assert!(!logs.contains(p.as_str()), "a password was logged");
    }
}
