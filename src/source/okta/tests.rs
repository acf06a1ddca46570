//! Unit tests of the Okta source against its strict emulator: mapping, paging, completeness,
//! sign-in (API token and service app), and Okta's rate-limit signals.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::SecretString;

use super::sandbox::{generated_id, Directory, OktaSandbox, OktaSandboxOptions, SERVICE_APP_CLIENT, SERVICE_APP_KEY};
use super::wire::{next_link, OktaUser};
use super::*;
use crate::platform::connection::Connection;
use crate::platform::http::RetryPolicy;
use crate::sandbox::faults::{Fault, FaultRule};
use crate::sandbox::page_cap::PageCap;

const TOKEN: &str = "okta-api-token-SEEDED-3e9d";
const UPDATED: &str = "2024-05-02T10:11:12.000Z";

async fn org(n: usize, cap: PageCap) -> OktaSandbox {
    limited_org(n, cap, 1_000_000).await
}

/// An org of `n` people whose rate-limit bucket holds `limit` requests a second.
async fn limited_org(n: usize, cap: PageCap, limit: u64) -> OktaSandbox {
    let mut options = OktaSandboxOptions::new(TOKEN, Directory::generated(n, UPDATED));
    options.page_cap = cap;
    options.rate_limit = limit;
    options.rate_window = Duration::from_secs(1);
    OktaSandbox::start(options).await.unwrap()
}

fn settings(org: &OktaSandbox, auth: OktaAuth) -> OktaSettings {
    let mut s = OktaSettings::new(Connection::new(org.base_url()), auth);
    s.retry = RetryPolicy::quick();
    s
}

fn source(org: &OktaSandbox) -> OktaSource {
    OktaSource::new(settings(org, OktaAuth::ApiToken(TOKEN.to_string().into()))).unwrap()
}

fn service_app() -> OktaAuth {
    OktaAuth::ServiceApp(ServiceApp {
        client_id: SERVICE_APP_CLIENT.into(),
        private_key: SecretString::from(SERVICE_APP_KEY.to_string()),
        key_id: None,
    })
}

#[test]
fn a_user_maps_as_the_contract_says() {
    let body = r#"{"id":"00u1ab2CdEfGh3ij4k5","status":"ACTIVE","lastUpdated":"2024-05-02T10:11:12.000Z",
      "profile":{"login":"ana@acme.com","email":"ana@acme.com","secondEmail":null,"firstName":"Ana",
      "lastName":"Lima","displayName":"Ana Lima","department":"Sales","title":"AE",
      "employeeNumber":"4711","managerId":"00u9xy"},"credentials":{"password":{}},"_links":{}}"#;
    let user: OktaUser = serde_json::from_str(body).unwrap();
    let p = user.into_person(true);
    assert_eq!(
        (p.id.as_str(), p.user_name.as_str(), p.email()),
        ("00u1ab2CdEfGh3ij4k5", "ana@acme.com", Some("ana@acme.com"))
    );
    assert_eq!((p.given_name.as_str(), p.family_name.as_str()), ("Ana", "Lima"));
    assert_eq!(p.display_name.as_deref(), Some("Ana Lima"));
    assert_eq!(p.department.as_deref(), Some("Sales"));
    assert_eq!(p.employee_number.as_deref(), Some("4711"));
    assert_eq!(p.manager.as_deref(), Some("00u9xy"));
    assert_eq!(p.last_modified.as_deref(), Some("2024-05-02T10:11:12.000Z"));
    assert_eq!(p.emails.len(), 1, "a null secondEmail is no address");
}

#[test]
fn statuses_count_as_active_exactly_per_contract() {
    let s = OktaSettings::new(
        Connection::new(url::Url::parse("https://acme.okta.com").unwrap()),
        OktaAuth::ApiToken("t".to_string().into()),
    );
    for active in ["ACTIVE", "PROVISIONED", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"] {
        assert!(s.is_active(active), "{active}");
    }
    for inactive in ["STAGED", "SUSPENDED", "DEPROVISIONED"] {
        assert!(!s.is_active(inactive), "{inactive}");
    }
}

#[test]
fn the_next_link_is_read_from_two_headers_or_one_joined() {
    let mut h = HeaderMap::new();
    h.append("link", HeaderValue::from_static("<https://o/api/v1/users?limit=200>; rel=\"self\""));
    h.append("link", HeaderValue::from_static("<https://o/api/v1/users?after=00u2&limit=200>; rel=\"next\""));
    assert_eq!(next_link(&h).as_deref(), Some("https://o/api/v1/users?after=00u2&limit=200"));
    let mut joined = HeaderMap::new();
    joined.insert("link", HeaderValue::from_static("<https://o/a>; rel=\"self\", <https://o/b?after=x>; rel=\"next\""));
    assert_eq!(next_link(&joined).as_deref(), Some("https://o/b?after=x"));
    let mut last = HeaderMap::new();
    last.insert("link", HeaderValue::from_static("<https://o/a>; rel=\"self\""));
    assert_eq!(next_link(&last), None);
}

#[tokio::test]
async fn a_full_read_holds_everyone_with_groups_and_is_complete() {
    let org = org(450, PageCap::None).await;
    let roster = source(&org).read().await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert_eq!(roster.people.len(), 450, "deprovisioned users are read too");
    let p = roster.people.iter().find(|p| p.id == generated_id(21)).unwrap();
    let groups: Vec<&str> = p.groups.iter().map(|g| g.display()).collect();
    assert_eq!(groups, ["Finance", "Sales", "cake-users"], "Everyone is skipped");
    let gone = roster.people.iter().find(|p| p.id == generated_id(10)).unwrap();
    assert!(!gone.active);
    // 3 users pages + 1 deprovisioned + 1 groups + members of 4 groups (cake-users: 2 pages).
    assert_eq!(org.calls("users"), 4);
    assert_eq!(org.calls("members"), 5);
}

#[tokio::test]
async fn short_pages_are_followed_to_the_end() {
    let org = org(120, PageCap::Count(7)).await;
    let roster = source(&org).read().await.unwrap();
    assert!(roster.complete);
    assert_eq!(roster.people.len(), 120);
}

#[tokio::test]
async fn a_failure_on_page_3_gives_an_incomplete_roster_that_says_why() {
    let org = org(1000, PageCap::None).await;
    // Page 3 and both of its retries (quick retries: 3 attempts) fail.
    for nth in 3..=5 {
        org.faults().script(FaultRule::on("users", Fault::status(503)).nth(nth));
    }
    let roster = source(&org).read().await.unwrap();
    assert!(!roster.complete);
    let why = roster.incomplete_reason.unwrap();
    assert!(why.contains("users page 3") && why.contains("HTTP 503"), "{why}");
    assert_eq!(roster.people.iter().filter(|p| p.id.as_str() <= generated_id(400).as_str()).count(), 400);
}

#[tokio::test]
async fn a_failing_first_page_is_an_error() {
    let org = org(10, PageCap::None).await;
    org.faults().script(FaultRule::on("users", Fault::status(500)).always());
    let err = source(&org).read().await.unwrap_err().to_string();
    assert!(err.contains("users page 1") && err.contains("HTTP 500"), "{err}");
}

#[tokio::test]
async fn a_broken_cursor_fails_the_read_and_garbage_makes_it_incomplete() {
    let org = org(1000, PageCap::None).await;
    // Okta refuses the unknown cursor with 400 E0000001, which fails the read (contract).
    org.faults().script(FaultRule::on("users", Fault::Truncate).nth(2));
    let err = source(&org).read().await.unwrap_err().to_string();
    assert!(err.contains("users page 3") && err.contains("E0000001"), "{err}");
    org.faults().script(FaultRule::on("users", Fault::Garbage).nth(2));
    let roster = source(&org).read().await.unwrap();
    assert!(!roster.complete);
    assert!(roster.incomplete_reason.unwrap().contains("not a JSON array"));
}

#[tokio::test]
async fn a_refused_token_fails_the_read_and_names_the_key() {
    let org = org(10, PageCap::None).await;
    let wrong = OktaSource::new(settings(&org, OktaAuth::ApiToken("wrong".to_string().into()))).unwrap();
    let err = wrong.read().await.unwrap_err().to_string();
    assert!(err.contains("HTTP 401") && err.contains("E0000011") && err.contains("source.okta.token_file"), "{err}");
}

#[tokio::test]
async fn a_service_app_token_that_dies_mid_read_is_renewed_and_the_read_completes() {
    let mut options = OktaSandboxOptions::new(TOKEN, Directory::generated(900, UPDATED));
    options.token_uses = Some(3);
    let org = OktaSandbox::start(options).await.unwrap();
    let source = OktaSource::new(settings(&org, service_app())).unwrap();
    let roster = source.read().await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert_eq!(roster.people.len(), 900);
    assert!(org.calls("token") >= 3, "tokens renewed: {}", org.calls("token"));
}

#[tokio::test]
async fn a_service_app_with_a_wrong_key_is_refused_with_what_to_check() {
    let org = org(5, PageCap::None).await;
    let OktaAuth::ServiceApp(mut app) = service_app() else { unreachable!() };
    app.client_id = "someone-else".into();
    let err = OktaSource::new(settings(&org, OktaAuth::ServiceApp(app))).unwrap().read().await.unwrap_err().to_string();
    assert!(err.contains("invalid_client") && err.contains("source.okta.client_id"), "{err}");
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let org = org(300, PageCap::None).await;
    org.faults().script(FaultRule::on("users", Fault::too_many(1)).nth(2));
    let roster = source(&org).read().await.unwrap();
    assert!(roster.complete);
    let served = org.faults().served();
    let refused = served.iter().position(|s| s.status == 429).unwrap();
    let waited = served[refused + 1].at - served[refused].at;
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
}

#[tokio::test]
async fn nearly_empty_rate_limit_buckets_slow_the_read_before_okta_refuses() {
    let org = limited_org(60, PageCap::Count(4), 40).await;
    let roster = source(&org).read().await.unwrap();
    assert!(roster.complete);
    assert!(org.faults().requests() > 20);
    assert!(org.faults().served().iter().all(|s| s.status != 429), "rosterd met a 429");
}

#[tokio::test]
async fn a_429_without_retry_after_waits_for_the_rate_limit_reset() {
    let org = limited_org(30, PageCap::Count(5), 4).await;
    let mut s = settings(&org, OktaAuth::ApiToken(TOKEN.to_string().into()));
    s.slow_down_below = 0.0;
    let roster = OktaSource::new(s).unwrap().read().await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert!(org.faults().served().iter().any(|s| s.status == 429), "the bucket ran dry");
}
