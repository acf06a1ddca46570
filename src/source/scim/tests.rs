//! Unit tests of the SCIM source against small axum handlers and the fault proxy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::Router;
use serde_json::json;

use super::*;
use crate::model::Group;
use crate::platform::scim::wire::ERROR_URN;
use crate::sandbox::proxy::{Fault, FaultProxy};

const TOKEN: &str = "s3cr3t-t0ken-abcdef";

/// What a fake server handler sees of a request.
#[derive(Debug, Clone)]
struct Req {
    path: String,
    start: usize,
    count: usize,
    raw_query: String,
    authorization: String,
}

type Handler = Arc<dyn Fn(&Req) -> (u16, String) + Send + Sync>;

/// Serve `handler` on loopback; returns the SCIM base URL and the log of requests.
async fn serve(handler: impl Fn(&Req) -> (u16, String) + Send + Sync + 'static) -> (Url, Arc<Mutex<Vec<Req>>>) {
    let handler: Handler = Arc::new(handler);
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let (handler, seen) = (handler.clone(), seen.clone());
        async move {
            let req = request(&uri, &headers);
            seen.lock().unwrap().push(req.clone());
            let (status, body) = handler(&req);
            (StatusCode::from_u16(status).unwrap(), [(header::CONTENT_TYPE, "application/scim+json")], body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Url::parse(&format!("http://{addr}/scim/v2")).unwrap(), log)
}

fn request(uri: &Uri, headers: &HeaderMap) -> Req {
    let raw_query = uri.query().unwrap_or("").to_string();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect();
    let param = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.parse().unwrap());
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    Req {
        path: uri.path().to_string(),
        start: param("startIndex").unwrap_or(1),
        count: param("count").unwrap_or(100),
        raw_query,
        authorization,
    }
}

fn user(i: usize) -> Value {
    json!({ "id": format!("u{i:03}"), "userName": format!("user{i}@example.com"), "active": i % 7 != 0 })
}

/// A ListResponse page of `all`, as an honest server pages it, holding at most `cap`.
fn page_of(all: &[Value], req: &Req, cap: usize) -> (u16, String) {
    let from = (req.start - 1).min(all.len());
    let to = (from + req.count.min(cap)).min(all.len());
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": all.len(), "startIndex": req.start, "itemsPerPage": to - from,
        "Resources": all[from..to],
    });
    (200, body.to_string())
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(2),
    }
}

fn settings(base: Url, page_size: u32) -> ScimSettings {
    let mut s = ScimSettings::new(base, ScimAuth::Bearer(SecretString::from(TOKEN)));
    s.page_size = page_size;
    s.retry = fast_retry();
    s.connection.timeout = Duration::from_secs(5);
    s
}

async fn read(settings: ScimSettings) -> Result<Roster, SourceError> {
    ScimSource::new(settings).unwrap().read().await
}

fn users_only(req: &Req, all: &[Value], cap: usize) -> (u16, String) {
    if req.path.ends_with("/Users") {
        page_of(all, req, cap)
    } else {
        page_of(&[], req, cap)
    }
}

#[tokio::test]
async fn short_pages_advance_by_what_was_received() {
    let all: Vec<Value> = (1..=10).map(user).collect();
    let (base, log) = serve(move |req| users_only(req, &all, 3)).await;
    let roster = read(settings(base, 5)).await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert_eq!(roster.people.len(), 10);
    let starts: Vec<usize> =
        log.lock().unwrap().iter().filter(|r| r.path.ends_with("/Users")).map(|r| r.start).collect();
    assert_eq!(starts, vec![1, 4, 7, 10]);
    assert!(log.lock().unwrap().iter().all(|r| r.authorization == format!("Bearer {TOKEN}")));
}

#[tokio::test]
async fn a_total_larger_than_the_listing_is_incomplete() {
    let all: Vec<Value> = (1..=10).map(user).collect();
    let (base, _) = serve(move |req| {
        let (status, body) = users_only(req, &all, 100);
        let mut v: Value = serde_json::from_str(&body).unwrap();
        if req.path.ends_with("/Users") {
            v["totalResults"] = json!(12);
        }
        (status, v.to_string())
    })
    .await;
    let roster = read(settings(base, 4)).await.unwrap();
    assert!(!roster.complete);
    assert_eq!(roster.people.len(), 10);
    let reason = roster.incomplete_reason.unwrap();
    assert!(reason.contains("Users page 4 (startIndex=11): empty page after 10 of totalResults 12"), "{reason}");
}

#[tokio::test]
async fn a_repeated_id_is_incomplete() {
    // The second page starts one early, as if a user was removed while the listing was read.
    let all: Vec<Value> = (1..=6).map(user).collect();
    let (base, _) = serve(move |req| {
        let shifted = Req { start: if req.start > 1 { req.start - 1 } else { 1 }, ..req.clone() };
        users_only(&shifted, &all, 100)
    })
    .await;
    let roster = read(settings(base, 3)).await.unwrap();
    assert!(!roster.complete);
    let reason = roster.incomplete_reason.unwrap();
    assert!(reason.contains("Users page 2 (startIndex=4): id \"u003\" repeated"), "{reason}");
    let ids: HashSet<&str> = roster.people.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), roster.people.len(), "a repeat is held once");
}

#[tokio::test]
async fn a_malformed_page_2_is_incomplete_naming_page_2() {
    let all: Vec<Value> = (1..=6).map(user).collect();
    let (base, _) = serve(move |req| {
        let mut all = all.clone();
        all[4].as_object_mut().unwrap().remove("id");
        users_only(req, &all, 100)
    })
    .await;
    let roster = read(settings(base, 3)).await.unwrap();
    assert!(!roster.complete);
    assert_eq!(roster.people.len(), 3, "the people of page 1 are kept");
    let reason = roster.incomplete_reason.unwrap();
    assert!(
        reason.starts_with("Users page 2 (startIndex=4): malformed answer: resource 2 of Users page 2"),
        "{reason}"
    );
    assert!(reason.contains("no id"), "{reason}");
}

#[tokio::test]
async fn a_first_page_401_is_an_error_saying_check_the_token() {
    let (base, _) = serve(|req| {
        // A careless server that echoes the credential back.
        let detail = format!("token {} is not valid", req.authorization.trim_start_matches("Bearer "));
        (401, json!({ "schemas": [ERROR_URN], "status": "401", "detail": detail }).to_string())
    })
    .await;
    let err = read(settings(base, 3)).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, SourceError::Auth { status: 401, .. }), "{err:?}");
    assert!(message.starts_with("Users page 1 (startIndex=1): HTTP 401"), "{message}");
    assert!(message.contains("check the SCIM source's token"), "{message}");
    assert!(message.contains("SCIM error \"token [redacted] is not valid\""), "{message}");
    assert!(!message.contains(TOKEN) && !format!("{err:?}").contains(TOKEN));
}

#[tokio::test]
async fn a_garbage_first_page_is_an_error_naming_page_1() {
    let (base, _) = serve(|_| (200, "<html>sign in</html>".into())).await;
    let err = read(settings(base, 3)).await.unwrap_err();
    assert!(matches!(err, SourceError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().starts_with("Users page 1 (startIndex=1): malformed answer: not JSON"), "{err}");
}

#[tokio::test]
async fn garbage_later_and_odd_answers_never_panic() {
    let bodies = [
        "",
        "null",
        "[]",
        "{\"totalResults\": -1}",
        "{\"totalResults\": 5, \"Resources\": 7}",
        "{\"totalResults\": 5, \"Resources\": [1, \"x\"]}",
    ];
    for body in bodies {
        let (base, _) = serve(move |_| (200, body.to_string())).await;
        let err = read(settings(base, 3)).await.unwrap_err();
        assert!(matches!(err, SourceError::Malformed { .. }), "{body}: {err:?}");
    }
}

#[tokio::test]
async fn a_server_error_after_retries_is_incomplete_and_a_passing_blip_is_not() {
    let all: Vec<Value> = (1..=6).map(user).collect();
    let blips = Arc::new(Mutex::new(1));
    let (base, _) = serve(move |req| {
        let mut blips = blips.lock().unwrap();
        match req.start {
            4 if *blips > 0 => {
                *blips -= 1;
                (503, "{}".into())
            }
            _ => users_only(req, &all, 100),
        }
    })
    .await;
    assert!(read(settings(base.clone(), 3)).await.unwrap().complete, "one 503 is retried");

    let all: Vec<Value> = (1..=9).map(user).collect();
    let (base, log) =
        serve(move |req| if req.start == 4 { (503, "busy".into()) } else { users_only(req, &all, 100) }).await;
    let roster = read(settings(base, 3)).await.unwrap();
    assert_eq!(roster.people.len(), 3);
    let reason = roster.incomplete_reason.unwrap();
    assert!(reason.starts_with("Users page 2 (startIndex=4): HTTP 503: answer: busy"), "{reason}");
    assert_eq!(log.lock().unwrap().iter().filter(|r| r.start == 4).count(), 2, "retried per the policy");
    assert!(!log.lock().unwrap().iter().any(|r| r.start == 7), "the pages after a failed one are not read");
}

#[tokio::test]
async fn an_unreachable_source_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = Url::parse(&format!("http://{}/scim/v2", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let err = read(settings(base, 3)).await.unwrap_err();
    assert!(matches!(err, SourceError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("Users page 1 (startIndex=1): no answer"), "{err}");
}

#[tokio::test]
async fn max_pages_caps_the_read() {
    let all: Vec<Value> = (1..=10).map(user).collect();
    let (base, _) = serve(move |req| users_only(req, &all, 100)).await;
    let mut s = settings(base, 2);
    s.max_pages = 3;
    let roster = read(s).await.unwrap();
    assert_eq!(roster.people.len(), 6);
    assert!(roster.incomplete_reason.unwrap().starts_with("Users: stopped after max_pages=3 pages"));
}

#[tokio::test]
async fn every_field_is_mapped_and_keys_are_case_insensitive() {
    let resource = json!({
        "ID": "abc", "externalId": "ext-1", "USERNAME": "ada@example.com",
        "name": { "givenName": "Ada", "FamilyName": "Lovelace" }, "displayName": "Ada L",
        "emails": [{ "value": "home@example.com", "type": "home" }, { "value": "ada@example.com", "type": "work", "primary": true }, { "type": "other" }],
        "groups": [{ "value": "g1", "display": "Sales" }, { "value": "g2" }], "title": "Countess",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "42", "department": "Maths", "organization": "AE", "manager": { "value": "m-7", "displayName": "Babbage" } },
        "meta": { "lastModified": "2024-01-02T03:04:05Z" },
    });
    let (base, _) = serve(move |req| users_only(req, std::slice::from_ref(&resource), 100)).await;
    let roster = read(settings(base, 10)).await.unwrap();
    assert!(roster.complete);
    let p = &roster.people[0];
    assert_eq!(
        (p.id.as_str(), p.external_id.as_deref(), p.user_name.as_str()),
        ("abc", Some("ext-1"), "ada@example.com")
    );
    assert_eq!(
        (p.given_name.as_str(), p.family_name.as_str(), p.display_name.as_deref()),
        ("Ada", "Lovelace", Some("Ada L"))
    );
    assert_eq!(p.emails.len(), 3, "an email without a value is kept, without a value");
    assert_eq!((p.emails[2].value.as_str(), p.emails[2].kind.as_deref()), ("", Some("other")));
    assert_eq!(p.email(), Some("ada@example.com"));
    assert_eq!(p.emails[0].kind.as_deref(), Some("home"));
    assert!(p.active && p.active_unsent, "absent active means true, and filters see it absent");
    let group = |display: &str, id: &str| Group::new(display, Some(id.into()));
    assert_eq!(p.groups, [group("", "g2"), group("Sales", "g1")], "value is the id, display the name");
    assert_eq!(
        (p.title.as_deref(), p.employee_number.as_deref(), p.department.as_deref()),
        (Some("Countess"), Some("42"), Some("Maths"))
    );
    assert_eq!((p.organization.as_deref(), p.manager.as_deref()), (Some("AE"), Some("m-7")));
    assert_eq!(p.last_modified.as_deref(), Some("2024-01-02T03:04:05Z"));
}

#[test]
fn the_rarer_attributes_are_kept_for_filters() {
    let body = json!({"totalResults": 1, "Resources": [{
        "id": "u1", "userName": "ann", "nickName": "Annie", "userType": "Contractor", "locale": "en-GB",
        "name": {"middleName": "B"}, "active": false,
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "phoneNumbers": [{"value": "+1 555", "type": "work"}],
        "groups": [{"value": "g1", "display": "Ops", "type": "direct"}],
        "meta": {"created": "2024-01-01T00:00:00Z", "resourceType": "User"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "4130", "division": "Retail"}
    }]});
    let page = parse_users_page(body.to_string().as_bytes()).unwrap();
    let p = &page.people[0];
    assert!(!p.active && !p.active_unsent);
    let x = p.extras.as_deref().unwrap();
    assert_eq!(
        (x.nick_name.as_deref(), x.user_type.as_deref(), x.locale.as_deref(), x.middle_name.as_deref()),
        (Some("Annie"), Some("Contractor"), Some("en-GB"), Some("B"))
    );
    assert_eq!((x.cost_center.as_deref(), x.division.as_deref()), (Some("4130"), Some("Retail")));
    assert_eq!((x.created.as_deref(), x.resource_type.as_deref()), (Some("2024-01-01T00:00:00Z"), Some("User")));
    assert_eq!(
        (x.phone_numbers.len(), x.schemas.len(), x.group_types.as_slice()),
        (1, 1, &[Some("direct".into())][..])
    );
}

#[tokio::test]
async fn a_user_without_user_name_or_with_a_wrong_type_makes_the_page_malformed() {
    for resource in [json!({ "id": "x" }), json!({ "id": "x", "userName": "x", "active": "yes" })] {
        let (base, _) = serve(move |req| users_only(req, std::slice::from_ref(&resource), 100)).await;
        let err = read(settings(base, 10)).await.unwrap_err();
        assert!(err.to_string().contains("resource 1 of Users page 1 (startIndex=1): id \"x\""), "{err}");
    }
}

/// Users without `groups`, and a /Groups listing with a nested group.
fn groups_server(fail_groups_page_2: bool) -> impl Fn(&Req) -> (u16, String) + Send + Sync + 'static {
    let users: Vec<Value> = (1..=4).map(user).collect();
    let groups = vec![
        json!({ "id": "g-sales", "displayName": "Sales", "members": [{ "value": "u001" }, { "value": "g-emea", "type": "Group" }] }),
        json!({ "id": "g-emea", "displayName": "EMEA", "members": [{ "value": "u002" }, { "value": "g-sales" }] }),
        json!({ "id": "g-all", "displayName": "All", "members": [{ "value": "u001" }, { "value": "u002" }, { "value": "u003" }, { "value": "u999" }] }),
    ];
    move |req| match req.path.as_str() {
        "/scim/v2/Users" => page_of(&users, req, 100),
        "/scim/v2/Groups" if fail_groups_page_2 && req.start > 1 => (500, "{}".into()),
        "/scim/v2/Groups" => page_of(&groups, req, 100),
        _ => (404, "{}".into()),
    }
}

fn groups_of<'a>(roster: &'a Roster, id: &str) -> &'a [Group] {
    &roster.people.iter().find(|p| p.id == id).unwrap().groups
}

#[tokio::test]
async fn auto_reads_groups_from_the_groups_endpoint_with_nesting() {
    let (base, log) = serve(groups_server(false)).await;
    let roster = read(settings(base, 2)).await.unwrap();
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    // Sales and EMEA hold each other: the cycle ends, and each one's members are in both.
    assert_eq!(groups_of(&roster, "u001"), ["All", "EMEA", "Sales"]);
    assert_eq!(groups_of(&roster, "u002"), ["All", "EMEA", "Sales"]);
    assert_eq!(groups_of(&roster, "u003"), ["All"]);
    assert!(groups_of(&roster, "u004").is_empty());
    assert_eq!(log.lock().unwrap().iter().filter(|r| r.path.ends_with("/Groups")).count(), 2);
}

/// The read fails with a reason that starts with `starts` and says `says`.
async fn assert_read_fails(settings: ScimSettings, starts: &str, says: &str) {
    let reason = read(settings).await.unwrap_err().to_string();
    assert!(reason.starts_with(starts) && reason.contains(says), "{reason}");
}

#[tokio::test]
async fn a_failing_groups_page_fails_the_read() {
    let (base, _) = serve(groups_server(true)).await;
    assert_read_fails(
        settings(base, 2),
        "Groups page 2 (startIndex=3): HTTP 500",
        "group memberships decide scope and roles",
    )
    .await;
}

#[tokio::test]
async fn a_refused_groups_listing_fails_the_read() {
    let users: Vec<Value> = (1..=2).map(user).collect();
    let (base, _) =
        serve(move |req| if req.path.ends_with("/Groups") { (403, "{}".into()) } else { page_of(&users, req, 100) })
            .await;
    let mut s = settings(base, 10);
    s.groups = GroupsFrom::GroupsEndpoint;
    assert_read_fails(s, "Groups page 1 (startIndex=1): HTTP 403", "check the SCIM source's token").await;
}

#[tokio::test]
async fn auto_and_user_take_user_groups_when_users_carry_them() {
    let users = vec![
        json!({ "id": "a", "userName": "a", "groups": [{ "value": "1", "display": "Ops" }] }),
        json!({ "id": "b", "userName": "b" }),
    ];
    let (base, log) = serve(move |req| users_only(req, &users, 100)).await;
    for mode in [GroupsFrom::Auto, GroupsFrom::User] {
        let mut s = settings(base.clone(), 10);
        s.groups = mode;
        let roster = read(s).await.unwrap();
        assert!(roster.complete);
        assert_eq!(groups_of(&roster, "a"), ["Ops"]);
    }
    assert!(!log.lock().unwrap().iter().any(|r| r.path.ends_with("/Groups")));
}

#[tokio::test]
async fn a_filtered_read_is_encoded_and_never_complete() {
    let all: Vec<Value> = (1..=2).map(user).collect();
    let (base, log) = serve(move |req| users_only(req, &all, 100)).await;
    let mut s = settings(base, 10);
    s.filter = Some("meta.lastModified gt \"2024-01-01T00:00:00Z\" and title co \"a+b&c\"".into());
    let roster = read(s).await.unwrap();
    assert_eq!(roster.incomplete_reason.as_deref(), Some("filtered read"));
    let query = log.lock().unwrap()[0].raw_query.clone();
    assert_eq!(query, "startIndex=1&count=10&filter=meta.lastModified%20gt%20%222024-01-01T00%3A00%3A00Z%22%20and%20title%20co%20%22a%2Bb%26c%22");
}

#[tokio::test]
async fn basic_auth_is_sent_and_its_secrets_are_redacted() {
    let (base, log) = serve(|req| {
        (401, json!({ "detail": format!("bad header {}", req.authorization), "status": "401" }).to_string())
    })
    .await;
    let mut s = settings(base, 10);
    s.auth = ScimAuth::Basic { username: "rosterd".into(), password: SecretString::from("pa55word-xyz") };
    let err = read(s).await.unwrap_err().to_string();
    let sent = log.lock().unwrap()[0].authorization.clone();
    assert_eq!(sent, "Basic cm9zdGVyZDpwYTU1d29yZC14eXo=");
    assert!(err.contains("bad header Basic [redacted]"), "{err}");
}

#[tokio::test]
async fn truncated_and_inflated_listings_through_the_proxy() {
    let all: Vec<Value> = (1..=10).map(user).collect();
    let (upstream, _) = serve(move |req| users_only(req, &all, 100)).await;
    let proxy = FaultProxy::start(upstream).await.unwrap();
    // Short pages are fine as long as the listing adds up: the next page starts where this one ended.
    proxy.fail_when(|r| r.path == "/Users" && r.query_param("startIndex") != Some("10"), Fault::Truncate(1));
    let roster = read(settings(proxy.url(), 4)).await.unwrap();
    assert!(roster.complete && roster.people.len() == 10, "{:?}", roster.incomplete_reason);
    proxy.clear_faults();
    // Every page cut short, keeping totalResults: the last one comes back empty, one short.
    proxy.fail_when(|r| r.path == "/Users", Fault::Truncate(1));
    let roster = read(settings(proxy.url(), 4)).await.unwrap();
    assert!(!roster.complete && roster.people.len() == 9);
    assert!(roster
        .incomplete_reason
        .unwrap()
        .contains("Users page 4 (startIndex=10): empty page after 9 of totalResults 10"));
    proxy.clear_faults();
    proxy.fail_when(|r| r.path == "/Users", Fault::InflateTotal(3));
    let reason = read(settings(proxy.url(), 4)).await.unwrap().incomplete_reason.unwrap();
    assert!(reason.contains("empty page after 10 of totalResults 13"), "{reason}");
    proxy.shutdown().await;
}

#[test]
fn secrets_never_show_in_debug_of_settings_or_source() {
    let base = Url::parse("https://idp.example.com/scim/v2").unwrap();
    let mut s = ScimSettings::new(base, ScimAuth::Bearer(SecretString::from(TOKEN)));
    assert!(!format!("{s:?}").contains(TOKEN));
    let source = ScimSource::new(s.clone()).unwrap();
    assert!(!format!("{source:?}").contains(TOKEN));
    assert_eq!(source.describe(), "SCIM https://idp.example.com/scim/v2");
    s.auth = ScimAuth::Basic { username: "u".into(), password: SecretString::from("pa55word-xyz") };
    assert!(!format!("{s:?}").contains("pa55word-xyz"));
}

#[test]
fn settings_that_cannot_work_are_refused_without_echoing_the_url() {
    let with_password = Url::parse("https://u:hunter2@idp.example.com/scim/v2").unwrap();
    let err =
        ScimSource::new(ScimSettings::new(with_password, ScimAuth::Bearer(SecretString::from(TOKEN)))).unwrap_err();
    assert!(err.to_string().contains("must not carry credentials") && !err.to_string().contains("hunter2"), "{err}");
    let mut s =
        ScimSettings::new(Url::parse("https://idp.example.com/").unwrap(), ScimAuth::Bearer(SecretString::from(TOKEN)));
    s.page_size = 0;
    assert!(ScimSource::new(s).is_err());
}

#[test]
fn page_urls_keep_the_base_path() {
    let s = settings(Url::parse("https://idp.example.com/scim/v2/").unwrap(), 50);
    let source = ScimSource::new(s).unwrap();
    assert_eq!(
        source.page_url(Kind::Groups, 51, None).as_str(),
        "https://idp.example.com/scim/v2/Groups?startIndex=51&count=50"
    );
}

#[test]
fn parse_users_page_reads_one_page_body_like_the_source() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "TotalResults": 3,
        "Resources": [{"id": "u1", "UserName": "ann", "groups": [{"display": "b"}, {"value": "a"}]}]
    });
    let page = parse_users_page(body.to_string().as_bytes()).unwrap();
    assert_eq!(page.total_results, 3);
    assert_eq!(page.people.len(), 1);
    assert_eq!((page.people[0].id.as_str(), page.people[0].user_name.as_str()), ("u1", "ann"));
    let ids: Vec<Option<&str>> = page.people[0].groups.iter().map(|g| g.value()).collect();
    assert_eq!((ids, &page.people[0].groups[1]), (vec![Some("a"), None], &Group::named("b")));
    let err = parse_users_page(br#"{"totalResults": 1, "Resources": [{"id": "u1"}]}"#).unwrap_err().to_string();
    assert!(err.starts_with("resource 1 of Users page: id \"u1\": no userName"), "{err}");
    assert!(parse_users_page(b"{").unwrap_err().to_string().starts_with("not JSON"));
    assert_eq!(parse_users_page(br#"{"totalResults": 0}"#), Ok(UsersPage { total_results: 0, people: vec![] }));
}
