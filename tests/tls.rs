//! TLS verification (issue 5, scope item 8): a server's certificate is always checked,
//! unless config turns that off with `tls_insecure_skip_verify: true` for one platform or
//! the SCIM source, and then every run says so at WARN, and `check-config` prints it.
//! The emulators are put behind a loopback TLS front with a fresh self-signed certificate,
//! or with one from a CA made here (issue 12): trusted through `ca_file` or `SSL_CERT_FILE`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rosterd::config::Config;
use rosterd::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions};
use rosterd::platform::scim::sandbox::{ScimSandbox, ScimSandboxOptions};
use rosterd::platform::PlatformError;
use support::logs::Logs;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;
use url::Url;

/// HTTPS on 127.0.0.1 with a self-signed certificate, each connection passed on in the
/// clear to a plain emulator; stops when dropped.
struct TlsFront {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    async fn start(backend: &Url) -> TlsFront {
        TlsFront::start_with(backend, self_signed()).await
    }

    async fn start_with(backend: &Url, server: ServerConfig) -> TlsFront {
        let backend: SocketAddr =
            format!("{}:{}", backend.host_str().unwrap(), backend.port().unwrap()).parse().unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            // Dropped with this task, so no connection outlives the front.
            let mut connections = JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    // A client that refuses the certificate ends the handshake here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut plain) = TcpStream::connect(backend).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront { addr, task }
    }

    /// The emulator's URL with this front's scheme, host and port.
    fn url(&self, plain: &Url) -> String {
        format!("https://{}{}", self.addr, plain.path())
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server config with a certificate for 127.0.0.1 that no one trusts.
fn self_signed() -> ServerConfig {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap()
}

/// A CAKE emulator behind a TLS front, and a config folder whose platform points at it.
struct Rig {
    dir: TempDir,
    _cake: CakeSandbox,
    cake_front: TlsFront,
    _scim: ScimSandbox,
    scim_front: TlsFront,
    scim_plain: Url,
    cake_plain: Url,
}

impl Rig {
    async fn start() -> Rig {
        let cake = CakeSandbox::start(CakeSandboxOptions::default()).await.unwrap();
        let scim = ScimSandbox::start(ScimSandboxOptions::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), format!("{}\n", cake.api_key())).unwrap();
        let key_perms = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
        std::fs::set_permissions(dir.path().join("key"), key_perms).unwrap(); // check-config refuses a key others can read
        std::fs::write(dir.path().join("token"), format!("{}\n", scim.token())).unwrap();
        std::fs::write(dir.path().join("roster.yaml"), "complete: true\npeople: []\n").unwrap();
        let (cake_plain, scim_plain) = (cake.base_url(), scim.base_url());
        let cake_front = TlsFront::start(&cake_plain).await;
        let scim_front = TlsFront::start(&scim_plain).await;
        Rig { dir, _cake: cake, cake_front, _scim: scim, scim_front, scim_plain, cake_plain }
    }

    /// Write `rosterd.yaml`: the CAKE platform (with `platform_tls`, a line or nothing) and
    /// the roster file, or the SCIM source with `source_tls`.
    fn config(&self, platform_tls: &str, source_tls: Option<&str>) -> Config {
        let source = match source_tls {
            None => "  file: { path: roster.yaml }\n".to_string(),
            Some(tls) => format!(
                "  scim:\n    url: \"{}\"\n    token_file: token\n    groups: user\n    timeout_seconds: 5\n{tls}",
                self.scim_front.url(&self.scim_plain)
            ),
        };
        let text = format!(
            "state_dir: state\nsource:\n{source}platforms:\n  - name: cake-test\n    kind: cake\n    base_url: \"{}\"\n    api_key_file: key\n    timeout_seconds: 5\n    roles: [ {{ role: Account Manager }} ]\n{platform_tls}",
            self.cake_front.url(&self.cake_plain)
        );
        let path = self.dir.path().join("rosterd.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap()
    }
}

const INSECURE: &str = "    tls_insecure_skip_verify: true\n";

#[tokio::test]
async fn a_self_signed_platform_is_refused_with_a_certificate_error_by_default() {
    let rig = Rig::start().await;
    let config = rig.config("", None);
    let connector = rosterd::setup::connector(&config.platforms[0]).unwrap();
    let error = match connector.prepare().await {
        Ok(()) => connector.list().await.map(|_| ()).unwrap_err(),
        Err(e) => e,
    };
    assert!(matches!(error, PlatformError::Certificate { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("certificate") && text.contains("tls_insecure_skip_verify"), "{text}");
}

#[tokio::test]
async fn the_option_makes_the_same_platform_readable() {
    let rig = Rig::start().await;
    let config = rig.config(INSECURE, None);
    let connector = rosterd::setup::connector(&config.platforms[0]).unwrap();
    connector.prepare().await.unwrap();
    assert!(connector.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_self_signed_scim_source_is_refused_by_default_and_read_with_the_option() {
    let rig = Rig::start().await;
    let refused = rosterd::setup::source(&rig.config("", Some("")).source).unwrap().read().await.unwrap_err();
    assert!(refused.to_string().contains("certificate"), "{refused}");
    let source = rosterd::setup::source(&rig.config("", Some(INSECURE)).source).unwrap();
    assert!(source.read().await.unwrap().people.is_empty());
}

#[tokio::test]
async fn every_run_of_one_engine_warns_for_the_platform_and_the_source() {
    let rig = Rig::start().await;
    let config = rig.config(INSECURE, Some(INSECURE));
    let logs = Logs::capture();

    let engine = rosterd::setup::engine(config).unwrap();
    for _ in 0..2 {
        let (plan, _) = engine.reconcile("test", false).await.unwrap();
        assert_eq!(plan.platforms[0].error, None, "the platform was read through TLS");
    }
    let text = logs.text();
    let warned = |who: &str| {
        text.lines()
            .filter(|l| l.contains(" WARN ") && l.contains(&format!("TLS certificate verification is OFF for {who}")))
            .count()
    };
    assert_eq!(warned("platform \"cake-test\" (tls_insecure_skip_verify: true)"), 2, "{text}");
    assert_eq!(warned("the SCIM source (tls_insecure_skip_verify: true)"), 2, "{text}");
}

#[tokio::test]
async fn check_config_prints_the_warning_and_stays_ok() {
    let rig = Rig::start().await;
    rig.config(INSECURE, None);
    let out = rosterd(rig.dir.path(), &["check-config", "--offline", "-c", "rosterd.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: TLS certificate verification is OFF for platform \"cake-test\""), "{stderr}");

    rig.config("", None);
    let out = rosterd(rig.dir.path(), &["check-config", "--offline", "-c", "rosterd.yaml"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("TLS"), "no warning while verification is on");
}

fn rosterd(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rosterd")).args(args).current_dir(dir).output().expect("rosterd runs")
}

/// A CA made for one test: its certificate in PEM, and server configs for 127.0.0.1 it signed.
struct TestCa {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(rcgen::DnType::CommonName, "rosterd test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa { pem: pem(cert.der()), issuer: rcgen::Issuer::new(params, key) }
    }

    fn server(&self) -> ServerConfig {
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap()
    }
}

/// A DER certificate as a PEM block.
fn pem(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            let c = if i <= chunk.len() { char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]) } else { '=' };
            b64.push(c);
        }
    }
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// A SCIM source and CAKE behind TLS fronts whose certificates the test CA signed, with
/// Alice and Bob active at the source and Bob's CAKE account already there.
struct CaRig {
    dir: TempDir,
    cake: CakeSandbox,
    scim: ScimSandbox,
    _fronts: [TlsFront; 2],
    scim_url: String,
    cake_url: String,
}

impl CaRig {
    async fn start() -> CaRig {
        use rosterd::platform::cake::sandbox::CakeUser;
        use rosterd::platform::scim::sandbox::ScimUser;
        let ca = TestCa::new();
        let scim = ScimSandbox::start(
            ScimSandboxOptions::default()
                .with_user(ScimUser::new("alice", "Alice", "Ames", "alice@acme.example"))
                .with_user(ScimUser::new("bob", "Bob", "Burns", "bob@acme.example")),
        )
        .await
        .unwrap();
        let cake = CakeSandbox::start(CakeSandboxOptions::default().with_user(CakeUser::new(
            "Bob",
            "Burns",
            "bob@acme.example",
            3,
        )))
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), cake.api_key()).unwrap();
        std::fs::write(dir.path().join("token"), scim.token()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca.pem).unwrap();
        let scim_front = TlsFront::start_with(&scim.base_url(), ca.server()).await;
        let cake_front = TlsFront::start_with(&cake.base_url(), ca.server()).await;
        let (scim_url, cake_url) = (scim_front.url(&scim.base_url()), cake_front.url(&cake.base_url()));
        CaRig { dir, cake, scim, _fronts: [scim_front, cake_front], scim_url, cake_url }
    }

    /// `rosterd reconcile --once` with `ca_file` on the source and/or the platform, and
    /// `SSL_CERT_FILE` when given; the exit code and stderr.
    fn reconcile(&self, source_ca: bool, platform_ca: bool, ssl_cert_file: bool) -> (i32, String) {
        let ca = |on: bool| if on { ", ca_file: ca.pem" } else { "" };
        let text = format!(
            "state_dir: state\nsafety: {{ max_removals: {{ count: 10, percent: 100 }} }}\nsource:\n  scim: {{ url: \"{}\", \
             token_file: token, groups: user, timeout_seconds: 5{} }}\nplatforms:\n  - {{ name: cake-ca, kind: cake, \
             base_url: \"{}\", api_key_file: key, timeout_seconds: 5, roles: [ {{ role: Account Manager }} ]{} }}\n",
            self.scim_url,
            ca(source_ca),
            self.cake_url,
            ca(platform_ca)
        );
        std::fs::write(self.dir.path().join("rosterd.yaml"), text).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_rosterd"));
        command.args(["reconcile", "--once", "-c", "rosterd.yaml"]).current_dir(self.dir.path());
        command.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        if ssl_cert_file {
            command.env("SSL_CERT_FILE", self.dir.path().join("ca.pem"));
        }
        let out = command.output().expect("rosterd runs");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Bob leaves: the source marks him inactive (through the emulator's own SCIM API).
    async fn bob_leaves(&self) {
        let bob = self.scim.users().into_iter().find(|u| u.user_name == "bob").unwrap();
        let patch = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "replace", "path": "active", "value": false }]
        });
        let url = format!("{}/Users/{}", self.scim.base_url().as_str().trim_end_matches('/'), bob.id);
        let answer = reqwest::Client::new()
            .patch(url)
            .bearer_auth(self.scim.token())
            .header("content-type", "application/scim+json")
            .body(patch.to_string())
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    /// Whether Bob's CAKE account is still active.
    fn bob_active(&self) -> bool {
        self.cake.user_by_login("bob@acme.example").is_some_and(|u| u.user_status == "active")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_refused_without_ca_file_and_trusted_with_it() {
    let rig = CaRig::start().await;
    let run = |s, p, env| tokio::task::block_in_place(|| rig.reconcile(s, p, env));

    let (code, stderr) = run(true, true, false);
    assert_eq!(code, 0, "both read through TLS with ca_file: {stderr}");
    assert!(rig.cake.user_by_login("alice@acme.example").is_some(), "Alice's account was created");
    rig.bob_leaves().await;

    let (code, stderr) = run(false, false, false);
    assert_eq!(code, 1, "the source is refused: {stderr}");
    assert!(stderr.contains("TLS certificate was refused") && stderr.contains("ca_file"), "{stderr}");
    assert!(rig.bob_active(), "nobody was removed");

    let (code, stderr) = run(true, false, false);
    assert_eq!(code, 3, "the platform is refused, the run goes on: {stderr}");
    assert!(stderr.contains("cake-ca: the server's TLS certificate was refused"), "{stderr}");
    assert!(rig.bob_active(), "nobody was removed");

    // The system's roots are read too: SSL_CERT_FILE alone trusts the CA.
    let (code, stderr) = run(false, false, true);
    assert_eq!(code, 0, "{stderr}");
    assert!(!rig.bob_active(), "Bob's account was deactivated through TLS");
}
