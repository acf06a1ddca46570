//! A real, independent SCIM 2.0 server for the integration tests: `scim2-server` from PyPI, started on loopback and seeded through SCIM itself.
//!
//! How it behaves (scim2-server 0.8): it serves under `/v2` (and at the root); `POST /Users`
//! needs only `userName`; it never fills `User.groups` (readOnly, dropped on write), so
//! group membership is only in `GET /Groups` (`members[].value`); it caps `count` at
//! `ServiceProviderConfig.filter.maxResults` (1000) and lists in a stable order (by id).
//! [`ScimServer::start_with_writable_groups`] serves a User schema whose `groups` a client
//! may write, to test sources that take memberships from `User.groups`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use url::Url;

const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A running scim2-server, killed on drop.
pub struct ScimServer {
    child: Child,
    /// The SCIM base, `http://127.0.0.1:PORT/v2`.
    pub base: Url,
    token: String,
    client: reqwest::Client,
    /// Where the server's own log goes (it logs every request to stderr).
    log: tempfile::NamedTempFile,
    _schema: Option<tempfile::NamedTempFile>,
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ROSTERD_SCIM2_SERVER`, else the venv that the test script installs.
fn binary() -> PathBuf {
    let path = match std::env::var_os("ROSTERD_SCIM2_SERVER") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/scim-venv/bin/scim2-server"),
    };
    if !path.exists() {
        panic!("scim2-server not installed: run the README's test command (scripts/test.sh), which installs it (looked for {})", path.display());
    }
    path
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("a bound address").port()
}

impl ScimServer {
    /// Start a server that accepts `token` as its bearer token.
    pub async fn start(token: &str) -> ScimServer {
        Self::start_with(token, None).await
    }

    /// Start a server whose User schema lets a client write `groups`, so users carry them.
    pub async fn start_with_writable_groups(token: &str) -> ScimServer {
        let plain = Self::start(token).await;
        let schemas = plain.get_json("Schemas").await;
        drop(plain);
        let file = tempfile::NamedTempFile::new().expect("a temp file");
        std::fs::write(file.path(), writable_groups(schemas).to_string()).expect("the schema file written");
        Self::start_with(token, Some(file)).await
    }

    /// Start a server announcing this ServiceProviderConfig (e.g. `filter.supported: false`).
    pub async fn start_with_provider_config(token: &str, config: &Value) -> ScimServer {
        let file = tempfile::NamedTempFile::new().expect("a temp file");
        std::fs::write(file.path(), config.to_string()).expect("the config file written");
        Self::start_with_arg(token, Some(("--service-provider-config", file))).await
    }

    async fn start_with(token: &str, schema: Option<tempfile::NamedTempFile>) -> ScimServer {
        Self::start_with_arg(token, schema.map(|f| ("--schema", f))).await
    }

    async fn start_with_arg(token: &str, file: Option<(&str, tempfile::NamedTempFile)>) -> ScimServer {
        let (flag, schema) = match file {
            Some((flag, f)) => (flag, Some(f)),
            None => ("--schema", None),
        };
        // A port picked free can be taken by someone else before the server binds it: try again.
        for _ in 0..3 {
            let mut server = Self::spawn(token, schema.as_ref().map(|f| (flag, f.path().to_path_buf())));
            if server.wait_until_ready().await {
                server._schema = schema;
                return server;
            }
        }
        panic!("scim2-server did not start after 3 tries");
    }

    fn spawn(token: &str, file: Option<(&str, PathBuf)>) -> ScimServer {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().expect("a temp file");
        let mut command = Command::new(binary());
        command.args(["--hostname", "127.0.0.1", "--port", &port.to_string(), "--bearer-token", token]);
        if let Some((flag, path)) = file {
            command.arg(flag).arg(path);
        }
        let stderr = log.reopen().expect("the log file");
        let child =
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn().expect("scim2-server starts");
        let base = Url::parse(&format!("http://127.0.0.1:{port}/v2")).expect("a url");
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("a client");
        ScimServer { child, base, token: token.to_string(), client, log, _schema: None }
    }

    /// Poll until it answers; false if it died (its port was taken) or never answered.
    async fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                eprintln!("scim2-server exited: {}", std::fs::read_to_string(self.log.path()).unwrap_or_default());
                return false;
            }
            let probe = self.client.get(self.url("ServiceProviderConfig")).bearer_auth(&self.token).send().await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// `{base}/{path}`.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}/{path}", self.base)).expect("a url")
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Value {
        let answer =
            request.bearer_auth(&self.token).header("Content-Type", "application/scim+json").send().await.expect(what);
        let status = answer.status();
        let body = answer.text().await.expect(what);
        assert!(status.is_success(), "{what}: HTTP {status}: {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// Send `body` to `path` with this server's token, as an administrator of it would: panics
    /// unless the answer is a success; returns its JSON (Null when it has none).
    pub async fn request(&self, method: reqwest::Method, path: &str, body: &Value) -> Value {
        self.send(self.client.request(method, self.url(path)).body(body.to_string()), path).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.send(self.client.get(self.url(path)), path).await
    }

    /// Create a user from a whole SCIM resource; returns its id.
    pub async fn create_user_json(&self, mut user: Value) -> String {
        user["schemas"] = json!([USER_URN]);
        let created = self.send(self.client.post(self.url("Users")).json(&user), "POST /Users").await;
        created["id"].as_str().expect("the new user's id").to_string()
    }

    /// Create a user from a whole SCIM resource, its `schemas` as given (extensions too).
    pub async fn create_user_as_is(&self, user: &Value) -> String {
        let created = self.send(self.client.post(self.url("Users")).json(user), "POST /Users").await;
        created["id"].as_str().expect("the new user's id").to_string()
    }

    /// The ids of the users the server's own evaluation of `filter` returns (up to 1000),
    /// or the server's error answer.
    pub async fn ids_matching(&self, filter: &str) -> Result<Vec<String>, String> {
        let mut url = self.url("Users");
        url.query_pairs_mut()
            .append_pair("filter", filter)
            .append_pair("count", "1000")
            .append_pair("attributes", "id");
        let answer = self.client.get(url).bearer_auth(&self.token).send().await.map_err(|e| e.to_string())?;
        let status = answer.status();
        let body = answer.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("HTTP {status}: {body}"));
        }
        let list: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let ids = list["Resources"].as_array().cloned().unwrap_or_default();
        Ok(ids.iter().filter_map(|r| r["id"].as_str().map(str::to_owned)).collect())
    }

    /// Create a user with the usual fields; returns its id.
    pub async fn create_user(&self, user_name: &str, given: &str, family: &str, email: &str, active: bool) -> String {
        self.create_user_json(json!({
            "userName": user_name,
            "name": { "givenName": given, "familyName": family },
            "emails": [{ "value": email, "type": "work", "primary": true }],
            "active": active,
        }))
        .await
    }

    /// Create a group holding these users; returns its id.
    pub async fn create_group(&self, name: &str, member_ids: &[String]) -> String {
        let members: Vec<Value> = member_ids.iter().map(|id| json!({ "value": id, "type": "User" })).collect();
        let group = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members });
        let created = self.send(self.client.post(self.url("Groups")).json(&group), "POST /Groups").await;
        created["id"].as_str().expect("the new group's id").to_string()
    }

    /// Delete a user (a hard delete at the identity provider).
    pub async fn delete_user(&self, id: &str) {
        let answer = self.client.delete(self.url(&format!("Users/{id}"))).bearer_auth(&self.token).send().await;
        assert!(answer.expect("DELETE /Users/{id}").status().is_success());
    }

    pub async fn patch_user_active(&self, id: &str, active: bool) {
        self.patch(id, json!({ "op": "replace", "path": "active", "value": active })).await;
    }

    pub async fn replace_email(&self, id: &str, email: &str) {
        let emails = json!([{ "value": email, "type": "work", "primary": true }]);
        self.patch(id, json!({ "op": "replace", "path": "emails", "value": emails })).await;
    }

    async fn patch(&self, id: &str, operation: Value) {
        let body = json!({ "schemas": [PATCH_URN], "Operations": [operation] });
        self.send(self.client.patch(self.url(&format!("Users/{id}"))).json(&body), "PATCH /Users/{id}").await;
    }
}

/// The server's own schemas, with `User.groups` (and its sub-attributes) made readWrite.
fn writable_groups(schemas: Value) -> Value {
    let mut list = schemas["Resources"].as_array().cloned().expect("the schemas");
    for schema in &mut list {
        schema.as_object_mut().expect("a schema").remove("meta");
        let attributes = schema["attributes"].as_array_mut().expect("attributes");
        for attribute in attributes.iter_mut().filter(|a| a["name"] == "groups") {
            attribute["mutability"] = json!("readWrite");
            for sub in attribute["subAttributes"].as_array_mut().into_iter().flatten() {
                sub["mutability"] = json!("readWrite");
            }
        }
    }
    Value::Array(list)
}
