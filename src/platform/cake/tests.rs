//! Unit tests of the CAKE connector against its strict emulator.

use super::*;
use crate::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions, CakeUser};
use crate::platform::test_support::{
    account, alex_chen, assert_listing_waits_out, assert_no_change_sends_nothing, assert_only_the_middle_refused,
    assert_secret_hidden, assert_unavailable, change, deactivated, garbage_then_truncated, quick, spoilt_listing,
    started, Call, Leak,
};
use crate::sandbox::faults::{Fault, FaultRule, LostAs};
use secrecy::SecretString;
use std::time::Duration;

/// Distinctive, so a leak anywhere is found by a plain substring search.
const KEY: &str = "ck-LEAKCHECK-7f3a9e21b04d";

fn settings_for(sandbox: &CakeSandbox, key: &str, page_size: u32) -> CakeSettings {
    let mut settings = CakeSettings::new("cake", sandbox.base_url(), SecretString::from(key.to_string()));
    quick(&mut settings.connection);
    settings.page_size = page_size;
    settings
}

async fn start(options: CakeSandboxOptions, page_size: u32) -> (CakeSandbox, CakeConnector) {
    let connect = |sandbox: &CakeSandbox| CakeConnector::new(settings_for(sandbox, KEY, page_size));
    started(options.with_api_key(KEY), connect, CakeConnector::with_retry).await
}

fn people(n: usize) -> CakeSandboxOptions {
    let admin = CakeUser::new("Api", "Owner", "api.owner@yournetwork.com", 1);
    let staff = (0..n).map(|i| CakeUser::new("Given", &format!("Family{i}"), &format!("p{i}@yournetwork.com"), 2));
    CakeSandboxOptions::default().with_user(admin).with_users(staff)
}

fn desired(email: &str, role: &str) -> DesiredAccount {
    alex_chen(email, role, &["email"])
}

fn page_body(users: Value, total_rows: u64) -> Fault {
    Fault::answer(200, json!({"request_status": "Success", "response": {"users": users, "total_rows": total_rows}}))
}

fn failure_body(message: &str) -> Fault {
    Fault::answer(200, json!({"request_status": "Failure", "message": message}))
}

#[tokio::test]
async fn listing_across_pages_returns_every_account_once() {
    let (sandbox, cake) = start(people(7), 3).await;
    cake.prepare().await.unwrap();
    let accounts = cake.list().await.unwrap();
    assert_eq!(sandbox.list_calls(), 3, "8 users in pages of 3");
    let mut ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
    ids.sort();
    let mut expected: Vec<String> = sandbox.users().iter().map(|u| u.user_id.to_string()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    for query in sandbox.list_queries() {
        assert!(query.contains_key("start_at_row") && query.get("row_limit").map(String::as_str) == Some("3"));
    }
    let p3 = accounts.iter().find(|a| a.key == "p3@yournetwork.com").unwrap();
    assert_eq!(
        (p3.role.as_deref(), p3.status, p3.fields["last_name"].as_str()),
        (Some("Media Buyer"), AccountStatus::Active, "Family3")
    );
}

#[tokio::test]
async fn create_then_list_without_sending_a_password() {
    let (sandbox, cake) = start(people(1), 500).await;
    let created = cake.create(&desired("A.Chen@yournetwork.com", "account manager")).await.unwrap();
    assert_eq!((created.key.as_str(), created.role.as_deref()), ("a.chen@yournetwork.com", Some("Account Manager")));
    assert_eq!(sandbox.last_write_fields().unwrap(), ["email", "first_name", "last_name", "role_id", "user_status"]);
    let listed = account(&cake, "a.chen@yournetwork.com").await;
    assert_eq!(listed, created);
    assert_eq!(sandbox.user_by_login("a.chen@yournetwork.com").unwrap().role_id, 3);
}

#[tokio::test]
async fn update_sends_only_the_changed_fields() {
    let (sandbox, cake) = start(people(2), 500).await;
    let p1 = account(&cake, "p1@yournetwork.com").await;
    cake.update(&p1, &[change("last_name", "Okafor")]).await.unwrap();
    assert_eq!(sandbox.last_write_fields().unwrap(), ["last_name", "user_id"]);
    cake.update(&p1, &[change(ROLE_FIELD, "Finance"), change("email", "P1.New@yournetwork.com")]).await.unwrap();
    assert_eq!(sandbox.last_write_fields().unwrap(), ["email", "role_id", "user_id"]);
    let stored = sandbox.user_by_login("p1.new@yournetwork.com").unwrap();
    assert_eq!((stored.last_name.as_str(), stored.role_id, stored.first_name.as_str()), ("Okafor", 4, "Given"));
    assert_no_change_sends_nothing(&cake, &p1, || sandbox.write_calls()).await;
}

#[tokio::test]
async fn deactivate_then_reactivate_with_a_role_change_in_one_write() {
    let (sandbox, cake) = start(people(1), 500).await;
    let p0 = deactivated(&cake, "p0@yournetwork.com").await;
    assert_eq!(sandbox.last_write_fields().unwrap(), ["user_id", "user_status"]);
    assert_eq!(account(&cake, "p0@yournetwork.com").await.status, AccountStatus::Inactive);
    let writes = sandbox.write_calls();
    cake.reactivate(&p0, &[change(ROLE_FIELD, "Finance")]).await.unwrap();
    assert_eq!(sandbox.write_calls(), writes + 1);
    assert_eq!(sandbox.last_write_fields().unwrap(), ["role_id", "user_id", "user_status"]);
    let back = account(&cake, "p0@yournetwork.com").await;
    assert_eq!((back.status, back.role.as_deref()), (AccountStatus::Active, Some("Finance")));
}

#[tokio::test]
async fn a_duplicate_email_is_rejected_on_that_record_only() {
    let (sandbox, cake) = start(people(1), 500).await;
    let emails = ["b@yournetwork.com", "P0@YourNetwork.com", "c@yournetwork.com"];
    assert_only_the_middle_refused(&cake, emails.map(|email| desired(email, "Finance"))).await;
    assert_eq!(sandbox.users().len(), 4);
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error() {
    let (sandbox, _) = start(people(1), 500).await;
    let cake = CakeConnector::new(settings_for(&sandbox, "not-the-key", 500)).unwrap().with_retry(RetryPolicy::quick());
    assert!(matches!(cake.prepare().await, Err(PlatformError::Auth { .. })));
    assert!(matches!(cake.list().await, Err(PlatformError::Auth { .. })));
    assert_eq!(sandbox.list_calls(), 0, "listing never starts without roles");
}

#[tokio::test]
async fn a_failure_body_about_the_key_with_http_200_is_an_auth_error() {
    let (sandbox, cake) = start(people(1), 500).await;
    sandbox.faults().script(FaultRule::on("roles", failure_body("Invalid api_key")));
    assert!(matches!(cake.prepare().await, Err(PlatformError::Auth { .. })));
}

#[tokio::test]
async fn a_failure_body_with_http_200_is_an_error() {
    let (sandbox, cake) = start(people(3), 2).await;
    cake.prepare().await.unwrap();
    sandbox.faults().script(FaultRule::on("create", failure_body("Email domain is not allowed")));
    match cake.create(&desired("x@elsewhere.com", "Finance")).await {
        Err(PlatformError::Rejected { message, .. }) => {
            assert_eq!(message, "Email domain is not allowed")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let detail = spoilt_listing(&cake, sandbox.faults(), failure_body("Report server busy"), 2).await;
    assert!(detail.starts_with("users page starting at row 3: Report server busy"), "{detail}");
}

/// Garbage on page 2, or a truncated last page, fail the listing naming the page; a truncated
/// middle page is read again.
#[tokio::test]
async fn a_garbage_or_truncated_last_page_fails_and_a_truncated_middle_page_is_read_again() {
    let (sandbox, cake) = start(people(4), 2).await;
    cake.prepare().await.unwrap();
    let [garbage, truncated] = garbage_then_truncated(&cake, sandbox.faults(), 3).await;
    assert!(garbage.contains("users page starting at row 3"), "{garbage}");
    assert_eq!(sandbox.list_calls(), 2 + 3, "no page is skipped past the garbage");
    assert!(truncated.contains("users page starting at row 5"), "{truncated}");
    sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(1));
    let accounts = cake.list().await.unwrap();
    assert_eq!(accounts.len(), 5, "the short page's missing row is asked for again");
}

#[tokio::test]
async fn total_rows_changing_between_pages_is_malformed() {
    let (sandbox, cake) = start(people(3), 2).await;
    cake.prepare().await.unwrap();
    let later = json!([{"user_id": 5000, "email": "z@x.com", "user_status": "active", "role_id": 1}]);
    let detail = spoilt_listing(&cake, sandbox.faults(), page_body(later, 5), 2).await;
    assert!(detail.contains("total_rows changed from 4 to 5"), "{detail}");
}

#[tokio::test]
async fn records_without_user_id_or_email_are_refused_and_both_created_formats_accepted() {
    let (sandbox, cake) = start(CakeSandboxOptions::default(), 10).await;
    let good = |id: u64, created: &str| {
        json!({"user_id": id, "first_name": "A", "last_name": "B", "email": format!("u{id}@x.com"),
               "user_status": "Active", "role_id": 3, "created": created, "api_key": "a user's own key"})
    };
    let both = json!([good(1, "2023-06-15T09:22:00"), good(2, "2026-06-19 10:00:00")]);
    sandbox.faults().script(FaultRule::on("list", page_body(both, 2)));
    let accounts = cake.list().await.unwrap();
    assert_eq!(accounts[1].role.as_deref(), Some("Account Manager"));
    let no_email = json!([good(1, "2023-06-15T09:22:00"), {"user_id": 2, "user_status": "active", "role_id": 3}]);
    assert!(spoilt_listing(&cake, sandbox.faults(), page_body(no_email, 2), 1)
        .await
        .contains("row 2: missing field `email`"));
    let no_id = json!([{"email": "a@x.com", "user_status": "active", "role_id": 3}]);
    assert!(spoilt_listing(&cake, sandbox.faults(), page_body(no_id, 1), 1).await.contains("missing field `user_id`"));
    assert!(spoilt_listing(&cake, sandbox.faults(), page_body(json!([good(1, "15/06/2023")]), 1), 1)
        .await
        .contains("neither CAKE format"));
}

#[tokio::test]
async fn role_falls_back_to_the_roles_map_by_id() {
    let (sandbox, cake) = start(CakeSandboxOptions::default(), 10).await;
    let users = json!([{"user_id": 9, "email": "a@x.com", "user_status": "inactive", "role_id": 4}]);
    sandbox.faults().script(FaultRule::on("list", page_body(users, 1)));
    let accounts = cake.list().await.unwrap();
    assert_eq!((accounts[0].role.as_deref(), accounts[0].status), (Some("Finance"), AccountStatus::Inactive));
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_transparently() {
    let (sandbox, cake) = start(people(2), 500).await;
    cake.prepare().await.unwrap();
    assert_listing_waits_out(&cake, sandbox.faults(), FaultRule::on("list", Fault::too_many(1)), 3).await;
    assert_eq!(sandbox.list_calls(), 2);
}

#[tokio::test]
async fn a_persistent_503_is_a_status_error() {
    let (sandbox, cake) = start(people(1), 500).await;
    sandbox.faults().script(FaultRule::on("roles", Fault::status(503)).always());
    assert_unavailable(cake.prepare().await);
    assert_eq!(sandbox.faults().count("roles"), 3, "max_attempts of the retry policy");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_a_transport_error() {
    let sandbox = CakeSandbox::start(people(1).with_api_key(KEY)).await.unwrap();
    let mut settings = settings_for(&sandbox, KEY, 500);
    settings.connection.timeout = Duration::from_millis(200);
    let cake =
        CakeConnector::new(settings).unwrap().with_retry(RetryPolicy { max_attempts: 1, ..RetryPolicy::quick() });
    sandbox.faults().script(FaultRule::on("roles", Fault::Delay(Duration::from_secs(2))));
    assert!(matches!(cake.prepare().await, Err(PlatformError::Transport { .. })));
}

#[tokio::test]
async fn a_lost_answer_on_create_leaves_the_account_created() {
    for lost in [LostAs::ServerError, LostAs::Disconnect] {
        let (sandbox, cake) = start(people(1), 500).await;
        cake.prepare().await.unwrap();
        sandbox.faults().script(FaultRule::on("create", Fault::LoseAnswer(lost)));
        let outcome = cake.create(&desired("new@yournetwork.com", "Finance")).await;
        assert!(outcome.is_err(), "{lost:?}: the connector never learnt of the write");
        let created: Vec<_> = sandbox.users().into_iter().filter(|u| u.email == "new@yournetwork.com").collect();
        assert_eq!(created.len(), 1, "{lost:?}: created once");
        assert_eq!(sandbox.faults().count("create"), 1, "{lost:?}: the create is not sent again blindly");
    }
}

#[tokio::test]
async fn an_unknown_role_name_is_unsupported_and_lists_the_known_roles() {
    let (sandbox, cake) = start(people(1), 500).await;
    match cake.create(&desired("x@yournetwork.com", "Sales")).await {
        Err(PlatformError::Unsupported { message, .. }) => {
            assert!(message.contains("\"Sales\""), "{message}");
            assert!(message.contains("Administrator, Media Buyer, Account Manager, Finance"), "{message}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(sandbox.write_calls(), 0);
}

#[tokio::test]
async fn known_roles_and_account_managers_are_read() {
    let (_sandbox, cake) = start(people(0), 500).await;
    let roles = cake.known_roles().await.unwrap().unwrap();
    assert_eq!(roles, ["Administrator", "Media Buyer", "Account Manager", "Finance"]);
    let managers = cake.account_managers().await.unwrap();
    assert_eq!(managers.iter().map(|m| m.id).collect::<Vec<_>>(), [42, 7]);
    assert_eq!((managers[0].email.as_str(), managers[0].status), ("j.lee@yournetwork.com", AccountStatus::Active));
}

#[tokio::test]
async fn writes_refuse_fields_cake_does_not_have() {
    let (sandbox, cake) = start(people(1), 500).await;
    let p0 = account(&cake, "p0@yournetwork.com").await;
    let cleared = FieldChange { field: "first_name".into(), before: Some("Given".into()), after: None };
    for bad in [change("title", "Boss"), change(STATUS_FIELD, "suspended"), cleared] {
        assert!(matches!(cake.update(&p0, &[bad]).await, Err(PlatformError::Unsupported { .. })));
    }
    assert_eq!(sandbox.write_calls(), 0);
}

#[test]
fn endpoints_keep_a_base_path_and_refuse_a_query() {
    let base = Url::parse("https://proxy.example/tenants/acme").unwrap();
    let endpoints = Endpoints::new(&base).unwrap();
    assert_eq!(endpoints.users.as_str(), "https://proxy.example/tenants/acme/api/2/users.json");
    let with_key = Url::parse("https://acme.example/?api_key=oops").unwrap();
    let settings = CakeSettings::new("cake", with_key, SecretString::from("k".to_string()));
    assert!(matches!(CakeConnector::new(settings), Err(PlatformError::Unsupported { .. })));
}

/// Every kind of error, and the connector itself, printed both ways: the key is nowhere.
#[tokio::test]
async fn the_api_key_appears_in_no_error_and_no_debug_output() {
    let (sandbox, cake) = start(people(2), 1).await;
    let settings = settings_for(&sandbox, KEY, 1);
    let refused = [desired("p1@yournetwork.com", "Finance"), desired("q@yournetwork.com", "Nope")];
    let refused = vec![cake.create(&refused[0]).await.unwrap_err(), cake.create(&refused[1]).await.unwrap_err()];
    // CAKE echoing the key back in a message must not carry it further.
    let echo = FaultRule::on("update", failure_body(&format!("Invalid request from key {KEY}")));
    let leak = Leak::new("p0@yournetwork.com", echo, change("last_name", "X"), "update", Call::Prepare);
    let wrong = CakeConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
    let errors = leak.errors(sandbox, [&cake, &wrong], refused).await;
    assert_secret_hidden(KEY, &errors, &cake, &settings);
}
