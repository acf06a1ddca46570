//! Redaction that cannot be cut (issue 12): a fake SCIM source and fake CAKE platforms echo
//! the request's credentials in error bodies, in every wire form, placed at every distance
//! from the 200-character cut. The real binary runs against them (text and JSON logs, JSON
//! output), and nothing it printed or stored holds a secret, any form of one, or any
//! 12-character piece of one.

mod support;

use std::path::Path;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use support::cli::rosterd_traced;
use support::rig::all_files;

/// CAKE keys hold `+ / = %`; the password too, and its Basic form has `+` and `/` in base64.
const CAKE_KEY: &str = "Kq7+vW/x=9%Zr3+Lp/Tt=8%Mn";
const USER: &str = "svc-sync";
const PASSWORD: &str = "Pw+9/Qz=%7Hj+2/Lm=k>?";
const CUT: usize = 200;

/// How an echo writes a secret.
#[derive(Clone, Copy, Debug)]
enum Form {
    Raw,
    PercentUpper,
    PercentLower,
    Json,
    /// What the request carried: CAKE's query string as sent, the Authorization header.
    Wire,
    /// URL-safe base64 of `user:password`, unpadded (Basic only).
    Base64UrlSafe,
}

const FORMS: [Form; 6] =
    [Form::Raw, Form::PercentUpper, Form::PercentLower, Form::Json, Form::Wire, Form::Base64UrlSafe];

fn percent(s: &str, lower: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ if lower => format!("%{b:02x}"),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// JSON-escaped, `/` as `\/` and `%` as `\u0025` (both legal, both seen on the wire).
fn json_escaped(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap();
    json[1..json.len() - 1].replace('/', "\\/").replace('%', "\\u0025")
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(alphabet[(n >> (18 - 6 * i)) as usize & 63]) } else { '=' });
        }
    }
    out
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn basic_pair() -> String {
    format!("{USER}:{PASSWORD}")
}

/// Every form of every secret, as a leak would show it.
fn leak_forms() -> Vec<String> {
    let mut forms = Vec::new();
    for secret in [CAKE_KEY, PASSWORD] {
        forms.extend([secret.into(), percent(secret, false), percent(secret, true), json_escaped(secret)]);
        forms.push(serde_json::to_string(secret).unwrap().trim_matches('"').to_string());
    }
    let pair = basic_pair();
    forms.extend([base64(pair.as_bytes(), STANDARD), base64(pair.as_bytes(), URL_SAFE)]);
    forms
}

/// The echo of the request's credential in `form`.
fn echo(form: Form, request: &Request) -> String {
    let (secret, wire) = match request.uri().path().starts_with("/cake/") {
        true => (CAKE_KEY, request.uri().query().unwrap_or_default().to_string()),
        false => {
            let header = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
            (PASSWORD, header.unwrap_or_default())
        }
    };
    match form {
        Form::Raw => secret.to_string(),
        Form::PercentUpper => percent(secret, false),
        Form::PercentLower => percent(secret, true),
        Form::Json => json_escaped(secret),
        Form::Wire => wire,
        Form::Base64UrlSafe => base64(basic_pair().as_bytes(), URL_SAFE).trim_end_matches('=').to_string(),
    }
}

/// Paths are `/{src|cake}/{form}/{pad}/...`: an error answer whose echo starts `pad`
/// characters in. CAKE answers 400 on even pads and a 200 that is not a CAKE answer on odd.
async fn answer(request: Request) -> Response {
    let segments: Vec<String> = request.uri().path().split('/').map(str::to_string).collect();
    let form = FORMS[segments[2].parse::<usize>().unwrap()];
    let pad: usize = segments[3].parse().unwrap();
    let body = format!("{}{} {}", "p".repeat(pad), echo(form, &request), "q".repeat(300));
    let status = match segments[1].as_str() {
        "cake" if pad % 2 == 1 => StatusCode::OK,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, [("content-type", "text/plain")], body).into_response()
}

/// The fake server on 127.0.0.1, stopped with the runtime.
async fn fake_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(answer);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Pads that put an echo of `len` characters across the cut at every offset, and just before and after it.
fn pads(len: usize) -> Vec<usize> {
    (CUT.saturating_sub(len + 1)..=CUT + 1).collect()
}

/// Run the binary with both log formats; all it printed.
fn rosterd(dir: &Path, args: &[&str], json_logs: bool) -> Vec<u8> {
    rosterd_traced(dir, CAKE_KEY, args, json_logs)
}

/// No form of a secret, nor any 12-character piece of one, in `bytes` (the secrets are
/// ASCII, so a piece is 12 bytes: one pass over the text, each window looked up).
fn assert_clean(what: &str, bytes: &[u8]) {
    let mut pieces = std::collections::HashMap::new();
    for form in leak_forms() {
        for piece in form.as_bytes().windows(PIECE) {
            pieces.insert(piece.to_vec(), form.clone());
        }
    }
    for window in bytes.windows(PIECE) {
        if let Some(form) = pieces.get(window) {
            let piece = String::from_utf8_lossy(window);
            panic!("{what} holds {piece:?}, a piece of a secret's form {form:?}");
        }
    }
}

const PIECE: usize = 12;

fn assert_state_clean(dir: &Path) {
    for (path, bytes) in all_files(&dir.join("state")) {
        assert_clean(&path.display().to_string(), &bytes);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cake_keys_echoed_across_the_cut_never_leave_the_process() {
    let base = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let person = "{ id: a1, user_name: a@acme.example, given_name: A, family_name: B, email: a@acme.example }";
    std::fs::write(d.join("roster.yaml"), format!("complete: true\npeople:\n  - {person}\n")).unwrap();
    let mut platforms = String::new();
    for (f, form) in FORMS.iter().enumerate().filter(|(_, f)| !matches!(f, Form::Base64UrlSafe)) {
        // Where the key ends in the echo (the query string starts `api_key=`).
        let len = match form {
            Form::Raw => CAKE_KEY.len(),
            Form::PercentUpper | Form::PercentLower => percent(CAKE_KEY, false).len(),
            Form::Json => json_escaped(CAKE_KEY).len(),
            _ => "api_key=".len() + percent(CAKE_KEY, false).len(),
        };
        for pad in pads(len) {
            platforms.push_str(&format!(
                "  - {{ name: c{f}-{pad}, kind: cake, base_url: \"{base}/cake/{f}/{pad}/\", api_key_env: ROSTERD_TEST_CAKE_KEY, \
                 roles: [ {{ role: Account Manager }} ], rate_limit: {{ per_second: 1000, burst: 100 }} }}\n"
            ));
        }
    }
    let config = format!("state_dir: state\nsource: {{ file: {{ path: roster.yaml }} }}\nplatforms:\n{platforms}");
    std::fs::write(d.join("rosterd.yaml"), config).unwrap();

    let dd = d.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        let mut out = rosterd(&dd, &["plan", "--out", "plan.json", "--format", "json"], false);
        out.extend(rosterd(&dd, &["reconcile", "--once", "--format", "json"], true));
        out.extend(rosterd(&dd, &["reconcile", "--once"], false));
        out.extend(rosterd(&dd, &["audit", "--format", "json"], true));
        out
    })
    .await
    .unwrap();

    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("[redacted]"), "the echoes reached the messages, redacted: {text}");
    assert!(text.contains("c4-180: HTTP 400 on"), "the wire form was echoed and reported: {text}");
    assert!(text.contains("malformed answer"), "the 200 answers were reported: {text}");
    assert_clean("stdout and stderr", &output);
    assert_clean("plan.json", &std::fs::read(d.join("plan.json")).unwrap());
    assert_state_clean(d);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_basic_password_echoed_across_the_cut_never_leaves_the_process() {
    let base = fake_server().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    std::fs::write(d.join("password"), PASSWORD).unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (f, form) in FORMS.iter().enumerate() {
            let len = match form {
                Form::Wire | Form::Base64UrlSafe => base64(basic_pair().as_bytes(), STANDARD).len() + 6,
                _ => PASSWORD.len() * 3,
            };
            // Every offset for the forms that straddle, a few for the rest: one run each.
            for pad in pads(len).into_iter().step_by(3) {
                let config = format!(
                    "state_dir: state\nsource:\n  scim: {{ url: \"{base}/src/{f}/{pad}\", basic: {{ username: {USER}, \
                     password_file: password }} }}\nplatforms: []\n"
                );
                std::fs::write(d.join("rosterd.yaml"), config).unwrap();
                let args: &[&str] = match pad % 2 {
                    0 => &["reconcile", "--once", "--format", "json"],
                    _ => &["plan", "--format", "json"],
                };
                out.extend(rosterd(&d, args, pad % 4 < 2));
            }
        }
        assert_state_clean(&d);
        out
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("HTTP 400") && text.contains("[redacted]"), "the echoes were reported, redacted: {text}");
    assert_clean("stdout and stderr", &output);
}
