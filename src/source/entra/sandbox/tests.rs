//! The emulator's own strictness: tokens, query options, cursors and delta links.

use super::*;
use crate::platform::emulator::TestClient;
use serde_json::Value;

async fn client(n: usize) -> TestClient<EntraSandbox> {
    TestClient::new(EntraSandbox::start(EntraSandboxOptions::default().with_people(n)).await.unwrap())
}

impl TestClient<EntraSandbox> {
    async fn token(&self) -> String {
        let o = EntraSandboxOptions::default();
        let form = [
            ("client_id", o.app.0.as_str()),
            ("client_secret", o.app.1.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ];
        let url = self.sandbox.base_url().join(&format!("{}/oauth2/v2.0/token", o.tenant)).unwrap();
        let body: Value = self.http.post(url).form(&form).send().await.unwrap().json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn get(&self, path_and_query: &str, token: &str) -> (u16, Value) {
        let url = format!("{}{path_and_query}", self.sandbox.base_url().as_str().trim_end_matches('/'));
        let r = self.http.get(url).bearer_auth(token).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// The page a page's `@odata.nextLink` leads to.
    async fn next_page(&self, page: &Value, token: &str) -> Value {
        self.get(&next_path(page), token).await.1
    }
}

/// The path and query of a page's `@odata.nextLink`, to ask the emulator for it.
fn next_path(page: &Value) -> String {
    let next = page["@odata.nextLink"].as_str().unwrap();
    next.split_once("/v1.0").map(|(_, p)| format!("/v1.0{p}")).unwrap()
}

/// How many items a page holds (`None`: not a page).
fn items(page: &Value) -> Option<usize> {
    page["value"].as_array().map(Vec::len)
}

#[tokio::test]
async fn graph_refuses_what_it_would_refuse() {
    let c = client(5).await;
    assert_eq!(c.get("/v1.0/users", "not-a-token").await.0, 401);
    let t = c.token().await;
    assert_eq!(c.get("/v1.0/users?$top=1000", &t).await.0, 400);
    assert_eq!(c.get("/v1.0/users?$select=id,shoeSize", &t).await.0, 400);
    assert_eq!(c.get("/v1.0/users?$filter=accountEnabled%20eq%20true", &t).await.0, 400);
    assert_eq!(c.get("/v1.0/users?$skiptoken=made-up", &t).await.0, 400);
    assert_eq!(c.get("/v1.0/users/$count", &t).await.0, 400, "no ConsistencyLevel");
    assert_eq!(c.get("/v1.0/users/delta?$top=5", &t).await.0, 400);
    assert_eq!(c.get("/v1.0/groups/nope/transitiveMembers", &t).await.0, 404);
    let group = &c.sandbox.groups()[0].id;
    assert_eq!(c.get(&format!("/v1.0/groups/{group}/members?$top=0"), &t).await.0, 400);
    let (status, page) = c.get("/v1.0/users?$top=2&$select=id,accountEnabled", &t).await;
    assert_eq!((status, items(&page)), (200, Some(2)));
    assert_eq!(items(&c.next_page(&page, &t).await), Some(2));
}

/// A members next link keeps the `$top` of its first page (a skiptoken carries it), so a
/// large group reads in as few pages as the client asked for.
#[tokio::test]
async fn a_members_next_link_keeps_the_page_size_asked_for() {
    let c = client(400).await;
    let t = c.token().await;
    let staff = c.sandbox.groups().into_iter().find(|g| g.display_name == "Staff").unwrap();
    let members = c.sandbox.member_count(&staff.id, false);
    assert!(members > 250, "{members} members");
    let (_, page) = c.get(&format!("/v1.0/groups/{}/members?$select=id&$top=120", staff.id), &t).await;
    assert_eq!(items(&page), Some(120));
    assert_eq!(items(&c.next_page(&page, &t).await), Some(120));
}

#[tokio::test]
async fn a_delta_link_yields_changes_then_expires_with_410() {
    let c = client(3).await;
    let t = c.token().await;
    let (_, page) = c.get("/v1.0/users/delta?$select=id,accountEnabled", &t).await;
    assert_eq!(items(&page), Some(3));
    let link = page["@odata.deltaLink"].as_str().unwrap().split_once("/v1.0").unwrap().1.to_string();
    c.sandbox.edit_user(&people::user_id(2), |u| u.set("accountEnabled", false));
    c.sandbox.edit_user(&people::user_id(3), |u| u.set("surname", "NotSelected"));
    let (_, page) = c.get(&format!("/v1.0{link}"), &t).await;
    assert_eq!(page["value"], serde_json::json!([{"id": people::user_id(2), "accountEnabled": false}]));
    c.sandbox.expire_delta_links();
    assert_eq!(c.get(&format!("/v1.0{link}"), &t).await.0, 410);
}
