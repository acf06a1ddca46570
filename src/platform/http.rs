//! The HTTP plumbing every connector shares: time-outs, pacing to the platform's request
//! budget, retries with backoff on transient failures, and errors that never carry a secret.

use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::connection::{read_ca_file, Connection, TlsVerification};
use super::redact::Redactor;
use super::PlatformError;

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

/// Request budget: a pacing limiter that spaces requests `1 / per_second` apart, with a burst.
///
/// It paces to the platform's limit exactly, and never faster: the platform's own limiter
/// is assumed to admit at least two requests back to back (any token bucket or sliding
/// window does), which absorbs the jitter between a request's slot and its arrival. A
/// request woken late (a busy machine) does not pull the ones after it closer together:
/// the next slot is never before this request actually left, so a stall never turns into
/// a burst.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    burst: u32,
    /// The earliest instant the next request may start, minus the burst allowance. Held
    /// while a request waits for its slot, so waiters take their slots one at a time, in
    /// the order they came (tokio's mutex is fair).
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(per_second: f64, burst: u32) -> Self {
        let interval = if per_second > 0.0 { Duration::from_secs_f64(1.0 / per_second) } else { Duration::ZERO };
        Pacer { interval, burst: burst.max(1), next: Mutex::new(None) }
    }

    /// Wait until this request fits the budget.
    pub async fn wait(&self) {
        if self.interval.is_zero() {
            return;
        }
        let mut next = self.next.lock().await;
        let now = Instant::now();
        // A quiet spell earns up to `burst` immediate requests, never more.
        let floor = now.checked_sub(self.interval * (self.burst - 1)).unwrap_or(now);
        let slot = next.map_or(floor, |n| n.max(floor));
        let left = match slot > now {
            true => {
                tokio::time::sleep_until(slot).await;
                // Woken more than an interval late, the schedule restarts from now: the
                // requests due meanwhile are not sent in a bunch to catch up.
                Instant::now().checked_sub(self.interval).map_or(slot, |t| t.max(slot))
            }
            // Within the burst allowance: it goes now and uses one slot of it.
            false => slot,
        };
        *next = Some(left + self.interval);
    }

    /// The sustained rate, in requests per second (0: unpaced).
    pub fn per_second(&self) -> f64 {
        if self.interval.is_zero() {
            0.0
        } else {
            1.0 / self.interval.as_secs_f64()
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
}

/// An answer: its status and its body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: bytes::Bytes,
    pub retry_after: Option<Duration>,
}

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
        })
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
            self.pacer.wait().await;
            let (outcome, reached) = self.send_once(operation, build()).await;
            let wait = match &outcome {
                Ok(a) if is_transient_status(a.status) => a.retry_after,
                Ok(_) => return outcome,
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
            tokio::time::sleep(delay).await;
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
        let retry_after = parse_retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return (Err(self.transport(e)), true),
        };
        tracing::trace!(platform = %self.platform, operation, status = status.as_u16(), "answer");
        (Ok(Answer { status, body, retry_after }), true)
    }

    /// Full jitter: a random delay up to the exponential bound, so retries of many
    /// records do not arrive together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.retry.base_delay.saturating_mul(1u32 << attempt.min(16));
        let bound = exp.min(self.retry.max_delay);
        let jitter: f64 = rand::random();
        bound.mul_f64(0.5 + jitter / 2.0)
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

/// `Retry-After` in seconds (the HTTP-date form is rare on APIs and ignored), capped at 5 minutes.
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(300.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_spaces_requests_after_the_burst() {
        let pacer = Pacer::new(10.0, 2);
        let start = Instant::now();
        for _ in 0..4 {
            pacer.wait().await;
        }
        // Two in the burst, then two more at 100 ms spacing.
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_earns_the_whole_burst() {
        let pacer = Pacer::new(10.0, 5);
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..7 {
            pacer.wait().await;
            sent.push(start.elapsed().as_millis());
        }
        assert_eq!(sent, [0, 0, 0, 0, 0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_woken_late_does_not_bring_a_bunch_after_it() {
        let pacer = std::sync::Arc::new(Pacer::new(10.0, 1));
        let start = Instant::now();
        pacer.wait().await;
        // Three more are due at 100, 200 and 300 ms, but the machine stalls until 250 ms.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.wait().await;
                    start.elapsed().as_millis()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(250)).await;
        let mut sent = Vec::new();
        for w in waiters {
            sent.push(w.await.unwrap());
        }
        sent.sort();
        // Catching up would send at 250, 250 and 300 ms: three within 50 ms.
        assert_eq!(sent, [250, 250, 350]);
    }

    fn answer(code: u16) -> Result<Answer, PlatformError> {
        Ok(Answer { status: StatusCode::from_u16(code).unwrap(), body: bytes::Bytes::new(), retry_after: None })
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
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
    }
}
