//! Unit tests of the FileSpin emulator: its checks, paging and faults.

use super::*;
use crate::sandbox::faults::FaultRule;
use serde_json::{json, Value};

type Client = crate::platform::emulator::TestClient<FileSpinSandbox>;

impl Client {
    async fn start(options: FileSpinSandboxOptions) -> Client {
        Client::new(FileSpinSandbox::start(options).await.unwrap())
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = self.sandbox.base_url().join(path).unwrap();
        let mut request = self.http.request(method, url).header("X-FileSpin-Api-Key", self.sandbox.api_key());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn users(n: usize) -> FileSpinSandboxOptions {
    FileSpinSandboxOptions::default()
        .with_users((0..n).map(|i| FileSpinUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), 4)))
}

fn ana() -> Value {
    json!({"email": "ana@example.com", "first_name": "Ana", "last_name": "Lima", "role_id": 3})
}

/// Every record in an answer carries the user's three secrets, as stored.
fn assert_secrets_present(sandbox: &FileSpinSandbox, record: &Value) {
    let stored = sandbox.user_by_login(record["email"].as_str().unwrap()).unwrap();
    assert_eq!(record["apikey"], stored.apikey);
    assert_eq!(record["access_id"], stored.access_id);
    assert_eq!(record["uploadKey"], stored.upload_key);
    assert!(stored.secrets().iter().all(|s| s.starts_with("fs-")));
}

#[tokio::test]
async fn a_wrong_key_is_401_and_a_non_admin_users_key_403() {
    let c = Client::start(users(2)).await;
    let url = c.sandbox.base_url().join("api/v1/users").unwrap();
    let r = c.http.get(url.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"status": "ERROR", "message": "Invalid API key"}));
    let key = c.sandbox.users()[0].apikey.clone();
    let r = c.http.get(url.clone()).header("X-FileSpin-Api-Key", key).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let admin = c.sandbox.insert_user(FileSpinUser::new("A", "D", "admin@x.com", 1));
    let r = c.http.get(url).header("X-FileSpin-Api-Key", admin.apikey).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.http.post(c.sandbox.base_url().join("api/v1/user").unwrap()).json(&ana()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(c.sandbox.writes().is_empty());
}

#[tokio::test]
async fn listing_answers_exactly_30_users_with_their_secrets() {
    let c = Client::start(users(75)).await;
    let (status, first) = c.call(reqwest::Method::GET, "api/v1/users", None).await;
    assert_eq!((status, first["status"].as_str(), first["total_users"].as_u64()), (200, Some("OK"), Some(75)));
    assert_eq!((first["count"].as_u64(), first["users"].as_array().unwrap().len()), (Some(30), 30));
    let (_, last) = c.call(reqwest::Method::GET, "api/v1/users?offset=60", None).await;
    assert_eq!(last["count"], 15);
    assert_eq!(last["users"][0]["email"], "u60@x.com");
    for record in first["users"].as_array().unwrap().iter().chain(last["users"].as_array().unwrap()) {
        assert_secrets_present(&c.sandbox, record);
    }
    let (status, _) = c.call(reqwest::Method::GET, "api/v1/users?offset=-1", None).await;
    assert_eq!(status, 400);
    let (status, failure) = c.call(reqwest::Method::GET, "api/v1/users?limit=100", None).await;
    assert_eq!((status, failure["message"].as_str()), (400, Some("Unknown parameter: limit")));
}

#[tokio::test]
async fn create_requests_the_invitation_and_refuses_a_duplicate_email_with_409() {
    let c = Client::start(FileSpinSandboxOptions::default()).await;
    let (status, created) = c.call(reqwest::Method::POST, "api/v1/user", Some(ana())).await;
    assert_eq!((status, created["user"]["invite_status"].as_str()), (200, Some("REQUESTED")));
    assert_eq!(created["user"]["role_name"], "CREATOR");
    assert_secrets_present(&c.sandbox, &created["user"]);
    let mut shouting = ana();
    shouting["email"] = json!("ANA@example.com");
    let (status, failure) = c.call(reqwest::Method::POST, "api/v1/user", Some(shouting)).await;
    assert_eq!((status, failure["status"].as_str()), (409, Some("ERROR")));
    assert_eq!(c.sandbox.users().len(), 1);
}

#[tokio::test]
async fn bad_fields_are_422_and_a_body_that_is_not_json_400() {
    let c = Client::start(FileSpinSandboxOptions::default()).await;
    for (field, value, message) in [
        ("role_id", json!(9), "role_id must be one of"),
        ("group_asset_access", json!("yes"), "group_asset_access must be true or false"),
        ("email", json!("nope"), "nope is not a valid email address"),
        ("title", json!("Boss"), "Unknown field: title"),
    ] {
        let mut body = ana();
        body[field] = value;
        let (status, failure) = c.call(reqwest::Method::POST, "api/v1/user", Some(body)).await;
        assert_eq!(status, 422, "{field}");
        assert!(failure["message"].as_str().unwrap().starts_with(message), "{failure}");
    }
    let (status, failure) = c.call(reqwest::Method::POST, "api/v1/user", Some(json!({"email": "a@x.com"}))).await;
    assert_eq!((status, failure["message"].as_str()), (422, Some("first_name is required")));
    let url = c.sandbox.base_url().join("api/v1/user").unwrap();
    let r = c.http.post(url).header("X-FileSpin-Api-Key", c.sandbox.api_key()).body("{").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(c.sandbox.users().is_empty());
}

#[tokio::test]
async fn update_applies_only_given_fields_and_knows_no_unknown_id() {
    let c = Client::start(users(2)).await;
    let u0 = c.sandbox.user_by_login("u0@x.com").unwrap();
    let path = format!("api/v1/user/{}", u0.id);
    let (status, updated) = c.call(reqwest::Method::PUT, &path, Some(json!({"enabled": false}))).await;
    assert_eq!((status, updated["user"]["enabled"].as_bool()), (200, Some(false)));
    assert_secrets_present(&c.sandbox, &updated["user"]);
    let stored = c.sandbox.user_by_login("u0@x.com").unwrap();
    assert_eq!((stored.enabled, stored.first_name.as_str(), stored.role_id), (false, "U", 4));
    let (status, _) = c.call(reqwest::Method::PUT, &path, Some(json!({"email": "U1@x.com"}))).await;
    assert_eq!(status, 409);
    let (status, failure) = c.call(reqwest::Method::PUT, "api/v1/user/999", Some(json!({"enabled": true}))).await;
    assert_eq!((status, failure["message"].as_str()), (404, Some("User 999 not found")));
    let (status, failure) = c.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!((status, failure["status"].as_str()), (405, Some("ERROR")), "there is no delete");
}

#[tokio::test]
async fn a_truncated_page_claims_more_users_than_it_has_and_slow_down_is_429() {
    let c = Client::start(users(3)).await;
    c.sandbox.faults().script(FaultRule::on("list", Fault::Truncate));
    let (_, page) = c.call(reqwest::Method::GET, "api/v1/users", None).await;
    assert_eq!((page["count"].as_u64(), page["users"].as_array().unwrap().len()), (Some(3), 2));
    c.sandbox.faults().script(FaultRule::on("list", slow_down(2)));
    let (status, failure) = c.call(reqwest::Method::GET, "api/v1/users", None).await;
    assert_eq!((status, failure["message"].as_str()), (429, Some("Slow down!")));
}
