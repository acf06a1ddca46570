//! Unit tests of the Affise emulator: its checks, paging, permissions and faults.

use super::*;
use serde_json::{json, Value};

const KEY: &str = "affise-sandbox-test-key";
const GOOD_PASSWORD: &str = "Str0ng!Passw0rd";

type Client = crate::platform::emulator::TestClient<AffiseSandbox>;

impl Client {
    async fn start(options: AffiseSandboxOptions) -> Client {
        let sandbox = AffiseSandbox::start(options.with_api_key(KEY)).await.unwrap();
        Client::new(sandbox)
    }

    fn url(&self, path: &str) -> url::Url {
        self.sandbox.base_url().join(path).unwrap()
    }

    async fn done(r: reqwest::RequestBuilder) -> (u16, Value) {
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        Self::done(self.http.get(self.url(path)).header("API-Key", KEY).query(query)).await
    }

    async fn form(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        Self::done(self.http.post(self.url(path)).header("api-key", KEY).form(form)).await
    }

    async fn json(&self, path: &str, body: Value) -> (u16, Value) {
        Self::done(self.http.post(self.url(path)).header("Api-Key", KEY).json(&body)).await
    }
}

fn alex() -> Vec<(&'static str, &'static str)> {
    vec![
        ("email", "api_user@gmail.com"),
        ("password", GOOD_PASSWORD),
        ("first_name", "Api"),
        ("last_name", "User"),
        ("roles[0]", "ROLE_MANAGER_AFFILIATE"),
        ("roles[1]", "ROLE_SECTION_SUPPLIER"),
        ("skype", "api_user"),
        ("work_hours", "8-8"),
    ]
}

fn without(form: &[(&'static str, &'static str)], name: &str) -> Vec<(&'static str, &'static str)> {
    form.iter().filter(|(k, _)| *k != name).copied().collect()
}

fn with(
    form: &[(&'static str, &'static str)],
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut out = without(form, name);
    out.push((name, value));
    out
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_a_401_failure_on_every_route() {
    let c = Client::start(AffiseSandboxOptions::default()).await;
    let id = c.sandbox.insert_user(AffiseUser::new("A", "B", "a@x.com", &["ROLE_ADMIN"])).id;
    let requests = [
        c.http.get(c.url("3.0/admin/users")),
        c.http.get(c.url(&format!("3.0/admin/user/{id}"))),
        c.http.post(c.url("3.0/admin/user")).form(&alex()),
        c.http.post(c.url(&format!("3.0/admin/user/{id}"))).form(&[("first_name", "X")]),
        c.http.post(c.url(&format!("3.0/admin/user/api_key/{id}"))),
        c.http.post(c.url(&format!("3.0/admin/user/{id}/password"))).form(&[("password", GOOD_PASSWORD)]),
        c.http.post(c.url(&format!("3.1/user/{id}/permissions"))).json(&json!({"permissions": {}})),
    ];
    for request in requests {
        let (status, body) = Client::done(request.header("API-Key", "nope")).await;
        assert_eq!((status, body["status"].as_i64()), (401, Some(2)));
    }
    assert_eq!(c.sandbox.users().len(), 1);
    assert!(c.sandbox.received().is_empty());
}

#[tokio::test]
async fn listing_pages_by_page_and_limit_and_returns_the_api_key() {
    let mut options = AffiseSandboxOptions::default();
    for i in 0..5 {
        options = options.with_user(AffiseUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), &["ROLE_ADMIN"]));
    }
    let c = Client::start(options).await;
    let (_, page) = c.get("3.0/admin/users", &[("page", "2"), ("limit", "2")]).await;
    assert_eq!(page["status"], 1);
    assert_eq!(page["pagination"], json!({"per_page": 2, "total_count": 5, "page": 2}));
    let emails: Vec<&str> = page["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["u2@x.com", "u3@x.com"]);
    assert_eq!(page["users"][0]["api_key"].as_str().unwrap().len(), 32, "records carry the user's key");
    assert!(page["users"][0].get("permissions").is_none());
    let (status, _) = c.get("3.0/admin/users", &[("limit", "501")]).await;
    assert_eq!(status, 400);
    let (status, failure) = c.get("3.0/admin/users", &[("offset", "1")]).await;
    assert_eq!((status, failure["message"].as_str()), (400, Some("Unknown parameter: offset")));
    let (_, found) = c.get("3.0/admin/users", &[("q", "U4@X")]).await;
    assert_eq!(found["pagination"]["total_count"], 1);
}

#[tokio::test]
async fn create_checks_required_fields_roles_passwords_and_duplicates() {
    let c = Client::start(AffiseSandboxOptions::default()).await;
    let (status, created) = c.form("3.0/admin/user", &alex()).await;
    assert_eq!((status, created["status"].as_i64()), (200, Some(1)));
    let id = created["user"]["id"].as_str().unwrap();
    assert!(id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(created["user"]["roles"], json!(["ROLE_MANAGER_AFFILIATE", "ROLE_SECTION_SUPPLIER"]));
    let (status, dup) = c.form("3.0/admin/user", &with(&alex(), "email", "API_USER@gmail.com")).await;
    assert_eq!((status, dup["status"].as_i64()), (400, Some(2)));
    let refused = [
        (without(&alex(), "password"), "password is required"),
        (with(&alex(), "password", "88888888"), "password is not valid"),
        (with(&alex(), "roles[1]", "ROLE_SECTION_STATS_COMMON"), "Unknown role ROLE_SECTION_STATS_COMMON"),
        (without(&without(&alex(), "roles[0]"), "roles[1]"), "roles is required"),
        (with(&alex(), "nickname", "x"), "Unknown parameter: nickname"),
        (with(&alex(), "type", "boss"), "type is not valid"),
    ];
    for (form, message) in refused {
        let form = with(&form, "email", "other@gmail.com");
        let (status, failure) = c.form("3.0/admin/user", &form).await;
        assert_eq!((status, failure["message"].as_str()), (400, Some(message)));
    }
    let json_body = c.http.post(c.url("3.0/admin/user")).header("API-Key", KEY).json(&json!({"email": "j@x.com"}));
    assert_eq!(Client::done(json_body).await.0, 400, "user calls take form bodies");
    assert_eq!(c.sandbox.users().len(), 1);
    assert_eq!(c.sandbox.users()[0].password, GOOD_PASSWORD);
}

#[tokio::test]
async fn edit_applies_only_given_fields_and_keeps_emails_unique() {
    let c = Client::start(AffiseSandboxOptions::default()).await;
    c.sandbox.insert_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_ADMIN"]));
    let b = c.sandbox.insert_user(AffiseUser::new("B", "B", "b@x.com", &["ROLE_MANAGER_SALES"]));
    let path = format!("3.0/admin/user/{}", b.id);
    let (_, edited) = c.form(&path, &[("type", "common_manager"), ("roles[0]", "ROLE_ADMIN")]).await;
    assert_eq!(
        (edited["user"]["type"].as_str(), edited["user"]["first_name"].as_str()),
        (Some("common_manager"), Some("B"))
    );
    assert_eq!(c.sandbox.last_write_fields().unwrap(), ["type", "roles[0]"]);
    let (status, _) = c.form(&path, &[("email", "A@x.com")]).await;
    assert_eq!(status, 400);
    let (status, missing) = c.form("3.0/admin/user/5f17ed6b3e10795a99999999", &[("first_name", "X")]).await;
    assert_eq!((status, missing["message"].as_str()), (404, Some("User not found")));
    let (status, _) = c.form("3.0/admin/user/42", &[("first_name", "X")]).await;
    assert_eq!(status, 400, "ids are 24 hex digits");
}

#[tokio::test]
async fn the_lock_out_calls_deny_rotate_and_scramble() {
    let c = Client::start(AffiseSandboxOptions::default()).await;
    let user = c.sandbox.insert_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_MANAGER_AFFILIATE"]));
    assert_eq!(user.permissions["users"]["entity-affiliate"]["exceptions"]["ints"]["read"], json!([5]));
    let (_, read) = c.get(&format!("3.0/admin/user/{}", user.id), &[]).await;
    assert_eq!(read["user"]["permissions"], user.permissions);
    let deny = json!({"level": "deny"});
    let deny = json!({"permissions": {"users": {"entity-affiliate": deny}, "stats": {"clicks-list": deny}}});
    let (status, _) = c.json(&format!("3.1/user/{}/permissions", user.id), deny).await;
    assert_eq!(status, 200);
    let stored = c.sandbox.user_by_login("a@x.com").unwrap();
    assert_eq!(stored.permissions["users"]["entity-affiliate"], json!({"level": "deny"}), "sent entries replace");
    assert_eq!(stored.permissions["general"]["marketplace"]["level"], "read", "others untouched");
    let (_, rotated) = c.form(&format!("3.0/admin/user/api_key/{}", user.id), &[]).await;
    assert_ne!(rotated["user"]["api_key"].as_str().unwrap(), user.api_key);
    let (_, weak) = c.form(&format!("3.0/admin/user/{}/password", user.id), &[("password", "short")]).await;
    assert_eq!(weak["status"], 2);
    c.form(&format!("3.0/admin/user/{}/password", user.id), &[("password", GOOD_PASSWORD)]).await;
    assert_eq!(c.sandbox.user_by_login("a@x.com").unwrap().password, GOOD_PASSWORD);
}

#[tokio::test]
async fn permissions_refuse_unknown_names_levels_and_form_bodies() {
    let c = Client::start(AffiseSandboxOptions::default()).await;
    let user = c.sandbox.insert_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_ADMIN"]));
    let path = format!("3.1/user/{}/permissions", user.id);
    for (body, message) in [
        (json!({"permissions": {"billing": {}}}), "Unknown permission section billing"),
        (json!({"permissions": {"stats": {"clicks": {"level": "read"}}}}), "Unknown permission stats.clicks"),
        (
            json!({"permissions": {"stats": {"clicks-list": {"level": "none"}}}}),
            "stats.clicks-list.level must be one of deny, read, write",
        ),
    ] {
        let (status, failure) = c.json(&path, body).await;
        assert_eq!((status, failure["message"].as_str()), (400, Some(message)));
    }
    let (status, _) = c.form(&path, &[("permissions", "{}")]).await;
    assert_eq!(status, 400);
    assert!(c.sandbox.user_by_login("a@x.com").unwrap().permissions == user.permissions);
}

#[tokio::test]
async fn unknown_routes_are_404_and_a_truncated_page_is_short() {
    use crate::sandbox::faults::{Fault, FaultRule};
    let options = AffiseSandboxOptions::default()
        .with_user(AffiseUser::new("A", "A", "a@x.com", &["ROLE_ADMIN"]))
        .with_user(AffiseUser::new("B", "B", "b@x.com", &["ROLE_ADMIN"]));
    let c = Client::start(options).await;
    let r =
        c.http.delete(c.url("3.0/admin/user/5f17ed6b3e10795a00000001")).header("API-Key", KEY).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let (status, _) = c.get("3.0/admin/partners", &[]).await;
    assert_eq!(status, 404);
    c.sandbox.faults().script(FaultRule::on("list", Fault::Truncate));
    let (_, page) = c.get("3.0/admin/users", &[]).await;
    assert_eq!((page["pagination"]["total_count"].as_u64(), page["users"].as_array().unwrap().len()), (Some(2), 1));
}
