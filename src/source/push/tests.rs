//! The service provider over HTTP on loopback: auth, CRUD, PATCH, filters, paging, errors,
//! and the Entra ID and Okta dialects, each checked against what was journaled.

use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::source::Source;

const TOKEN: &str = "push-test-token";

/// A journal on a temporary sled db that remembers what was recorded.
struct TestJournal {
    db: sled::Db,
    entries: Mutex<Vec<(String, bool)>>,
}

impl Journal for TestJournal {
    fn db(&self) -> &sled::Db {
        &self.db
    }

    fn record(&self, person_id: &str, deactivates: bool) -> Result<(), JournalError> {
        self.entries.lock().unwrap().push((person_id.to_string(), deactivates));
        Ok(())
    }
}

/// A running service provider.
struct Sp {
    base: String,
    journal: Arc<TestJournal>,
    http: reqwest::Client,
}

fn settings() -> PushSettings {
    PushSettings { token: TOKEN.to_string().into(), max_body_bytes: 4096, public_url: None }
}

impl Sp {
    async fn start() -> Sp {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let journal = Arc::new(TestJournal { db, entries: Mutex::default() });
        let provider = Provider::new(settings(), journal.clone()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, http::router(provider)).await });
        Sp { base: format!("http://{addr}/scim/v2"), journal, http: reqwest::Client::new() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn patch(&self, path: &str, ops: Value) -> (StatusCode, Value) {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// What was journaled since the last call.
    fn journaled(&self) -> Vec<(String, bool)> {
        std::mem::take(&mut *self.journal.entries.lock().unwrap())
    }

    /// The push source over the same store.
    fn source(&self) -> PushSource {
        let source = PushSource::new(settings());
        source.attach_journal(self.journal.clone());
        source
    }
}

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Jo", "familyName": "Doe"},
        "emails": [{"value": name, "type": "work", "primary": true}],
        "active": true,
    })
}

fn id(resource: &Value) -> String {
    resource["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn refuses_without_the_token_in_scim_error_shape() {
    let sp = Sp::start().await;
    for auth in [None, Some("Bearer wrong"), Some("Basic cHVzaDpwdXNo")] {
        let mut request = sp.http.get(format!("{}/Users", sp.base));
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(response.headers()["content-type"], "application/scim+json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert_eq!(body["status"], "401");
    }
    assert!(sp.journaled().is_empty());
}

#[tokio::test]
async fn creates_reads_and_refuses_a_taken_user_name() {
    let sp = Sp::start().await;
    let created = sp.post("/Users", user("jo@example.com")).await;
    let jo = id(&created);
    assert_eq!(uuid::Uuid::parse_str(&jo).unwrap().get_version_num(), 4);
    assert_eq!(created["meta"]["resourceType"], "User");
    assert_eq!(created["meta"]["location"], format!("{}/Users/{jo}", sp.base));
    assert!(created["meta"]["created"].is_string() && created["meta"]["version"].is_string());
    assert_eq!(sp.journaled(), [(jo.clone(), false)]);
    let (status, again) = sp.call(Method::POST, "/Users", Some(user("JO@example.com"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!((again["status"].as_str(), again["scimType"].as_str()), (Some("409"), Some("uniqueness")));
    let (status, read) = sp.call(Method::GET, &format!("/Users/{jo}"), None).await;
    assert_eq!((status, read["userName"].as_str()), (StatusCode::OK, Some("jo@example.com")));
    let (status, gone) = sp.call(Method::GET, "/Users/no-such-id", None).await;
    assert_eq!((status, gone["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")));
    assert!(sp.journaled().is_empty(), "reads and refusals journal nothing");
}

#[tokio::test]
async fn lists_with_filters_and_one_based_paging() {
    let sp = Sp::start().await;
    for name in ["ann", "bob", "abe", "cy", "al"] {
        sp.post("/Users", json!({"schemas": [schema::USER_URN], "userName": name, "externalId": format!("x-{name}")}))
            .await;
    }
    let (_, page) = sp.call(Method::GET, "/Users?startIndex=2&count=2", None).await;
    assert_eq!(
        (page["totalResults"].as_u64(), page["startIndex"].as_u64(), page["itemsPerPage"].as_u64()),
        (Some(5), Some(2), Some(2))
    );
    assert_eq!(page["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:ListResponse");
    let names = |page: &Value| -> Vec<String> {
        let mut n: Vec<String> =
            page["Resources"].as_array().unwrap().iter().map(|r| r["userName"].as_str().unwrap().into()).collect();
        n.sort();
        n
    };
    let cases = [
        ("userName eq \"BOB\"", vec!["bob"]),
        ("externalId eq \"x-cy\"", vec!["cy"]),
        ("userName sw \"a\" and userName co \"n\"", vec!["ann"]),
        ("userName eq \"cy\" or userName eq \"al\"", vec!["al", "cy"]),
        ("externalId pr and userName ew \"e\"", vec!["abe"]),
        ("meta.lastModified gt \"2000-01-01T00:00:00Z\" and userName sw \"b\"", vec!["bob"]),
        ("userName eq \"nobody\"", vec![]),
    ];
    for (filter, want) in cases {
        let (status, page) = sp.call(Method::GET, &format!("/Users?filter={}", urlencode(filter)), None).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {page}");
        assert_eq!(names(&page), want, "{filter}");
        assert_eq!(page["totalResults"].as_u64(), Some(want.len() as u64));
    }
    let (_, first) = sp.call(Method::GET, &format!("/Users?filter={}", urlencode("userName eq \"ann\"")), None).await;
    let ann = id(&first["Resources"][0]);
    let (_, by_id) =
        sp.call(Method::GET, &format!("/Users?filter={}", urlencode(&format!("id eq \"{ann}\""))), None).await;
    assert_eq!(names(&by_id), ["ann"]);
    let (status, bad) = sp.call(Method::GET, &format!("/Users?filter={}", urlencode("userName eq")), None).await;
    assert_eq!((status, bad["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidFilter")));
    let (_, empty) = sp.call(Method::GET, "/Users?startIndex=9&count=-1", None).await;
    assert_eq!((empty["totalResults"].as_u64(), empty["itemsPerPage"].as_u64()), (Some(5), Some(0)));
    let (_, cut) = sp.call(Method::GET, "/Users?attributes=userName&count=1", None).await;
    let keys: Vec<&String> = cut["Resources"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "schemas", "userName"]);
    let (_, without) = sp.call(Method::GET, "/Users?excludedAttributes=externalId,meta&count=1", None).await;
    assert!(without["Resources"][0].get("externalId").is_none() && without["Resources"][0].get("meta").is_none());
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Entra ID's dialect, as its SCIM provisioning documents it ("Develop a sample SCIM endpoint"
/// / "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
/// learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups):
/// a probe by userName before create, capitalised ops, booleans as strings, path-less
/// replaces whose keys are paths, the enterprise URN, and `excludedAttributes=members`.
#[tokio::test]
async fn entra_dialect() {
    let sp = Sp::start().await;
    let probe = format!("/Users?filter={}", urlencode("userName eq \"Test_User_ab6490ee@contoso.com\""));
    let (status, empty) = sp.call(Method::GET, &probe, None).await;
    assert_eq!((status, empty["totalResults"].as_u64()), (StatusCode::OK, Some(0)));
    assert_eq!(empty["Resources"], json!([]));
    let created = sp
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", schema::ENTERPRISE_URN],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee@contoso.com",
                "active": "True",
                "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "roles": [],
                (schema::ENTERPRISE_URN): {"department": "Sales"},
            }),
        )
        .await;
    let u = id(&created);
    assert_eq!(created["active"], json!(true));
    sp.journaled();
    let (status, patched) = sp
        .patch(
            &format!("/Users/{u}"),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "value": {"name.givenName": "Ada", "name.familyName": "Lovelace",
                    (format!("{}:department", schema::ENTERPRISE_URN)): "Finance"}},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
            {"op": "Add", "path": format!("{}:manager", schema::ENTERPRISE_URN), "value": "mgr-7"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:CustomExt:2.0:User:shoeSize", "value": "42"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["emails"], json!([{"primary": true, "type": "work", "value": "updatedEmail@microsoft.com"}]));
    assert_eq!(
        (patched["name"]["givenName"].as_str(), patched["name"]["familyName"].as_str()),
        (Some("Ada"), Some("Lovelace"))
    );
    assert_eq!(patched[schema::ENTERPRISE_URN]["department"], "Finance");
    assert_eq!(patched["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555 0100"}]));
    assert_eq!(patched[schema::ENTERPRISE_URN]["manager"], json!({"value": "mgr-7"}));
    assert_eq!(patched["addresses"], json!([{"type": "work", "formatted": "1 Main St"}]));
    assert!(!patched.to_string().contains("shoeSize"), "an attribute not kept is ignored");
    assert_eq!(sp.journaled(), [(u.clone(), false)]);
    let (status, off) =
        sp.patch(&format!("/Users/{u}"), json!([{"op": "Replace", "path": "active", "value": "False"}])).await;
    assert_eq!((status, off["active"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(sp.journaled(), [(u.clone(), true)], "active turning false is a deactivation");
    let (_, on) = sp.patch(&format!("/Users/{u}"), json!([{"op": "Replace", "value": {"active": "True"}}])).await;
    assert_eq!(on["active"], json!(true));
    assert_eq!(sp.journaled(), [(u.clone(), false)]);
    let group = sp
        .post(
            "/Groups",
            json!({"schemas": [schema::GROUP_URN], "displayName": "Group1", "externalId": "g-1", "members": []}),
        )
        .await;
    let g = id(&group);
    let (status, _) =
        sp.patch(&format!("/Groups/{g}"), json!([{"op": "Add", "path": "members", "value": [{"value": u}]}])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sp.journaled(), [(u.clone(), false)], "a member added is reconciled");
    let (_, listed) = sp
        .call(
            Method::GET,
            &format!("/Groups?excludedAttributes=members&filter={}", urlencode("displayName eq \"Group1\"")),
            None,
        )
        .await;
    assert_eq!(listed["totalResults"].as_u64(), Some(1));
    assert!(listed["Resources"][0].get("members").is_none());
    let (_, read) = sp.call(Method::GET, &format!("/Users/{u}"), None).await;
    assert_eq!(read["groups"][0]["display"], "Group1");
    let (status, _) =
        sp.patch(&format!("/Groups/{g}"), json!([{"op": "Remove", "path": "members", "value": [{"value": u}]}])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sp.journaled(), [(u.clone(), false)]);
    let (status, _) = sp.call(Method::DELETE, &format!("/Users/{u}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(sp.journaled(), [(u.clone(), true)]);
}

/// Okta's dialect, as its SCIM 2.0 reference documents it (developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20):
/// a probe by userName, PUT of the whole user for profile changes and for `active: false`,
/// and Group Push: POST Groups, PATCH members add / remove by value filter, PUT Groups.
#[tokio::test]
async fn okta_dialect() {
    let sp = Sp::start().await;
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true,
    });
    let u = id(&sp.post("/Users", body.clone()).await);
    sp.journaled();
    body["id"] = json!(u);
    body["name"]["familyName"] = json!("Renamed");
    let (status, put) = sp.call(Method::PUT, &format!("/Users/{u}"), Some(body.clone())).await;
    assert_eq!((status, put["name"]["familyName"].as_str()), (StatusCode::OK, Some("Renamed")));
    assert!(put.get("password").is_none(), "a password is never kept");
    assert_eq!(sp.journaled(), [(u.clone(), false)]);
    body["active"] = json!(false);
    let (_, off) = sp.call(Method::PUT, &format!("/Users/{u}"), Some(body.clone())).await;
    assert_eq!(off["active"], json!(false));
    assert_eq!(sp.journaled(), [(u.clone(), true)]);
    let (_, on) = sp.patch(&format!("/Users/{u}"), json!([{"op": "replace", "value": {"active": true}}])).await;
    assert_eq!(on["active"], json!(true));
    assert_eq!(sp.journaled(), [(u.clone(), false)]);
    let v = id(&sp.post("/Users", user("second@okta.local")).await);
    sp.journaled();
    let group = sp.post("/Groups", json!({"schemas": [schema::GROUP_URN], "displayName": "Test SCIMv2", "members": [{"value": u, "display": "test.user@okta.local"}]})).await;
    let g = id(&group);
    assert_eq!(sp.journaled(), [(u.clone(), false)]);
    let (status, _) = sp
        .patch(
            &format!("/Groups/{g}"),
            json!([
                {"op": "remove", "path": format!("members[value eq \"{u}\"]")},
                {"op": "add", "path": "members", "value": [{"value": v, "display": "second@okta.local"}]},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut touched = sp.journaled();
    touched.sort();
    let mut want = vec![(u.clone(), false), (v.clone(), false)];
    want.sort();
    assert_eq!(touched, want);
    let (status, renamed) = sp
        .call(
            Method::PUT,
            &format!("/Groups/{g}"),
            Some(json!({"schemas": [schema::GROUP_URN], "id": g, "displayName": "Renamed", "members": [{"value": v}]})),
        )
        .await;
    assert_eq!((status, renamed["displayName"].as_str()), (StatusCode::OK, Some("Renamed")));
    let roster = sp.source().read().await.unwrap();
    let second = roster.people.iter().find(|p| p.id == v.as_str()).unwrap();
    assert_eq!(second.groups.iter().map(|g| g.display().to_string()).collect::<Vec<_>>(), ["Renamed"]);
}

#[tokio::test]
async fn delete_keeps_a_tombstone_that_a_later_post_revives() {
    let sp = Sp::start().await;
    let mut body = user("leaver@example.com");
    body["externalId"] = json!("ext-1");
    let u = id(&sp.post("/Users", body.clone()).await);
    sp.journaled();
    assert_eq!(sp.call(Method::DELETE, &format!("/Users/{u}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(sp.journaled(), [(u.clone(), true)]);
    assert_eq!(sp.call(Method::GET, &format!("/Users/{u}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(sp.call(Method::DELETE, &format!("/Users/{u}"), None).await.0, StatusCode::NOT_FOUND);
    let (_, list) = sp.call(Method::GET, "/Users", None).await;
    assert_eq!(list["totalResults"].as_u64(), Some(0));
    let roster = sp.source().read().await.unwrap();
    assert!(!roster.complete);
    assert_eq!(roster.incomplete_reason.as_deref(), Some(NEVER_COMPLETE));
    assert_eq!(roster.people.iter().map(|p| (p.id.as_str(), p.active)).collect::<Vec<_>>(), [(u.as_str(), false)]);
    let revived = sp.post("/Users", body).await;
    assert_eq!(id(&revived), u, "the same person comes back, not a twin");
    assert_eq!(sp.journaled(), [(u.clone(), false)]);
    let query = crate::source::person::PersonQuery::new(&u).unwrap();
    let one = sp.source().read_person(&query).await.unwrap();
    assert!(one.complete, "the store answers for one person in full");
    assert_eq!(one.people.iter().map(|p| (p.id.as_str(), p.active)).collect::<Vec<_>>(), [(u.as_str(), true)]);
}

#[tokio::test]
async fn errors_say_what_is_wrong_in_scim_shape() {
    let sp = Sp::start().await;
    let u = id(&sp.post("/Users", user("e@example.com")).await);
    let at = format!("/Users/{u}");
    let cases = [
        (json!([{"op": "move", "path": "title", "value": "x"}]), "invalidSyntax"),
        (json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]), "invalidPath"),
        (json!([{"op": "replace", "path": "name", "value": 7}]), "invalidValue"),
        (json!([{"op": "replace", "path": "id", "value": "x"}]), "mutability"),
        (json!([{"op": "remove"}]), "noTarget"),
        (json!([{"op": "replace", "path": "active", "value": "maybe"}]), "invalidValue"),
        (json!([{"op": "remove", "path": "userName"}]), "invalidValue"),
        (
            json!([{"op": "replace", "path": "emails[type eq \"home\" and primary eq true].value", "value": "x"}]),
            "noTarget",
        ),
    ];
    for (ops, scim_type) in cases {
        let (status, body) = sp.patch(&at, ops.clone()).await;
        assert_eq!((status, body["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some(scim_type)), "{ops}: {body}");
        assert_eq!(body["status"], "400");
    }
    let (status, _) = sp.call(Method::PATCH, &at, Some(json!({"Operations": []}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = sp.call(Method::POST, "/Users", Some(json!({"schemas": [schema::USER_URN]}))).await;
    assert_eq!((status, body["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")));
    let (status, body) = sp.call(Method::GET, "/Nowhere", None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::NOT_FOUND, Some("404")));
    let stale = sp.http.delete(format!("{}{at}", sp.base)).bearer_auth(TOKEN).header("if-match", "W/\"99\"");
    assert_eq!(stale.send().await.unwrap().status(), StatusCode::PRECONDITION_FAILED);
    let (status, body) = sp.call(Method::POST, "/Users", Some(json!({"userName": "x".repeat(5000)}))).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("413")));
    let (status, body) =
        sp.call(Method::POST, "/Groups", Some(json!({"displayName": "G", "members": [{"value": "ghost"}]}))).await;
    assert_eq!((status, body["scimType"].as_str()), (StatusCode::BAD_REQUEST, Some("invalidValue")));
    assert_eq!(sp.journaled(), [(u, false)], "only the first create was journaled");
}

#[tokio::test]
async fn discovery_describes_what_is_kept() {
    let sp = Sp::start().await;
    let (_, spc) = sp.call(Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(
        (spc["patch"]["supported"].clone(), spc["filter"]["maxResults"].clone()),
        (json!(true), json!(list::MAX_RESULTS))
    );
    let (_, types) = sp.call(Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types["totalResults"], 2);
    let (_, user) = sp.call(Method::GET, &format!("/Schemas/{}", schema::USER_URN), None).await;
    let attrs = user["attributes"].as_array().unwrap();
    let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
    assert_eq!((emails["multiValued"].clone(), emails["type"].clone()), (json!(true), json!("complex")));
    assert!(emails["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "primary" && s["type"] == "boolean"));
    let groups = attrs.iter().find(|a| a["name"] == "groups").unwrap();
    assert_eq!(groups["mutability"], "readOnly");
    let (_, all) = sp.call(Method::GET, "/Schemas", None).await;
    assert_eq!(all["totalResults"], 3);
}

proptest::proptest! {
    /// No PATCH path or value, however odd, makes the service provider panic.
    #[test]
    fn no_patch_path_or_value_panics(
        path in "(urn:[a-zA-Z:.0-9]{0,60}:)?[a-zA-Z$€]{0,10}(\\[[^\\]]{0,24}\\]?)?(\\.[a-zA-Z€]{0,8})?",
        op in "(add|Replace|remove|x)",
        value in proptest::prelude::any::<String>(),
    ) {
        let _ = path::parse(resource::Kind::User, &path);
        let mut body = serde_json::Map::new();
        body.insert("emails".into(), json!([{"type": "work", "value": "a@b"}]));
        for v in [json!(value), json!({ path.clone(): value }), json!([{"value": value}])] {
            let request = json!({"schemas": [crate::platform::scim::wire::PATCH_URN], "Operations": [{"op": op, "path": path, "value": v}]});
            let Value::Object(request) = request else { continue };
            if patch::apply(resource::Kind::User, &mut body, &request).is_ok() {
                let _ = resource::canonical(resource::Kind::User, &body);
            }
        }
    }
}
