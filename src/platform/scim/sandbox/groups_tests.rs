//! The emulator's `/Groups` refuses what a strict provider refuses.

use super::super::{ScimSandboxOptions, ScimUser, MEDIA_TYPE, PATCH_URN};
use super::*;

async fn sandbox(options: ScimSandboxOptions) -> (ScimSandbox, String) {
    let options = options.with_user(ScimUser::new("a@x.com", "A", "B", "a@x.com"));
    let sandbox = ScimSandbox::start(options).await.unwrap();
    let user = sandbox.users()[0].id.clone();
    (sandbox, user)
}

async fn send(
    sandbox: &ScimSandbox,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().request(method, format!("{}/{path}", sandbox.base_url())).bearer_auth(sandbox.token());
    if let Some(body) = body {
        request = request.header("Content-Type", MEDIA_TYPE).body(body.to_string());
    }
    if let Some(tag) = if_match {
        request = request.header("If-Match", tag);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap_or(Value::Null))
}

fn group_body(name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
    json!({ "schemas": [GROUP_URN], "displayName": name, "externalId": "src-1", "members": members })
}

fn patch(operations: Value) -> Option<Value> {
    Some(json!({ "schemas": [PATCH_URN], "Operations": operations }))
}

#[tokio::test]
async fn create_needs_the_schema_a_free_name_and_known_members() {
    let (sandbox, user) = sandbox(ScimSandboxOptions::default()).await;
    let post = |body| send(&sandbox, reqwest::Method::POST, "Groups", Some(body), None);
    let (status, created) = post(group_body("Eng", &[&user])).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["members"][0]["value"].as_str(), created["members"][0]["type"].as_str()),
        (Some(user.as_str()), Some("User"))
    );
    assert_eq!(post(group_body("ENG", &[])).await.1["scimType"], "uniqueness");
    assert_eq!(post(group_body("Ops", &["nobody"])).await.1["scimType"], "invalidValue");
    assert_eq!(post(json!({ "schemas": [GROUP_URN], "displayName": " " })).await.0, 400);
    assert_eq!(post(json!({ "displayName": "NoSchema" })).await.0, 400);
    assert_eq!(
        post(json!({ "schemas": [GROUP_URN], "displayName": "X", "owner": "me" })).await.1["scimType"],
        "invalidSyntax"
    );
    assert_eq!(sandbox.groups().len(), 1);
}

#[tokio::test]
async fn patch_renames_adds_and_removes_members_checks_versions_and_refuses_the_rest() {
    let (sandbox, user) = sandbox(ScimSandboxOptions::default()).await;
    let group = sandbox.insert_group(ScimGroup::new("Eng", &[]));
    let path = format!("Groups/{}", group.id);
    let add = json!([{ "op": "add", "path": "members", "value": [{ "value": user }] }, { "op": "replace", "path": "displayName", "value": "Engineering" }]);
    assert_eq!(send(&sandbox, reqwest::Method::PATCH, &path, patch(add), Some("W/\"1\"")).await.0, 204);
    let stored = sandbox.group_by_name("Engineering").unwrap();
    assert_eq!((stored.members.clone(), stored.version), (vec![user.clone()], 2));
    let stale = json!([{ "op": "replace", "path": "displayName", "value": "Late" }]);
    assert_eq!(send(&sandbox, reqwest::Method::PATCH, &path, patch(stale), Some("W/\"1\"")).await.0, 412);
    let remove = json!([{ "op": "remove", "path": format!("members[value eq \"{user}\"]") }]);
    assert_eq!(send(&sandbox, reqwest::Method::PATCH, &path, patch(remove), None).await.0, 204);
    assert!(sandbox.group_by_name("Engineering").unwrap().members.is_empty());
    let unsupported = json!([{ "op": "replace", "path": "members", "value": [] }]);
    assert_eq!(
        send(&sandbox, reqwest::Method::PATCH, &path, patch(unsupported), None).await.1["scimType"],
        "invalidPath"
    );
    let (status, _) = send(
        &sandbox,
        reqwest::Method::PATCH,
        "Groups/g999",
        patch(json!([{ "op": "add", "path": "members", "value": [] }])),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn without_patch_a_group_changes_only_by_put_and_delete_removes_it() {
    let (sandbox, user) = sandbox(ScimSandboxOptions::default().without_patch()).await;
    let group = sandbox.insert_group(ScimGroup::new("Eng", &[]));
    let path = format!("Groups/{}", group.id);
    let rename = json!([{ "op": "replace", "path": "displayName", "value": "X" }]);
    assert_eq!(send(&sandbox, reqwest::Method::PATCH, &path, patch(rename), None).await.0, 501);
    let mut body = group_body("Platform", &[&user]);
    body["id"] = json!("other");
    assert_eq!(send(&sandbox, reqwest::Method::PUT, &path, Some(body.clone()), None).await.1["scimType"], "mutability");
    body["id"] = json!(group.id);
    let (status, put) = send(&sandbox, reqwest::Method::PUT, &path, Some(body), Some("W/\"1\"")).await;
    assert_eq!(
        (status, put["displayName"].as_str(), put["meta"]["version"].as_str()),
        (200, Some("Platform"), Some("W/\"2\""))
    );
    let (_, listed) = send(&sandbox, reqwest::Method::GET, "Groups?startIndex=1&count=10", None, None).await;
    assert_eq!(listed["totalResults"], 1);
    assert_eq!(send(&sandbox, reqwest::Method::GET, "Groups?filter=x", None, None).await.0, 400);
    assert_eq!(send(&sandbox, reqwest::Method::DELETE, &path, None, None).await.0, 204);
    assert_eq!(send(&sandbox, reqwest::Method::DELETE, &path, None, None).await.0, 404);
    assert!(sandbox.groups().is_empty());
    let reqwest_unauthorized =
        reqwest::Client::new().get(format!("{}/Groups", sandbox.base_url())).send().await.unwrap();
    assert_eq!(reqwest_unauthorized.status().as_u16(), 401);
}
