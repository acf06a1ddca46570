//! Unit tests of the AgencyAnalytics connector against its strict emulator.

use super::*;
use crate::platform::agencyanalytics::sandbox::{
    AgencyAnalyticsSandbox, AgencyAnalyticsSandboxOptions as Options, AgencyAnalyticsUser as User,
};
use crate::platform::test_support::{
    account, alex_chen, assert_no_change_sends_nothing, assert_secret_hidden, assert_unavailable, change,
    garbage_then_truncated, malformed_detail, quick, spoilt_listing, started, Call, Leak,
};
use crate::sandbox::faults::{Fault, FaultRule};
use secrecy::SecretString;

/// Distinctive, so a leak anywhere is found by a plain substring search.
const KEY: &str = "aa-LEAKCHECK-93be1f07c2";

fn settings_for(sandbox: &AgencyAnalyticsSandbox, key: &str, page_size: u32) -> AgencyAnalyticsSettings {
    let mut settings =
        AgencyAnalyticsSettings::new("agencyanalytics", sandbox.base_url(), SecretString::from(key.to_string()));
    quick(&mut settings.connection);
    settings.page_size = page_size;
    settings.allow_delete = true;
    settings
}

async fn start(options: Options, page_size: u32) -> (AgencyAnalyticsSandbox, AgencyAnalyticsConnector) {
    let connect =
        |sandbox: &AgencyAnalyticsSandbox| AgencyAnalyticsConnector::new(settings_for(sandbox, KEY, page_size));
    started(options.with_api_key(KEY), connect, AgencyAnalyticsConnector::with_retry).await
}

/// An admin, then `n` staff users `p0..`.
fn people(n: usize) -> Options {
    let admin = User::new("Api", "Owner", "owner@agency.example", "admin");
    let staff = (0..n).map(|i| User::new("Given", &format!("Family{i}"), &format!("p{i}@agency.example"), "staff"));
    Options::default().with_user(admin).with_users(staff)
}

fn desired(email: &str, role: &str) -> DesiredAccount {
    alex_chen(email, role, &["username", "email"])
}

fn body_keys(sandbox: &AgencyAnalyticsSandbox) -> Vec<String> {
    let last = sandbox.writes().pop().unwrap();
    last.body.and_then(|b| b.as_object().map(|o| o.keys().cloned().collect())).unwrap_or_default()
}

fn page_body(data: Value, total_pages: u64, total_records: u64) -> Fault {
    Fault::answer(200, json!({"metadata": {"total_pages": total_pages, "total_records": total_records}, "data": data}))
}

#[tokio::test]
async fn listing_across_pages_returns_every_account_once() {
    let (sandbox, aa) = start(people(6), 3).await;
    let accounts = aa.list().await.unwrap();
    assert_eq!(sandbox.list_calls(), 3, "7 users in pages of 3");
    assert_eq!(accounts.len(), 7);
    let pages: Vec<String> = sandbox.requests().iter().map(|r| format!("{:?}", r.query)).collect();
    assert_eq!(pages[2], r#"[("page", "3"), ("limit", "3")]"#);
    let p4 = accounts.iter().find(|a| a.key == "p4@agency.example").unwrap();
    assert_eq!((p4.role.as_deref(), p4.status), (Some("staff"), AccountStatus::Active));
    assert_eq!(p4.fields["username"], "p4@agency.example");
}

#[tokio::test]
async fn create_sends_a_generated_password_and_asks_for_the_login_mail() {
    let (sandbox, aa) = start(people(0), 50).await;
    let created = aa.create(&desired("A.Chen@agency.example", "Client")).await.unwrap();
    assert_eq!((created.key.as_str(), created.role.as_deref()), ("a.chen@agency.example", Some("client")));
    let mut keys = body_keys(&sandbox);
    keys.sort();
    assert_eq!(keys, ["email", "email_credentials", "first_name", "last_name", "password", "role", "username"]);
    assert!(sandbox.user_by_login("a.chen@agency.example").unwrap().credentials_emailed);
    let password = sandbox.passwords().pop().unwrap();
    assert!(password.len() >= 16, "{} characters", password.len());
    assert!(!format!("{created:?}{aa:?}").contains(&password));
    assert_eq!(account(&aa, "a.chen@agency.example").await, created);
}

#[test]
fn generated_passwords_are_long_mix_every_class_and_differ() {
    let (a, b) = (generate_password(), generate_password());
    let a = a.expose_secret();
    assert_eq!(a.len(), PASSWORD_LEN);
    for class in PASSWORD_CLASSES {
        assert!(a.bytes().any(|c| class.contains(&c)), "{class:?} missing");
    }
    assert_ne!(a, b.expose_secret());
}

#[tokio::test]
async fn update_sends_only_the_changed_fields() {
    let (sandbox, aa) = start(people(2), 50).await;
    let p1 = account(&aa, "p1@agency.example").await;
    aa.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
    assert_eq!(body_keys(&sandbox), ["last_name"]);
    assert_eq!(sandbox.writes().last().unwrap().path, format!("/v3/users/{}", p1.id));
    aa.update(&p1, &[change(ROLE_FIELD, "admin"), change("email", "p1.new@agency.example")]).await.unwrap();
    assert_eq!(body_keys(&sandbox), ["email", "role"]);
    let stored = sandbox.user_by_login("p1@agency.example").unwrap();
    assert_eq!((stored.last_name.as_str(), stored.role.as_str()), ("Okafor", "admin"));
    assert_no_change_sends_nothing(&aa, &p1, || sandbox.write_calls()).await;
}

#[tokio::test]
async fn a_role_change_between_staff_and_client_is_never_sent() {
    let (sandbox, aa) = start(people(1), 50).await;
    let p0 = account(&aa, "p0@agency.example").await;
    match aa.update(&p0, &[change(ROLE_FIELD, "client"), change("first_name", "X")]).await {
        Err(PlatformError::Unsupported { message, .. }) => assert!(message.contains("staff side"), "{message}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(sandbox.writes().is_empty(), "the emulator got no write: {:?}", sandbox.writes());
    assert!(role_change("client", "admin").is_err() && role_change("Staff", "ADMIN").is_ok());
    assert!((aa.traits().role_change)("staff", "client").is_err());
}

#[tokio::test]
async fn removal_deletes_only_where_allowed_and_a_user_already_gone_is_fine() {
    let (sandbox, mut aa) = start(people(1), 50).await;
    let p0 = account(&aa, "p0@agency.example").await;
    aa.settings.allow_delete = false;
    assert_eq!(aa.traits().removals_held, Some(REMOVALS_HELD));
    assert!(matches!(aa.deactivate(&p0).await, Err(PlatformError::Unsupported { .. })));
    assert_eq!(sandbox.write_calls(), 0);
    aa.settings.allow_delete = true;
    let traits = aa.traits();
    assert!((traits.removals_held, traits.can_reactivate, traits.recreate_removed) == (None, false, true));
    aa.deactivate(&p0).await.unwrap();
    let delete = sandbox.writes().pop().unwrap();
    assert_eq!((delete.method.as_str(), delete.path), ("DELETE", format!("/v3/users/{}", p0.id)));
    assert!(sandbox.user_by_login("p0@agency.example").is_none());
    aa.deactivate(&p0).await.unwrap();
    assert!(matches!(aa.reactivate(&p0, &[]).await, Err(PlatformError::Unsupported { .. })));
}

#[tokio::test]
async fn a_duplicate_username_is_rejected_on_that_record_only() {
    let (sandbox, aa) = start(people(1), 50).await;
    let mut outcomes = Vec::new();
    for email in ["b@agency.example", "P0@Agency.example", "c@agency.example"] {
        outcomes.push(aa.create(&desired(email, "staff")).await);
    }
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
    match &outcomes[1] {
        Err(PlatformError::Rejected { message, operation, .. }) => {
            assert_eq!(
                (operation.as_str(), message.as_str()),
                ("create", "The username P0@Agency.example is already taken")
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(sandbox.users().len(), 4);
}

#[tokio::test]
async fn contract_errors_surface_on_their_record() {
    let (sandbox, aa) = start(people(1), 50).await;
    let p0 = account(&aa, "p0@agency.example").await;
    match aa.update(&p0, &[change("email", "not-an-email")]).await {
        Err(PlatformError::Rejected { message, .. }) => {
            assert_eq!(message, "not-an-email is not a valid email address")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let gone = Account { id: "999".into(), ..p0.clone() };
    assert!(matches!(aa.update(&gone, &[change("last_name", "Y")]).await, Err(PlatformError::Rejected { .. })));
    sandbox.faults().script(FaultRule::on("update", Fault::status(503)).always());
    assert_unavailable(aa.update(&p0, &[change("last_name", "Z")]).await);
    assert!(matches!(aa.create(&desired("x@agency.example", "owner")).await, Err(PlatformError::Unsupported { .. })));
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error() {
    let (sandbox, _) = start(people(1), 50).await;
    let aa = AgencyAnalyticsConnector::new(settings_for(&sandbox, "not-the-key", 50)).unwrap();
    match aa.list().await {
        Err(PlatformError::Auth { message, .. }) => {
            assert_eq!(message, format!("Invalid API credentials; {CREDENTIALS_CHECK}"))
        }
        other => panic!("expected Auth, got {other:?}"),
    }
}

#[tokio::test]
async fn a_garbage_or_truncated_page_is_malformed_naming_the_page() {
    let (sandbox, aa) = start(people(5), 2).await;
    let [garbage, truncated] = garbage_then_truncated(&aa, sandbox.faults(), 3).await;
    assert!(garbage.starts_with("users page 2: not JSON"), "{garbage}");
    assert_eq!(truncated, "the listing holds 5 users but total_records is 6");
    let cut = Fault::answer(200, r#"{"metadata":{"total_pages":3,"#);
    assert!(spoilt_listing(&aa, sandbox.faults(), cut, 1).await.starts_with("users page 1: not JSON"));
}

#[tokio::test]
async fn metadata_changing_between_pages_or_bad_records_are_malformed() {
    let (sandbox, aa) = start(people(3), 2).await;
    let later = json!([{"id": 5000, "username": "z@x.com", "role": "staff"}]);
    assert!(spoilt_listing(&aa, sandbox.faults(), page_body(later, 3, 5), 2)
        .await
        .contains("metadata changed from 2 pages / 4 records to 3 / 5"));
    let no_username = json!([{"id": 1, "role": "staff"}]);
    assert!(spoilt_listing(&aa, sandbox.faults(), page_body(no_username, 1, 1), 1)
        .await
        .contains("users page 1, row 1: missing field `username`"));
    let odd_role = json!([{"id": 1, "username": "a@x.com", "role": "owner"}]);
    assert!(spoilt_listing(&aa, sandbox.faults(), page_body(odd_role, 1, 1), 1).await.contains("role \"owner\""));
    let empty_middle = json!([]);
    assert!(spoilt_listing(&aa, sandbox.faults(), page_body(empty_middle, 2, 4), 1)
        .await
        .contains("no users, but total_pages is 2"));
}

#[tokio::test]
async fn the_users_path_is_configurable() {
    let options = people(1).with_users_path("/v4/agency/users");
    let sandbox = AgencyAnalyticsSandbox::start(options.with_api_key(KEY)).await.unwrap();
    let mut settings = settings_for(&sandbox, KEY, 10);
    settings.users_path = "/v4/agency/users".into();
    let aa = AgencyAnalyticsConnector::new(settings).unwrap();
    assert_eq!(aa.list().await.unwrap().len(), 2);
    let v3 = AgencyAnalyticsConnector::new(settings_for(&sandbox, KEY, 10)).unwrap();
    assert!(malformed_detail(v3.list().await).contains("users page 1: Not found"));
}

#[tokio::test]
async fn the_auth_scheme_is_configurable() {
    let sandbox = AgencyAnalyticsSandbox::start(people(1).with_api_key(KEY).with_bearer_auth()).await.unwrap();
    let basic = AgencyAnalyticsConnector::new(settings_for(&sandbox, KEY, 10)).unwrap();
    assert!(matches!(basic.list().await, Err(PlatformError::Auth { .. })), "Basic is refused here");
    let mut settings = settings_for(&sandbox, KEY, 10);
    settings.auth_scheme = AuthScheme::Bearer;
    let bearer = AgencyAnalyticsConnector::new(settings).unwrap();
    assert_eq!(bearer.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_email_credentials_value_and_the_error_pointer_are_configurable() {
    let sandbox = AgencyAnalyticsSandbox::start(people(1).with_api_key(KEY)).await.unwrap();
    let mut settings = settings_for(&sandbox, KEY, 10);
    settings.email_credentials = EmailCredentials::Flag(true);
    settings.error_message_pointer = "/errors/0/detail".into();
    let aa = AgencyAnalyticsConnector::new(settings).unwrap();
    aa.create(&desired("b@agency.example", "staff")).await.unwrap();
    let sent = sandbox.writes().pop().unwrap().body.unwrap();
    assert_eq!(sent["email_credentials"], json!(true), "a JSON boolean, not the default \"true\"");
    assert!(sandbox.user_by_login("b@agency.example").unwrap().credentials_emailed);
    let p0 = account(&aa, "p0@agency.example").await;
    let other = json!({"errors": [{"detail": "last_name is too long"}]}).to_string();
    let fault = Fault::answer(400, other);
    sandbox.faults().script(FaultRule::on("update", fault.clone()));
    match aa.update(&p0, &[change("last_name", "X")]).await {
        Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "last_name is too long"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let default = AgencyAnalyticsConnector::new(settings_for(&sandbox, KEY, 10)).unwrap();
    sandbox.faults().script(FaultRule::on("update", fault));
    match default.update(&p0, &[change("last_name", "X")]).await {
        Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "HTTP 400"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn recreate_on_role_change_deletes_then_creates_with_the_new_role() {
    let (sandbox, mut aa) = start(people(1), 50).await;
    let p0 = account(&aa, "p0@agency.example").await;
    aa.settings.recreate_on_role_change = true;
    assert!((aa.traits().role_change)("staff", "client").is_ok(), "the diff may plan the move");
    aa.update(&p0, &[change(ROLE_FIELD, "client"), change("first_name", "Bo")]).await.unwrap();
    let writes: Vec<(String, String)> = sandbox.writes().iter().map(|w| (w.method.clone(), w.path.clone())).collect();
    assert_eq!(writes, [("DELETE".into(), format!("/v3/users/{}", p0.id)), ("POST".into(), "/v3/users".into())]);
    let now = sandbox.user_by_login("p0@agency.example").unwrap();
    assert_eq!((now.role.as_str(), now.first_name.as_str()), ("client", "Bo"));
    assert_ne!(now.id.to_string(), p0.id.as_str(), "a new user");
    aa.settings.allow_delete = false;
    assert!(AgencyAnalyticsConnector::new(aa.settings.clone()).is_err(), "re-creating needs allow_delete");
}

#[test]
fn the_spec_checks_roles_and_options() {
    let role = |v: &str| (SPEC.role)(&serde_yaml::Value::String(v.into()), &serde_yaml::Mapping::new());
    assert_eq!(role("Client").unwrap().role, "client");
    assert!(role("owner").unwrap_err().contains("admin, staff, client"));
    let options = |yaml: &str| (SPEC.check_options)(&serde_yaml::from_str(yaml).unwrap());
    assert!(options("{ users_path: /v3/users, allow_delete: true }").is_empty());
    assert_eq!(options("{ users_path: v3/users }")[0].0, "users_path");
    assert!(options("{ allow_deletes: true }")[0].1.contains("unknown field"));
    let all = "{ allow_delete: true, recreate_on_role_change: true, auth_scheme: bearer, email_credentials: 1, error_message_pointer: /message }";
    assert!(options(all).is_empty(), "{:?}", options(all));
    assert_eq!(options("{ recreate_on_role_change: true }")[0].0, "recreate_on_role_change");
    assert_eq!(options("{ error_message_pointer: message }")[0].0, "error_message_pointer");
    assert_eq!(options("{ auth_scheme: digest }")[0].0, "auth_scheme");
}

/// Every kind of error, and the connector itself, printed both ways: the key is nowhere.
#[tokio::test]
async fn the_api_key_appears_in_no_error_and_no_debug_output() {
    let (sandbox, aa) = start(people(2), 1).await;
    let settings = settings_for(&sandbox, KEY, 1);
    let refused = vec![aa.create(&desired("x@agency.example", "nope")).await.unwrap_err()];
    let echo = json!({"error": {"message": format!("bad request from {KEY}")}});
    let echo = FaultRule::on("update", Fault::answer(400, echo));
    let leak = Leak::new("p0@agency.example", echo, change("last_name", "X"), "delete", Call::List);
    let wrong = AgencyAnalyticsConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
    let errors = leak.errors(sandbox, [&aa, &wrong], refused).await;
    assert_secret_hidden(KEY, &errors, &aa, &settings);
}
