//! The Google source against its strict emulator: the mapping, nesting and completeness
//! rules of `platforms/google.md`, token renewal and the quota answers.

use std::time::Duration;

use super::sandbox::{self, GoogleSandbox, GoogleSandboxOptions, ADMIN};
use super::*;
use crate::platform::connection::Connection;
use crate::sandbox::faults::{Fault, FaultRule};

fn settings(sandbox: &GoogleSandbox) -> GoogleSettings {
    let key = ServiceAccountKey::parse(&sandbox.key_json().into()).unwrap();
    let mut s = GoogleSettings::new(Connection::new(sandbox.base_url()).unpaced(), key, ADMIN).unwrap();
    s.retry = RetryPolicy::quick();
    s
}

async fn read(sandbox: &GoogleSandbox, adjust: impl FnOnce(&mut GoogleSettings)) -> Result<Roster, SourceError> {
    let mut s = settings(sandbox);
    adjust(&mut s);
    GoogleSource::new(s).unwrap().read().await
}

async fn generated(n: usize) -> GoogleSandbox {
    GoogleSandbox::start(GoogleSandboxOptions::generated(n)).await.unwrap()
}

fn groups_of(roster: &Roster, i: usize) -> Vec<&'static str> {
    let p = roster.people.iter().find(|p| p.user_name == sandbox::email(i)).unwrap();
    p.groups.iter().map(|g| g.display()).collect()
}

#[tokio::test]
async fn a_paged_read_maps_people_and_resolves_nested_groups_cycles_and_the_whole_account() {
    let emu = generated(60).await;
    let roster = read(&emu, |s| s.page_size = 7).await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert_eq!(roster.people.len(), 60);
    // 9 user pages of 7, 1 group page, one member page per group (7), one token.
    assert_eq!(emu.calls(), 9 + 1 + 7 + 1);
    for i in 1..=60 {
        let p = roster.people.iter().find(|p| p.user_name == sandbox::email(i)).unwrap();
        assert_eq!(p.active, sandbox::generated_active(i), "person {i}");
        let groups = groups_of(&roster, i);
        assert_eq!(groups.contains(&"cake-users"), sandbox::in_cake_users(i), "{i}: {groups:?}");
        assert_eq!(groups.contains(&"filespin-users"), sandbox::in_filespin_users(i), "{i}: {groups:?}");
        assert!(groups.contains(&"Everyone"), "CUSTOMER makes every user a member");
    }
    assert_eq!(groups_of(&roster, 2), ["Everyone", "Loop A", "Loop B", "cake-users"]);
    assert_eq!(groups_of(&roster, 4), ["Everyone", "Loop A", "Loop B"]);
    let boss = roster.people.iter().find(|p| p.user_name == sandbox::email(1)).unwrap().id.clone();
    let p9 = roster.people.iter().find(|p| p.user_name == sandbox::email(9)).unwrap();
    assert_eq!(p9.manager.as_deref(), Some(boss.as_str()), "the manager's email becomes their id");
    assert_eq!((p9.department.as_deref(), p9.employee_number.as_deref()), (Some("Sales"), Some("E9")));
}

#[tokio::test]
async fn a_token_that_stops_working_mid_read_is_renewed_and_the_read_goes_on() {
    let options = GoogleSandboxOptions { token_uses: Some(3), ..GoogleSandboxOptions::generated(40) };
    let emu = GoogleSandbox::start(options).await.unwrap();
    let roster = read(&emu, |s| s.page_size = 10).await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert_eq!(roster.people.len(), 40);
    assert!(emu.issued_tokens().len() >= 3, "{} tokens", emu.issued_tokens().len());
}

#[tokio::test]
async fn a_failure_on_page_3_keeps_pages_1_and_2_in_an_incomplete_roster_that_says_why() {
    let emu = generated(50).await;
    emu.faults()
        .script(FaultRule::on("users", Fault::Status { code: 400, retry_after: None, body: String::new() }).nth(3));
    let roster = read(&emu, |s| s.page_size = 10).await.unwrap();
    assert!(!roster.complete);
    let why = roster.incomplete_reason.unwrap_or_default();
    assert!(why.contains("Google users page 3") && why.contains("400"), "{why}");
    assert_eq!(roster.people.len(), 20);
}

#[tokio::test]
async fn a_broken_cursor_or_a_garbage_page_makes_the_roster_incomplete_never_short() {
    let emu = generated(30).await;
    emu.faults().script(FaultRule::on("users", Fault::Truncate).nth(2));
    let roster = read(&emu, |s| s.page_size = 10).await.unwrap();
    assert!(!roster.complete && roster.people.len() == 20, "{:?}", roster.incomplete_reason);
    assert!(roster.incomplete_reason.unwrap_or_default().contains("page 3"));
    emu.faults().script(FaultRule::on("users", Fault::Garbage).nth(2));
    let roster = read(&emu, |s| s.page_size = 10).await.unwrap();
    let why = roster.incomplete_reason.unwrap_or_default();
    assert!(!roster.complete && why.contains("malformed"), "{why}");
}

#[tokio::test]
async fn quota_answers_and_429s_slow_the_read_down_and_it_completes() {
    let emu = generated(30).await;
    let quota = Fault::Status { code: 403, retry_after: None, body: sandbox::quota_body("userRateLimitExceeded") };
    emu.faults().script(FaultRule::on("users", quota).next(2));
    emu.faults().script(FaultRule::on("members", Fault::too_many(1)));
    let started = tokio::time::Instant::now();
    let roster = read(&emu, |s| s.page_size = 10).await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert!(started.elapsed() >= Duration::from_secs(1), "the Retry-After was waited out");
    assert_eq!(emu.faults().injected(), 3);
}

#[tokio::test]
async fn members_that_do_not_add_up_or_a_vanished_group_make_the_roster_incomplete() {
    let emu = generated(20).await;
    emu.modify_group("g-sales", |g| g.listed_count = Some(99));
    let roster = read(&emu, |_| {}).await.unwrap();
    let why = roster.incomplete_reason.clone().unwrap_or_default();
    assert!(!roster.complete && why.contains("directMembersCount is 99"), "{why}");
    assert!(read(&emu, |s| s.check_member_counts = false).await.unwrap().complete, "the check can be disabled");
    emu.faults().script(FaultRule::on("members", Fault::Status { code: 404, retry_after: None, body: String::new() }));
    let roster = read(&emu, |s| s.check_member_counts = false).await.unwrap();
    assert!(!roster.complete && roster.incomplete_reason.unwrap_or_default().contains("404"));
}

#[tokio::test]
async fn a_refused_assertion_fails_the_read_and_names_the_keys_to_check() {
    let emu = generated(5).await;
    let e = read(&emu, |s| s.admin = "someone@acme.example".into()).await.unwrap_err().to_string();
    assert!(e.contains("unauthorized_client") && e.contains("source.google.admin"), "{e}");
    let e = read(&emu, |s| s.token_url.set_path("/elsewhere")).await.unwrap_err().to_string();
    assert!(e.contains("token endpoint") && e.contains("404"), "{e}");
    emu.faults().script(FaultRule::on("groups", Fault::Status { code: 403, retry_after: None, body: String::new() }));
    let e = read(&emu, |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("group memberships"), "{e}");
}

#[tokio::test]
async fn the_emulator_is_strict() {
    let emu = generated(3).await;
    let http = reqwest::Client::new();
    let users = |q: &str| format!("{}/users?{q}", emu.base_url());
    let no_token = http.get(users("customer=my_customer")).send().await.unwrap();
    assert_eq!(no_token.status(), 401);
    let source = GoogleSource::new(settings(&emu)).unwrap();
    let token = source.token().await.unwrap();
    let get = |url: String| http.get(url).bearer_auth(token.expose_secret()).send();
    assert_eq!(get(users("customer=my_customer&maxResults=501")).await.unwrap().status(), 400);
    assert_eq!(get(users("customer=my_customer&pageToken=forged")).await.unwrap().status(), 400);
    assert_eq!(get(users("maxResults=5")).await.unwrap().status(), 400, "customer or domain is required");
    assert_eq!(get(users("domain=acme.example&maxResults=500")).await.unwrap().status(), 200);
    let groups = format!("{}/groups?customer=my_customer&maxResults=201", emu.base_url());
    assert_eq!(get(groups).await.unwrap().status(), 400);
    let members = format!("{}/groups/nope/members", emu.base_url());
    assert_eq!(get(members).await.unwrap().status(), 404);
}
