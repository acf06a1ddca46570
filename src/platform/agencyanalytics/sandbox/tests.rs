//! Unit tests of the AgencyAnalytics emulator: its checks, paging and faults.

use super::*;
use serde_json::{json, Value};

type Client = crate::platform::emulator::TestClient<AgencyAnalyticsSandbox>;

impl Client {
    async fn start(options: AgencyAnalyticsSandboxOptions) -> Client {
        Client::new(AgencyAnalyticsSandbox::start(options).await.unwrap())
    }

    async fn call(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<Value>) -> (u16, Value) {
        let url = self.sandbox.base_url().join(path).unwrap();
        let mut request = self.http.request(method, url).basic_auth(self.sandbox.api_key(), Some("")).query(query);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }
}

fn alex(role: &str) -> Value {
    json!({"first_name": "Alex", "last_name": "Chen", "username": "a.chen@x.com", "password": "s3cret-Passw0rd",
           "role": role, "email": "a.chen@x.com", "email_credentials": "true"})
}

fn five() -> AgencyAnalyticsSandboxOptions {
    let users = (0..5).map(|i| AgencyAnalyticsUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), "staff"));
    AgencyAnalyticsSandboxOptions::default().with_users(users)
}

#[test]
fn base64_matches_the_standard_alphabet_and_padding() {
    assert_eq!(base64(b"key:"), "a2V5Og==");
    assert_eq!(base64(b"ab:"), "YWI6");
    assert_eq!(base64(b"abcd:"), "YWJjZDo=");
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_401_on_every_route() {
    let c = Client::start(five()).await;
    let url = c.sandbox.base_url().join("v3/users").unwrap();
    let r = c.http.get(url.clone()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Invalid API credentials");
    let with_password = c.http.get(url.clone()).basic_auth(c.sandbox.api_key(), Some("x")).send().await.unwrap();
    assert_eq!(with_password.status(), 401, "the password must be empty");
    let r = c.http.delete(url.join("users/100").unwrap()).basic_auth("nope", Some("")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(c.sandbox.users().len(), 5);
    assert!(c.sandbox.requests().is_empty(), "unauthenticated requests are not logged");
}

#[tokio::test]
async fn listing_pages_with_metadata_and_password_null() {
    let c = Client::start(five()).await;
    let (status, page) = c.call(Method::GET, "v3/users", &[("page", "2"), ("limit", "2")], None).await;
    assert_eq!(status, 200);
    assert_eq!(page["metadata"], json!({"total_pages": 3, "total_records": 5}));
    let names: Vec<&str> = page["data"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["u2@x.com", "u3@x.com"]);
    assert!(page["data"][0].as_object().unwrap().contains_key("password") && page["data"][0]["password"].is_null());
    let (_, desc) = c
        .call(Method::GET, "v3/users", &[("order_by", "username"), ("order_direction", "desc"), ("filter", "U4")], None)
        .await;
    assert_eq!(desc["data"][0]["username"], "u4@x.com");
    let (status, failure) = c.call(Method::GET, "v3/users", &[("offset", "2")], None).await;
    assert_eq!((status, failure["error"]["message"].as_str()), (400, Some("Unknown parameter: offset")));
    let (_, clients) = c.call(Method::GET, "v3/users", &[("role[]", "client")], None).await;
    assert_eq!(clients["metadata"]["total_records"], 0);
}

#[tokio::test]
async fn create_requires_its_fields_and_refuses_a_duplicate_username_with_409() {
    let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
    let (status, created) = c.call(Method::POST, "v3/users", &[], Some(alex("client"))).await;
    assert_eq!((status, created["data"]["role"].as_str()), (200, Some("client")));
    assert!(c.sandbox.users()[0].credentials_emailed);
    assert_eq!(c.sandbox.requests()[0].body.as_ref().unwrap()["password"], "[set]");
    let mut shouting = alex("staff");
    shouting["username"] = json!("A.CHEN@x.com");
    assert_eq!(c.call(Method::POST, "v3/users", &[], Some(shouting)).await.0, 409);
    let mut no_password = alex("staff");
    no_password.as_object_mut().unwrap().remove("password");
    let (status, failure) = c.call(Method::POST, "v3/users", &[], Some(no_password)).await;
    assert_eq!((status, failure["error"]["message"].as_str()), (422, Some("password is required")));
    let mut owner = alex("owner");
    owner["username"] = json!("o@x.com");
    assert_eq!(c.call(Method::POST, "v3/users", &[], Some(owner)).await.0, 422);
    assert_eq!(c.sandbox.users().len(), 1);
}

#[tokio::test]
async fn a_role_change_between_staff_and_client_is_refused() {
    let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
    let staff = c.sandbox.insert_user(AgencyAnalyticsUser::new("S", "T", "s@x.com", "staff"));
    let path = format!("v3/users/{}", staff.id);
    let (status, failure) = c.call(Method::PUT, &path, &[], Some(json!({"role": "client"}))).await;
    assert_eq!(status, 422);
    assert!(failure["error"]["message"].as_str().unwrap().contains("between staff and client"));
    let (status, updated) = c.call(Method::PUT, &path, &[], Some(json!({"role": "admin", "last_name": "U"}))).await;
    assert_eq!(
        (status, updated["data"]["role"].as_str(), updated["data"]["last_name"].as_str()),
        (200, Some("admin"), Some("U"))
    );
    assert_eq!(c.sandbox.user_by_login("s@x.com").unwrap().role, "admin");
}

#[tokio::test]
async fn delete_answers_204_and_then_404() {
    let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
    let user = c.sandbox.insert_user(AgencyAnalyticsUser::new("S", "T", "s@x.com", "client"));
    let path = format!("v3/users/{}", user.id);
    assert_eq!(c.call(Method::DELETE, &path, &[], None).await, (204, Value::Null));
    assert_eq!(c.call(Method::DELETE, &path, &[], None).await.0, 404);
    assert_eq!(c.call(Method::GET, &path, &[], None).await.0, 404);
    assert_eq!(c.call(Method::PUT, &path, &[], Some(json!({"first_name": "X"}))).await.0, 404);
    assert_eq!(c.sandbox.write_calls(), 3);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let c = Client::start(AgencyAnalyticsSandboxOptions::default()).await;
    assert_eq!(c.call(Method::GET, "v3/campaigns", &[], None).await.0, 404);
    assert_eq!(c.call(Method::PATCH, "v3/users", &[], Some(json!({}))).await.0, 405);
}
