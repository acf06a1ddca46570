//! A fault-injecting reverse proxy on loopback: put it in front of any HTTP server (a real SCIM server, an emulator) and tell it which requests to spoil.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rosterd::sandbox::proxy::{Fault, FaultProxy, RequestInfo};
//! let upstream = url::Url::parse("http://127.0.0.1:8080/v2").expect("a url");
//! let proxy = FaultProxy::start(upstream).await?;
//! proxy.fail_when(|r: &RequestInfo| r.path.ends_with("/Users") && r.query_param("startIndex") == Some("101"), Fault::Status(503));
//! // ... point the client at proxy.url() ...
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use url::Url;

use super::server::LoopbackServer;

/// Request bodies larger than this are refused: the proxy is for tests, not uploads.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What a fault rule sees of a request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: String,
    /// The path as the client sent it to the proxy, e.g. `/Users`.
    pub path: String,
    /// The decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

impl RequestInfo {
    /// The first value of a query parameter (names compared exactly).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// How to spoil a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with a SCIM Error body, without asking the upstream.
    Status(u16),
    /// Serve this many fewer `Resources` than the upstream did, keeping `totalResults`
    /// (a listing cut short without saying so). The last ones are dropped.
    Truncate(usize),
    /// Answer 200 with a body that is not JSON, without asking the upstream.
    Garbage,
    /// Add this much to the upstream's `totalResults`.
    InflateTotal(u64),
}

type Predicate = Box<dyn Fn(&RequestInfo) -> bool + Send + Sync>;

struct Rule {
    when: Predicate,
    fault: Fault,
    /// How many more requests this rule spoils; `None` is every one.
    remaining: Option<usize>,
}

struct Shared {
    upstream: Url,
    client: reqwest::Client,
    // std Mutex: held for a few instructions, never across an `.await`.
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<RequestInfo>>,
}

/// The running proxy. Stops on [`FaultProxy::shutdown`] or when dropped.
pub struct FaultProxy {
    url: Url,
    shared: Arc<Shared>,
    server: LoopbackServer,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.server.addr())
            .field("upstream", &self.shared.upstream.as_str())
            .finish()
    }
}

impl FaultProxy {
    /// Listen on `127.0.0.1:0` and forward every request to `upstream`, whose path is
    /// prefixed: with upstream `http://h/v2`, the proxy's `/Users` is `http://h/v2/Users`.
    pub async fn start(upstream: Url) -> std::io::Result<FaultProxy> {
        // No system proxy for loopback traffic, and no redirects: the client sees what the upstream said.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared { upstream, client, rules: Mutex::new(Vec::new()), seen: Mutex::new(Vec::new()) });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = LoopbackServer::start(app, "fault proxy").await?;
        let url = server.url("/")?;
        Ok(FaultProxy { url, shared, server })
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Spoil every request that matches, from now on. The first matching rule wins.
    pub fn fail_when(&self, when: impl Fn(&RequestInfo) -> bool + Send + Sync + 'static, fault: Fault) {
        self.add_rule(Box::new(when), fault, None);
    }

    /// Spoil only the next `times` requests that match (e.g. one 503 that a retry gets past).
    pub fn fail_times(&self, times: usize, when: impl Fn(&RequestInfo) -> bool + Send + Sync + 'static, fault: Fault) {
        self.add_rule(Box::new(when), fault, Some(times));
    }

    /// Forward everything faithfully again.
    pub fn clear_faults(&self) {
        lock(&self.shared.rules).clear();
    }

    /// How many requests reached the proxy.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.seen).len()
    }

    /// Every request that reached the proxy, in order.
    pub fn requests(&self) -> Vec<RequestInfo> {
        lock(&self.shared.seen).clone()
    }

    /// Stop taking requests and wait (briefly: clients may hold idle connections open) for the server to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    fn add_rule(&self, when: Predicate, fault: Fault, remaining: Option<usize>) {
        lock(&self.shared.rules).push(Rule { when, fault, remaining });
    }
}

/// A poisoned lock only means a test panicked elsewhere; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// Log the request and pick the fault of the first rule that matches, using up one of its times.
    fn fault_for(&self, info: &RequestInfo) -> Option<Fault> {
        lock(&self.seen).push(info.clone());
        let mut rules = lock(&self.rules);
        let rule = rules.iter_mut().find(|r| r.remaining != Some(0) && (r.when)(info))?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        Some(rule.fault.clone())
    }

    fn target(&self, path: &str, query: Option<&str>) -> Url {
        let mut url = self.upstream.clone();
        let joined = format!("{}{path}", self.upstream.path().trim_end_matches('/'));
        url.set_path(&joined);
        url.set_query(query);
        url
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let info = request_info(&request);
    match shared.fault_for(&info) {
        Some(Fault::Status(status)) => scim_error(status),
        Some(Fault::Garbage) => garbage(),
        fault => match forward(&shared, request).await {
            Ok(answer) => spoil(answer, fault),
            Err(detail) => (StatusCode::BAD_GATEWAY, format!("fault proxy: upstream failed: {detail}")).into_response(),
        },
    }
}

fn request_info(request: &Request) -> RequestInfo {
    let uri = request.uri();
    let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
    RequestInfo { method: request.method().to_string(), path: uri.path().to_string(), query }
}

/// The upstream's answer, held whole so a fault can rewrite it.
struct Upstream {
    status: StatusCode,
    headers: HeaderMap,
    body: bytes::Bytes,
}

async fn forward(shared: &Shared, request: Request) -> Result<Upstream, String> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| e.to_string())?;
    let url = shared.target(parts.uri.path(), parts.uri.query());
    let mut outgoing = shared.client.request(parts.method, url).body(body);
    for (name, value) in parts.headers.iter().filter(|(n, _)| passes(n) && *n != axum::http::header::HOST) {
        outgoing = outgoing.header(name, value);
    }
    let answer = outgoing.send().await.map_err(|e| e.without_url().to_string())?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.map_err(|e| e.without_url().to_string())?;
    Ok(Upstream { status, headers, body })
}

/// Hop-by-hop headers and the length (a fault may change the body) are not passed on.
fn passes(name: &HeaderName) -> bool {
    const HOP: [&str; 6] = ["connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"];
    !HOP.contains(&name.as_str())
}

fn spoil(answer: Upstream, fault: Option<Fault>) -> Response {
    let body = match fault {
        Some(Fault::Truncate(n)) => rewrite_listing(&answer.body, |list| truncate(list, n)),
        Some(Fault::InflateTotal(k)) => rewrite_listing(&answer.body, |list| inflate(list, k)),
        _ => answer.body,
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = answer.status;
    for (name, value) in answer.headers.iter().filter(|(n, _)| passes(n)) {
        response.headers_mut().append(name, value.clone());
    }
    response
}

/// Apply `change` to a ListResponse; a body that is not one is passed on untouched.
fn rewrite_listing(body: &bytes::Bytes, change: impl FnOnce(&mut Value)) -> bytes::Bytes {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut listing) if listing.get("totalResults").is_some() => {
            change(&mut listing);
            bytes::Bytes::from(listing.to_string())
        }
        _ => body.clone(),
    }
}

fn truncate(listing: &mut Value, n: usize) {
    if let Some(resources) = listing.get_mut("Resources").and_then(Value::as_array_mut) {
        resources.truncate(resources.len().saturating_sub(n));
        let held = resources.len();
        listing["itemsPerPage"] = json!(held);
    }
}

fn inflate(listing: &mut Value, k: u64) {
    if let Some(total) = listing.get("totalResults").and_then(Value::as_u64) {
        listing["totalResults"] = json!(total + k);
    }
}

fn scim_error(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "status": code.as_u16().to_string(),
        "detail": "fault injected by the test proxy",
    });
    (code, [(axum::http::header::CONTENT_TYPE, "application/scim+json")], body.to_string()).into_response()
}

fn garbage() -> Response {
    let body = "<html><body>502 Bad Gateway (but sent as 200)</body>";
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/scim+json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers a fixed ListResponse of `n` resources.
    async fn listing_upstream(n: usize) -> Url {
        let resources: Vec<Value> = (0..n).map(|i| json!({ "id": format!("u{i}") })).collect();
        let body = json!({ "totalResults": n, "itemsPerPage": n, "startIndex": 1, "Resources": resources }).to_string();
        let app = Router::new().fallback(move || {
            let body = body.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/scim+json")], body) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Url::parse(&format!("http://{addr}/v2")).unwrap()
    }

    async fn get(url: Url) -> (u16, String) {
        let answer = reqwest::Client::builder().no_proxy().build().unwrap().get(url).send().await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    #[tokio::test]
    async fn forwards_faithfully_and_counts() {
        let proxy = FaultProxy::start(listing_upstream(3).await).await.unwrap();
        let (status, body) = get(proxy.url().join("Users?startIndex=1").unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["Resources"].as_array().unwrap().len(), 3);
        assert_eq!(proxy.request_count(), 1);
        assert_eq!(proxy.requests()[0].query_param("startIndex"), Some("1"));
        proxy.shutdown().await;
    }

    #[tokio::test]
    async fn faults_match_and_wear_out() {
        let proxy = FaultProxy::start(listing_upstream(5).await).await.unwrap();
        proxy.fail_times(1, |r| r.query_param("startIndex") == Some("6"), Fault::Status(503));
        proxy.fail_when(|r| r.path.ends_with("/Users"), Fault::Truncate(2));
        proxy.fail_when(|r| r.path.ends_with("/Groups"), Fault::InflateTotal(4));
        proxy.fail_when(|r| r.path.ends_with("/Bad"), Fault::Garbage);
        assert_eq!(get(proxy.url().join("Users?startIndex=6").unwrap()).await.0, 503);
        let (_, body) = get(proxy.url().join("Users?startIndex=6").unwrap()).await;
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((page["totalResults"].as_u64(), page["Resources"].as_array().map(Vec::len)), (Some(5), Some(3)));
        let (_, body) = get(proxy.url().join("Groups").unwrap()).await;
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["totalResults"], 9);
        let (status, body) = get(proxy.url().join("Bad").unwrap()).await;
        assert!(status == 200 && serde_json::from_str::<Value>(&body).is_err());
        proxy.clear_faults();
        assert_eq!(get(proxy.url().join("Bad").unwrap()).await.0, 200);
        assert_eq!(proxy.request_count(), 5);
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_bad_gateway() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let proxy = FaultProxy::start(dead).await.unwrap();
        assert_eq!(get(proxy.url().join("Users").unwrap()).await.0, 502);
    }
}
