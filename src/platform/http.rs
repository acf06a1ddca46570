//! The HTTP plumbing every connector shares: time-outs, pacing to the platform's request
//! budget, retries with backoff on transient failures, and errors that never carry a secret.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use tokio::time::Instant;

use super::connection::{read_ca_file, Connection, TlsVerification};
pub use super::pacer::Pacer;
use super::pacer::{Adjusted, Slot};
use super::redact::Redactor;
use super::PlatformError;

/// One JSON request as a connector describes it: method, URL, query and body. The
/// credential is put on by the connector (see [`PlatformHttp::send_json`]).
#[derive(Debug, Clone)]
pub struct JsonRequest<'a> {
    pub method: reqwest::Method,
    pub url: &'a url::Url,
    pub query: &'a [(&'a str, String)],
    pub body: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl<'a> JsonRequest<'a> {
    /// A `GET` of `url` with `query`.
    pub fn get(url: &'a url::Url, query: &'a [(&'a str, String)]) -> Self {
        JsonRequest { method: reqwest::Method::GET, url, query, body: None }
    }

    /// A request without a body or query (`DELETE`).
    pub fn bare(method: reqwest::Method, url: &'a url::Url) -> Self {
        JsonRequest { method, url, query: &[], body: None }
    }

    /// A write: `body` as JSON.
    pub fn write(
        method: reqwest::Method,
        url: &'a url::Url,
        body: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        JsonRequest { method, url, query: &[], body: Some(body) }
    }
}

/// A connector's `base_url` as every HTTP connector needs it: http or https (a URL that
/// can take paths). `query`, when given, is why a query string is refused: the key
/// belongs in `api_key_file`/env, and a URL gets printed where a secret must not be.
pub fn check_base_url(platform: &str, url: &url::Url, query: Option<&str>) -> Result<(), PlatformError> {
    let refuse = |message: String| Err(PlatformError::Unsupported { platform: platform.into(), message });
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return refuse("base_url must be an http or https URL".into());
    }
    match query {
        Some(why) if url.query().is_some() => refuse(format!("base_url must not carry a query string{why}")),
        _ => Ok(()),
    }
}

/// A kind option checked by the connector's own rule: a refusal is reported under the
/// option's `key` (`users_path "x" must be a path such as ...`).
pub fn check_option(platform: &str, key: &str, verdict: Result<(), String>) -> Result<(), PlatformError> {
    verdict.map_err(|message| PlatformError::Unsupported {
        platform: platform.into(),
        message: format!("{key} {message}"),
    })
}

/// A configured page size within what the platform allows, 1 to `max`.
pub fn check_page_size(platform: &str, size: u32, max: u32) -> Result<(), PlatformError> {
    match (1..=max).contains(&size) {
        true => Ok(()),
        false => Err(PlatformError::Unsupported {
            platform: platform.into(),
            message: format!("page_size must be between 1 and {max}"),
        }),
    }
}

/// How hard to try before giving up on one request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts after this much time has passed since the first attempt.
    pub max_elapsed: Duration,
}

impl RetryPolicy {
    /// Three quick tries a few milliseconds apart: for tests against local emulators,
    /// where waiting out real backoff would only slow the suite down.
    pub fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_elapsed: Duration::from_secs(10),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

/// A platform's HTTP client: one per connector.
#[derive(Debug)]
pub struct PlatformHttp {
    pub platform: String,
    pub client: reqwest::Client,
    pub retry: RetryPolicy,
    pub pacer: Pacer,
    /// Scrubs the credentials from every message built here: a platform may echo them back.
    redactor: Redactor,
    /// Read when a transient answer has no `Retry-After`.
    pub wait_hint: Option<WaitHint>,
}

/// An answer: its status and its body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: bytes::Bytes,
    pub retry_after: Option<Duration>,
    /// The answer's headers, for platforms whose paging or limits travel there (Okta's
    /// `Link` and `X-Rate-Limit-*`).
    pub headers: reqwest::header::HeaderMap,
}

/// A platform's own reading of how long a refused request must wait when the answer has no
/// `Retry-After` (Okta: until `X-Rate-Limit-Reset`); `None` backs off as usual.
pub type WaitHint = fn(&reqwest::header::HeaderMap) -> Option<Duration>;

impl PlatformHttp {
    /// The client for one platform's [`Connection`]: its time-out, its request budget, and
    /// whether its certificate is checked (the one place that can turn that off).
    ///
    /// Trusted roots: the system's (so the image's ca-certificates and `SSL_CERT_FILE`
    /// count), webpki's, and the connection's `ca_file`. A cleartext address off loopback
    /// is refused unless the connection allows it.
    pub fn new(platform: &str, connection: &Connection) -> Result<Self, PlatformError> {
        let refuse = |message: String| PlatformError::Unsupported { platform: platform.into(), message };
        if let Some(problem) = connection.cleartext_problem() {
            return Err(refuse(format!("base_url: {problem}")));
        }
        let timeout = connection.timeout;
        let insecure = connection.tls == TlsVerification::InsecureSkipVerify;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("rosterd/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(insecure);
        if let Some(path) = &connection.ca_file {
            for cert in read_ca_file(path).map_err(|e| refuse(format!("ca_file: {e}")))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| refuse(format!("cannot build an HTTP client: {e}")))?;
        Ok(PlatformHttp {
            platform: platform.into(),
            client,
            retry: RetryPolicy::default(),
            pacer: Pacer::new(connection.per_second, connection.burst),
            redactor: Redactor::none(),
            wait_hint: None,
        })
    }

    /// The client of a connector whose credential is one API key: an empty key is refused
    /// (nothing could be sent), and the key is scrubbed from every message built here.
    pub fn keyed(platform: &str, connection: &Connection, key: &secrecy::SecretString) -> Result<Self, PlatformError> {
        use secrecy::ExposeSecret;
        if key.expose_secret().trim().is_empty() {
            return Err(PlatformError::Unsupported {
                platform: platform.into(),
                message: "the api key is empty".into(),
            });
        }
        Ok(PlatformHttp::new(platform, connection)?.scrubbing(key.clone()))
    }

    /// Scrub this credential from every message built by [`Self::redact`] and the error helpers.
    pub fn scrubbing(mut self, secret: secrecy::SecretString) -> Self {
        self.redactor = self.redactor.with(&secret);
        self
    }

    /// Scrub an HTTP Basic credential (the password, and `user:password` in base64) too.
    pub fn scrubbing_basic(mut self, username: &str, password: &secrecy::SecretString) -> Self {
        self.redactor = self.redactor.with_basic(username, password);
        self
    }

    /// The redactor holding this platform's credentials, for messages built elsewhere.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// `text` with the credentials, in any wire form, replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// The start of an answer's body for an error message: redacted first, then cut.
    pub fn snippet(&self, body: &[u8]) -> String {
        self.redactor.snippet(body)
    }

    /// An answer that could not be understood, its detail scrubbed.
    pub fn malformed(&self, operation: &str, detail: String) -> PlatformError {
        PlatformError::Malformed {
            platform: self.platform.clone(),
            operation: operation.into(),
            detail: self.redact(&detail),
        }
    }

    /// Something this platform cannot do as asked, the message scrubbed.
    pub fn unsupported(&self, message: String) -> PlatformError {
        PlatformError::Unsupported { platform: self.platform.clone(), message: self.redact(&message) }
    }

    /// An account id that must be a number: `what` names it in the message when it is not
    /// ("a CAKE user_id"), since an id that does not parse cannot be written to.
    pub fn numeric_id(&self, id: &str, what: &str) -> Result<u64, PlatformError> {
        id.parse().map_err(|_| self.unsupported(format!("account id {id:?} is not {what}")))
    }

    /// A listing page's error as the listing reports it: a page the platform refused or
    /// garbled is unreadable (a malformed listing, never "no users"), named by `label`;
    /// refused credentials say what to `check`; anything else stands as it is.
    pub fn listing_error(&self, label: &str, error: PlatformError, check: &str) -> PlatformError {
        match error {
            PlatformError::Rejected { message, .. } => self.malformed("list", format!("{label}: {message}")),
            PlatformError::Malformed { detail, .. } => self.malformed("list", format!("{label}: {detail}")),
            other => other.with_credentials_hint(check),
        }
    }

    /// Send a request, retrying transient failures (connection errors, time-outs, 408, 429,
    /// 5xx) with jittered exponential backoff that honours `Retry-After`. Other statuses
    /// are returned to the caller, which knows the platform's error dialect.
    ///
    /// An operation named `create` is not idempotent: it is retried only when the platform
    /// cannot have acted on it (see [`RetryMode::for_operation`]). Every connector names its
    /// create `create`, so no connector can forget this.
    pub async fn send(&self, operation: &str, build: impl Fn() -> RequestBuilder) -> Result<Answer, PlatformError> {
        self.send_with(RetryMode::for_operation(operation), operation, build).await
    }

    /// Send a [`JsonRequest`], with the credential `authorize` puts on each attempt.
    pub async fn send_json(
        &self,
        operation: &str,
        request: JsonRequest<'_>,
        authorize: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Answer, PlatformError> {
        let build = || {
            let built = self.client.request(request.method.clone(), request.url.clone()).query(request.query);
            let built = authorize(built);
            match request.body {
                Some(body) => built.json(body),
                None => built,
            }
        };
        self.send(operation, build).await
    }

    /// [`send`](Self::send) with an explicit retry mode.
    pub async fn send_with(
        &self,
        mode: RetryMode,
        operation: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Answer, PlatformError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = self.pacer.wait().await;
            let (outcome, reached) = self.send_once(operation, build()).await;
            let wait = match &outcome {
                Ok(a) if is_transient_status(a.status) => {
                    self.adapt(operation, slot, a);
                    a.retry_after
                }
                Ok(_) => {
                    self.pacer.succeeded(slot);
                    return outcome;
                }
                Err(e) if e.is_transient() => None,
                Err(_) => return outcome,
            };
            if !mode.may_retry(&outcome, reached) {
                tracing::debug!(platform = %self.platform, operation, attempt, "a write that may have taken effect is not sent again");
                return outcome;
            }
            let delay = wait.unwrap_or_else(|| self.backoff(attempt));
            if attempt >= self.retry.max_attempts || started.elapsed() + delay > self.retry.max_elapsed {
                return outcome;
            }
            tracing::debug!(platform = %self.platform, operation, attempt, delay_ms = delay.as_millis() as u64, "transient failure, retrying");
            // A `Retry-After` paused the whole platform: the pacer holds this request with
            // the others. Without one, this request alone backs off.
            if wait.is_none() {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// A transient answer's lesson for the whole platform: a 429 or a 503 halves the pace,
    /// and a `Retry-After` on any of them pauses every request until then.
    fn adapt(&self, operation: &str, slot: Slot, answer: &Answer) {
        let status = answer.status.as_u16();
        if !is_slow_down(answer.status) {
            if let Some(wait) = answer.retry_after {
                self.pacer.pause(wait);
            }
            return;
        }
        let pause_ms = answer.retry_after.map(|w| w.as_millis() as u64);
        match self.pacer.slow_down(slot, answer.retry_after) {
            Adjusted::SlowedTo(pace) => tracing::info!(
                platform = %self.platform, operation, status, pace_per_second = pace, pause_ms,
                "the platform asks to slow down: pace halved for every request to it, raised again step by step"
            ),
            Adjusted::AlreadySlowed => tracing::debug!(
                platform = %self.platform, operation, status, pause_ms, "slow-down for a request sent before the pace was halved"
            ),
        }
    }

    /// One attempt, and whether the request may have reached the platform (false only
    /// when the connection could not be made).
    async fn send_once(&self, operation: &str, request: RequestBuilder) -> (Result<Answer, PlatformError>, bool) {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let reached = !e.is_connect();
                return (Err(self.transport(e)), reached);
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let hint = || match is_transient_status(status) {
            true => self.wait_hint.and_then(|hint| hint(&headers)),
            false => None,
        };
        let retry_after = self.retry_after(&headers).or_else(hint);
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return (Err(self.transport(e)), true),
        };
        tracing::trace!(platform = %self.platform, operation, status = status.as_u16(), "answer");
        (Ok(Answer { status, body, retry_after, headers }), true)
    }

    /// Full jitter: a random delay up to the exponential bound, so retries of many
    /// records do not arrive together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry.base_delay.saturating_mul(1u32 << attempt.min(16));
        let bound = exp.min(self.retry.max_delay);
        let jitter: f64 = rand::random();
        bound.mul_f64(0.5 + jitter / 2.0)
    }

    /// The answer's `Retry-After`, bounded by [`MAX_RETRY_AFTER`]; one that cannot be read
    /// is ignored (the request backs off as if there were none), and both are logged.
    fn retry_after(&self, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
        let raw = headers.get(reqwest::header::RETRY_AFTER)?;
        let text = String::from_utf8_lossy(raw.as_bytes());
        let Some(wait) = parse_retry_after(&text, std::time::SystemTime::now()) else {
            let value = self.redact(&text.chars().take(64).collect::<String>());
            tracing::warn!(platform = %self.platform, value, "unreadable Retry-After (neither seconds nor an HTTP date) ignored: backing off instead");
            return None;
        };
        if wait > MAX_RETRY_AFTER {
            tracing::warn!(
                platform = %self.platform, asked_s = wait.as_secs(), waiting_s = MAX_RETRY_AFTER.as_secs(),
                "Retry-After asks for a longer wait than rosterd allows: waiting the longest allowed instead"
            );
            return Some(MAX_RETRY_AFTER);
        }
        Some(wait)
    }

    /// A transport error, stripped of its URL: CAKE's key travels in the query string.
    pub fn transport(&self, e: reqwest::Error) -> PlatformError {
        if let Some(detail) = certificate_problem(&e) {
            return PlatformError::Certificate { platform: self.platform.clone(), detail: self.redact(&detail) };
        }
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_body() || e.is_decode() {
            "answer cut short"
        } else {
            "request failed"
        };
        let e = e.without_url();
        PlatformError::Transport { platform: self.platform.clone(), detail: self.redact(&format!("{kind}: {e}")) }
    }
}

/// When a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    /// Reads and idempotent writes: every transient failure is retried.
    Always,
    /// Writes that are not idempotent (creates): retried only when the platform cannot
    /// have acted: the connection was never made, or a 429 said nothing was done. A 5xx,
    /// a time-out or an answer cut short after sending is returned to the caller, which
    /// reads the platform before it writes again.
    NotAfterSend,
}

impl RetryMode {
    /// The mode for an operation: `create` is the one write that is not idempotent.
    pub fn for_operation(operation: &str) -> RetryMode {
        if operation == "create" {
            RetryMode::NotAfterSend
        } else {
            RetryMode::Always
        }
    }

    fn may_retry(self, outcome: &Result<Answer, PlatformError>, reached: bool) -> bool {
        match (self, outcome) {
            (RetryMode::Always, _) => true,
            (RetryMode::NotAfterSend, Ok(a)) => a.status == StatusCode::TOO_MANY_REQUESTS,
            (RetryMode::NotAfterSend, Err(_)) => !reached,
        }
    }
}

/// The TLS handshake's verdict on the server's certificate, when that is why the request
/// failed: rustls's error sits down the chain, wrapped in `io::Error`s.
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(tls @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)) =
            err.downcast_ref::<rustls::Error>()
        {
            return Some(tls.to_string());
        }
        // An `io::Error`'s `source()` skips what it wraps: look inside it instead.
        next = match err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner),
            None => err.source(),
        };
    }
    None
}

fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// 429 Too Many Requests and 503 Service Unavailable: the platform is over its load, not
/// only this request; they slow the pace of every request to it.
fn is_slow_down(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// The longest a `Retry-After` may hold a platform: a longer one (a server's mistake, a
/// date far ahead, a clock far behind) is cut to this, and the cut is logged.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), read at `now`: a date
/// already past means at once. Unbounded (see [`MAX_RETRY_AFTER`]); `None` if unreadable.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        // Capped far above any sane wait only so that the conversion cannot overflow.
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: u16) -> Result<Answer, PlatformError> {
        let status = StatusCode::from_u16(code).unwrap();
        Ok(Answer { status, body: bytes::Bytes::new(), retry_after: None, headers: Default::default() })
    }

    #[test]
    fn a_create_is_retried_only_when_the_platform_cannot_have_acted() {
        let create = RetryMode::for_operation("create");
        assert_eq!(create, RetryMode::NotAfterSend);
        assert_eq!(RetryMode::for_operation("update"), RetryMode::Always);
        let lost = || Err(PlatformError::Transport { platform: "p".into(), detail: "reset".into() });
        assert!(create.may_retry(&answer(429), true));
        assert!(!create.may_retry(&answer(500), true));
        assert!(!create.may_retry(&answer(503), true));
        assert!(!create.may_retry(&lost(), true), "an answer lost after sending");
        assert!(create.may_retry(&lost(), false), "a connection never made");
        assert!(RetryMode::Always.may_retry(&answer(500), true));
    }

    #[test]
    fn a_client_is_refused_for_cleartext_off_loopback_and_for_an_unreadable_ca_file() {
        let build = |c: &Connection| PlatformHttp::new("p", c).map(|_| ()).map_err(|e| e.to_string());
        let mut c = Connection::new(url::Url::parse("http://idp.example.com/").unwrap());
        assert!(build(&c).unwrap_err().contains("base_url: http:// to idp.example.com"));
        c.allow_insecure_http = true;
        assert_eq!(build(&c), Ok(()));
        c.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(build(&c).unwrap_err().contains("ca_file: cannot read /nonexistent/ca.pem"));
        assert_eq!(build(&Connection::new(url::Url::parse("http://127.0.0.1:1/").unwrap())), Ok(()));
    }

    #[test]
    fn retry_after_in_seconds_is_read() {
        let now = std::time::SystemTime::now();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("99999999999999999999", now), Some(Duration::from_secs(1_000_000_000)));
        for bad in ["-1", "NaN", "inf", "soon", ""] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_as_an_http_date_is_read_in_every_rfc_9110_form() {
        // 1994-11-06 08:49:37 UTC, the RFC's example, read 10 s before.
        let at = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = at - Duration::from_secs(10);
        for form in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(parse_retry_after(form, now), Some(Duration::from_secs(10)), "{form}");
        }
        let later = at + Duration::from_secs(60);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later), Some(Duration::ZERO), "past: at once");
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now), None);
    }

    #[test]
    fn an_absurd_retry_after_is_cut_to_the_longest_allowed() {
        let http = PlatformHttp::new("p", &Connection::new(url::Url::parse("http://127.0.0.1:9").unwrap())).unwrap();
        let header = |v: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
            h
        };
        assert_eq!(http.retry_after(&header("86400")), Some(MAX_RETRY_AFTER));
        assert_eq!(http.retry_after(&header("Fri, 31 Dec 2100 23:59:59 GMT")), Some(MAX_RETRY_AFTER));
        assert_eq!(http.retry_after(&header("3")), Some(Duration::from_secs(3)));
        assert_eq!(http.retry_after(&header("later")), None);
        assert_eq!(http.retry_after(&reqwest::header::HeaderMap::new()), None);
    }
}
