//! Unit tests of the CAKE emulator: its checks, paging and faults.

use super::*;
use serde_json::{json, Value};

type Client = crate::platform::emulator::TestClient<CakeSandbox>;

impl Client {
    async fn start(options: CakeSandboxOptions) -> Client {
        Client::new(CakeSandbox::start(options).await.unwrap())
    }

    fn url(&self, path: &str) -> url::Url {
        self.sandbox.base_url().join(path).unwrap()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut q = vec![("api_key", self.sandbox.api_key())];
        q.extend_from_slice(query);
        let r = self.http.get(self.url(path)).query(&q).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn post(&self, path: &str, mut body: Value) -> (u16, Value) {
        body["api_key"] = json!(self.sandbox.api_key());
        let r = self.http.post(self.url(path)).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn alex() -> Value {
    json!({"first_name": "Alex", "last_name": "Chen", "email": "a.chen@yournetwork.com", "role_id": 3})
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_a_401_failure_on_every_route() {
    let c = Client::start(CakeSandboxOptions::default()).await;
    let r = c.http.get(c.url("api/2/roles.json")).query(&[("api_key", "nope")]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_status"], "Failure");
    let r = c.http.post(c.url("api/2/user.json")).json(&alex()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(c.sandbox.users().is_empty());
}

#[tokio::test]
async fn listing_pages_with_one_based_rows_and_refuses_oversized_pages() {
    let mut options = CakeSandboxOptions::default();
    for i in 0..5 {
        options = options.with_user(CakeUser::new("U", &format!("{i}"), &format!("u{i}@x.com"), 2));
    }
    let c = Client::start(options).await;
    let (_, page) = c.get("api/2/users.json", &[("start_at_row", "4"), ("row_limit", "2")]).await;
    assert_eq!(page["request_status"], "Success");
    assert_eq!(page["response"]["total_rows"], 5);
    let emails: Vec<&str> =
        page["response"]["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["u3@x.com", "u4@x.com"]);
    let (status, failure) = c.get("api/2/users.json", &[("row_limit", "10001")]).await;
    assert_eq!((status, failure["request_status"].as_str()), (200, Some("Failure")));
    let (_, failure) = c.get("api/2/users.json", &[("start_row", "1")]).await;
    assert_eq!(failure["message"], "Unknown parameter: start_row");
}

/// Two accounts, A and B, with role 1.
fn two_users() -> CakeSandboxOptions {
    CakeSandboxOptions::default()
        .with_user(CakeUser::new("A", "A", "a@x.com", 1))
        .with_user(CakeUser::new("B", "B", "b@x.com", 1))
}

#[tokio::test]
async fn created_alternates_between_the_two_formats() {
    let c = Client::start(two_users()).await;
    let users = c.sandbox.users();
    assert_eq!(&users[0].created[10..11], "T");
    assert_eq!(&users[1].created[10..11], " ");
}

#[tokio::test]
async fn create_checks_required_fields_roles_and_duplicate_emails() {
    let c = Client::start(CakeSandboxOptions::default()).await;
    let (_, created) = c.post("api/2/user.json", alex()).await;
    assert_eq!(created["user"]["role_name"], "Account Manager");
    assert_eq!(created["user"]["user_status"], "active");
    let mut shouting = alex();
    shouting["email"] = json!("A.CHEN@yournetwork.com");
    let (_, dup) = c.post("api/2/user.json", shouting).await;
    assert_eq!(dup["request_status"], "Failure");
    assert!(dup["message"].as_str().unwrap().contains("A.CHEN@yournetwork.com"));
    let (_, missing) = c.post("api/2/user.json", json!({"first_name": "X", "last_name": "Y", "role_id": 3})).await;
    assert_eq!(missing["message"], "email is required");
    let mut bad_role = alex();
    bad_role["email"] = json!("z@x.com");
    bad_role["role_id"] = json!(99);
    let (_, failure) = c.post("api/2/user.json", bad_role).await;
    assert_eq!(failure["message"], "Invalid role_id 99");
    assert_eq!(c.sandbox.users().len(), 1);
}

#[tokio::test]
async fn update_applies_only_given_fields_and_answers_partially() {
    let c = Client::start(CakeSandboxOptions::default()).await;
    let user = c.sandbox.insert_user(CakeUser::new("Sarah", "Mendez", "s.mendez@x.com", 3));
    let (_, updated) =
        c.post("api/2/update_user.json", json!({"user_id": user.user_id, "user_status": "inactive"})).await;
    assert_eq!(updated["request_status"], "Success");
    assert_eq!(updated["user"]["user_status"], "inactive");
    assert!(updated["user"].get("email").is_none(), "partial answer, as the seed's sample");
    let stored = c.sandbox.user_by_login("S.Mendez@x.com").unwrap();
    assert_eq!((stored.user_status.as_str(), stored.role_id, stored.first_name.as_str()), ("inactive", 3, "Sarah"));
    assert_eq!(c.sandbox.last_write_fields().unwrap(), ["user_id", "user_status"]);
    let (_, unknown) = c.post("api/2/update_user.json", json!({"user_id": 1, "first_name": "X"})).await;
    assert_eq!(unknown["message"], "User 1 not found");
}

#[tokio::test]
async fn update_keeps_emails_unique() {
    let c = Client::start(CakeSandboxOptions::default()).await;
    c.sandbox.insert_user(CakeUser::new("A", "A", "a@x.com", 1));
    let b = c.sandbox.insert_user(CakeUser::new("B", "B", "b@x.com", 1));
    let (_, failure) = c.post("api/2/update_user.json", json!({"user_id": b.user_id, "email": "A@x.com"})).await;
    assert_eq!(failure["request_status"], "Failure");
    assert_eq!(c.sandbox.user_by_login("b@x.com").unwrap().user_id, b.user_id);
}

#[tokio::test]
async fn there_is_no_delete_and_unknown_routes_are_404() {
    let c = Client::start(CakeSandboxOptions::default()).await;
    let r = c.http.post(c.url("api/2/delete_user.json")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(c.sandbox.faults().count("unknown"), 1);
}

#[tokio::test]
async fn roles_and_account_managers_filter() {
    let c = Client::start(CakeSandboxOptions::default()).await;
    let (_, roles) = c.get("api/2/roles.json", &[("role_name", "finance")]).await;
    assert_eq!(roles["roles"], json!([{"role_id": 4, "role_name": "Finance"}]));
    let (_, managers) = c.get("api/2/account_managers.json", &[("account_manager_id", "7")]).await;
    assert_eq!(managers["account_managers"][0]["email"], "m.johnson@yournetwork.com");
    assert_eq!(managers["account_managers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_truncated_page_claims_more_rows_than_it_has() {
    use crate::sandbox::faults::{Fault, FaultRule};
    let c = Client::start(two_users()).await;
    c.sandbox.faults().script(FaultRule::on("list", Fault::Truncate));
    let (_, page) = c.get("api/2/users.json", &[("start_at_row", "1"), ("row_limit", "10")]).await;
    assert_eq!(page["response"]["total_rows"], 2);
    assert_eq!(page["response"]["users"].as_array().unwrap().len(), 1);
}
