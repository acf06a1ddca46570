//! Unit tests of the SCIM emulator: auth, paging, filters, writes, versions.

use super::*;

type Client = crate::platform::emulator::TestClient<ScimSandbox>;

impl Client {
    async fn start(options: ScimSandboxOptions) -> Client {
        Client::new(ScimSandbox::start(options).await.unwrap())
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.sandbox.base_url())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(self.sandbox.token());
        if let Some(body) = body {
            request = request.header(header::CONTENT_TYPE, MEDIA_TYPE).body(body.to_string());
        }
        if let Some(tag) = if_match {
            request = request.header(header::IF_MATCH, tag);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap_or(Value::Null))
    }

    async fn patch(&self, id: &str, operations: Value, if_match: Option<&str>) -> (u16, Value) {
        let body = json!({ "schemas": [PATCH_URN], "Operations": operations });
        self.send(reqwest::Method::PATCH, &format!("Users/{id}"), Some(body), if_match).await
    }
}

fn one_user() -> ScimSandboxOptions {
    ScimSandboxOptions::default().with_user(ScimUser::new("a@x.com", "A", "B", "a@x.com").with_password("pw-9"))
}

#[tokio::test]
async fn every_call_needs_the_token_and_a_refusal_is_a_scim_error() {
    let client = Client::start(one_user()).await;
    let answer = client.http.get(client.url("Users")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let body: Value = answer.json().await.unwrap();
    assert_eq!((body["schemas"][0].as_str(), body["status"].as_str()), (Some(ERROR_URN), Some("401")));
    let answer = client.http.get(client.url("ServiceProviderConfig")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 401);
}

#[tokio::test]
async fn pages_are_capped_and_passwords_never_served() {
    let mut options = one_user().with_max_results(2);
    for i in 0..4 {
        options = options.with_user(ScimUser::new(&format!("u{i}"), "G", "F", &format!("u{i}@x.com")));
    }
    let client = Client::start(options).await;
    let (_, page) = client.send(reqwest::Method::GET, "Users?startIndex=0&count=50", None, None).await;
    assert_eq!((page["totalResults"].as_u64(), page["startIndex"].as_u64()), (Some(5), Some(1)));
    assert_eq!(page["Resources"].as_array().unwrap().len(), 2);
    assert!(!page.to_string().contains("pw-9") && !page.to_string().contains("password"));
    let (status, _) = client.send(reqwest::Method::GET, "Users?count=x", None, None).await;
    assert_eq!(status, 400);
    let (_, found) = client.send(reqwest::Method::GET, "Users?filter=USERNAME%20eq%20%22A@X.COM%22", None, None).await;
    assert_eq!(found["totalResults"], 1);
    let (status, error) = client.send(reqwest::Method::GET, "Users?filter=emails%20co%20%22x%22", None, None).await;
    assert_eq!((status, error["scimType"].as_str()), (400, Some("invalidFilter")));
}

#[tokio::test]
async fn create_refuses_a_taken_name_and_unknown_attributes() {
    let client = Client::start(one_user()).await;
    let user = |name: &str| json!({ "schemas": [USER_URN], "userName": name });
    let (status, created) = client.send(reqwest::Method::POST, "Users", Some(user("b@x.com")), None).await;
    assert_eq!((status, created["meta"]["version"].as_str()), (201, Some("W/\"1\"")));
    let (status, error) = client.send(reqwest::Method::POST, "Users", Some(user("A@x.COM")), None).await;
    assert_eq!((status, error["scimType"].as_str()), (409, Some("uniqueness")));
    let mut odd = user("c@x.com");
    odd["nickname"] = json!("C");
    let (status, _) = client.send(reqwest::Method::POST, "Users", Some(odd), None).await;
    assert_eq!(status, 400);
    let (status, _) = client.send(reqwest::Method::POST, "Users", Some(json!({ "userName": "d" })), None).await;
    assert_eq!(status, 400, "schemas are required");
}

#[tokio::test]
async fn patch_replaces_known_paths_checks_versions_and_refuses_the_rest() {
    let client = Client::start(one_user()).await;
    let id = client.sandbox.users()[0].id.clone();
    let replace = |path: &str, value: Value| json!([{ "op": "replace", "path": path, "value": value }]);
    let (status, _) = client.patch(&id, replace("name.givenName", json!("Ann")), Some("W/\"1\"")).await;
    assert_eq!(status, 204);
    let (status, _) = client.patch(&id, replace("active", json!(false)), Some("W/\"1\"")).await;
    assert_eq!(status, 412, "the version moved on");
    let (status, error) = client.patch(&id, replace("emails[type eq \"work\"].value", json!("z")), None).await;
    assert_eq!((status, error["scimType"].as_str()), (400, Some("invalidPath")));
    let (status, _) = client.patch(&id, json!([{ "op": "add", "path": "displayName", "value": "x" }]), None).await;
    assert_eq!(status, 400);
    let (status, _) = client.patch(&id, replace("active", json!("no")), None).await;
    assert_eq!(status, 400);
    let (status, _) = client.patch("u999", replace("active", json!(false)), None).await;
    assert_eq!(status, 404);
    let stored = client.sandbox.user(&id).unwrap();
    assert_eq!((stored.given_name.as_deref(), stored.active, stored.version), (Some("Ann"), true, 2));
}

#[tokio::test]
async fn without_patch_only_put_changes_a_user() {
    let client = Client::start(one_user().without_patch()).await;
    let (_, config) = client.send(reqwest::Method::GET, "ServiceProviderConfig", None, None).await;
    assert_eq!(
        (config["patch"]["supported"].as_bool(), config["etag"]["supported"].as_bool()),
        (Some(false), Some(true))
    );
    let id = client.sandbox.users()[0].id.clone();
    let (status, _) = client.patch(&id, json!([{ "op": "replace", "path": "active", "value": false }]), None).await;
    assert_eq!(status, 501);
    let (_, mut resource) = client.send(reqwest::Method::GET, &format!("Users/{id}"), None, None).await;
    resource["active"] = json!(false);
    let (status, put) =
        client.send(reqwest::Method::PUT, &format!("Users/{id}"), Some(resource), Some("W/\"1\"")).await;
    assert_eq!((status, put["active"].as_bool(), put["meta"]["version"].as_str()), (200, Some(false), Some("W/\"2\"")));
    assert_eq!(client.sandbox.user(&id).unwrap().password.as_deref(), Some("pw-9"), "PUT keeps the password");
    assert_eq!(client.sandbox.writes().len(), 2);
}
