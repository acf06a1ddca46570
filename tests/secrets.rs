//! No secret reaches the logs, the audit trail, the store, the plan or `Debug` output:
//! the real binary runs with known secrets (right and wrong ones) at the most verbose log
//! level, and everything it wrote is searched for them (the SCIM token, the CAKE key, and
//! the LDAP bind password against a real slapd).

mod support;

use rosterd::config::Config;
use rosterd::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions};
use rosterd::source::entra::sandbox::{EntraSandbox, EntraSandboxOptions};
use support::cli::rosterd_traced;
use support::rig::{all_files, contains};
use support::scim_server::ScimServer;

const SCIM_TOKEN: &str = "scim-SEEDED-SECRET-a81f30";
const WRONG_SCIM_TOKEN: &str = "scim-SEEDED-WRONG-77de02";
const CAKE_KEY: &str = "cake-SEEDED-SECRET-4c9b11";
const WRONG_CAKE_KEY: &str = "cake-SEEDED-WRONG-e3a5d8";
const ADMIN_TOKEN: &str = "admin-SEEDED-SECRET-5d20b7";
/// A webhook URL's secret part (as in a Slack incoming-webhook URL); nothing listens there,
/// so every notification's delivery fails and is retried and logged.
const WEBHOOK_SECRET: &str = "WEBHOOK-SEEDED-SECRET-5d2c71";
const SECRETS: [&str; 6] = [SCIM_TOKEN, WRONG_SCIM_TOKEN, CAKE_KEY, WRONG_CAKE_KEY, ADMIN_TOKEN, WEBHOOK_SECRET];

fn config(scim: &url::Url, cake: &url::Url) -> String {
    config_with(&format!("  scim: {{ url: \"{scim}\", token_file: scim-token, page_size: 2 }}"), cake)
}

/// The config reading this `source:` block into CAKE (its key from the environment).
fn config_with(source: &str, cake: &url::Url) -> String {
    format!(
        r#"state_dir: state
http: {{ admin_token_file: admin-token }}
source:
{source}
platforms:
  - name: cake
    kind: cake
    base_url: "{cake}"
    api_key_env: ROSTERD_TEST_CAKE_KEY
    roles: [ {{ role: Account Manager }} ]
    rate_limit: {{ per_second: 1000, burst: 100 }}
notify:
  attempts: 2
  backoff_ms: 10
  webhooks: [ {{ url_file: webhook-url }}, {{ url_file: webhook-url, format: slack }} ]
"#
    )
}

/// The secret files every test's config names beside its source's: the admin token and
/// the webhook URL (nothing listens there, so every notification is retried and logged).
fn write_shared_secrets(d: &std::path::Path) {
    std::fs::write(d.join("admin-token"), ADMIN_TOKEN).unwrap();
    std::fs::write(d.join("webhook-url"), format!("http://127.0.0.1:9/hooks/{WEBHOOK_SECRET}")).unwrap();
}

/// Run the binary (JSON logs); returns stdout + stderr.
fn rosterd(dir: &std::path::Path, cake_key: &str, args: &[&str]) -> Vec<u8> {
    rosterd_traced(dir, cake_key, args, true)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_logs_audit_store_plan_or_debug() {
    let server = ScimServer::start(SCIM_TOKEN).await;
    for i in 1..=5 {
        server.create_user(&format!("u{i}"), "G", "F", &format!("u{i}@acme.example"), i != 3).await;
    }
    let cake = CakeSandbox::start(CakeSandboxOptions::default().with_api_key(CAKE_KEY)).await.expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("rosterd.yaml"), config(&server.base, &cake.base_url())).unwrap();
    std::fs::write(d.join("scim-token"), SCIM_TOKEN).unwrap();
    write_shared_secrets(d);

    let mut output = Vec::new();
    let dd = d.to_path_buf();
    let runs = tokio::task::spawn_blocking(move || {
        let mut out = usual_runs(&dd);
        // Wrong credentials: the errors must not echo them either.
        out.extend(rosterd(&dd, WRONG_CAKE_KEY, &["reconcile", "--once"]));
        std::fs::write(dd.join("scim-token"), WRONG_SCIM_TOKEN).unwrap();
        out.extend(rosterd(&dd, CAKE_KEY, &["reconcile", "--once"]));
        out.extend(rosterd(&dd, CAKE_KEY, &["check-config"]));
        out
    });
    output.extend(runs.await.unwrap());

    // The runs did happen: accounts were created, credentials were refused.
    assert_eq!(cake.users().len(), 4, "{}", String::from_utf8_lossy(&output));
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("credentials refused"), "{text}");
    assert!(text.contains("notification not delivered"), "the failing platform was notified: {text}");
    std::fs::write(d.join("scim-token"), SCIM_TOKEN).unwrap();
    assert_nothing_written_holds(d, &output, &SECRETS);
}

/// The runs every secret test makes: check-config, plan (into plan.json), reconcile, audit.
fn usual_runs(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(rosterd(dir, CAKE_KEY, &["check-config"]));
    out.extend(rosterd(dir, CAKE_KEY, &["plan", "--out", "plan.json", "--format", "json"]));
    out.extend(rosterd(dir, CAKE_KEY, &["reconcile", "--once"]));
    out.extend(rosterd(dir, CAKE_KEY, &["audit", "--format", "json"]));
    out
}

/// The usual runs, then `spoil` (a wrong secret written, say) and one more reconcile, off
/// the async runtime; their output.
async fn usual_runs_then(dir: &std::path::Path, spoil: impl FnOnce(&std::path::Path) + Send + 'static) -> Vec<u8> {
    let dir = dir.to_path_buf();
    let runs = tokio::task::spawn_blocking(move || {
        let mut out = usual_runs(&dir);
        spoil(&dir);
        out.extend(rosterd(&dir, CAKE_KEY, &["reconcile", "--once"]));
        out
    });
    runs.await.unwrap()
}

/// None of `secrets` in the output, any file of the state, plan.json, the `Debug` of the
/// config (loaded again with the right secrets in place) or the source's description.
fn assert_nothing_written_holds(d: &std::path::Path, output: &[u8], secrets: &[&str]) {
    let clean = |what: &str, bytes: &[u8]| {
        for s in secrets {
            assert!(!contains(bytes, s), "{what} contains the secret {s}");
        }
    };
    clean("the command output and logs", output);
    for (path, bytes) in all_files(&d.join("state")) {
        clean(&path.display().to_string(), &bytes);
    }
    clean("plan.json", &std::fs::read(d.join("plan.json")).unwrap());
    std::env::set_var("ROSTERD_TEST_CAKE_KEY", CAKE_KEY);
    let config = Config::load(&d.join("rosterd.yaml")).unwrap();
    clean("Debug of the config", format!("{config:?}").as_bytes());
    clean("the source description", rosterd::setup::source(&config.source).unwrap().describe().as_bytes());
}

const LDAP_PASSWORD: &str = support::slapd::READER_PASSWORD;
const WRONG_LDAP_PASSWORD: &str = "ldap-bind-SEEDED-WRONG-5d20b7";

/// The LDAP source's bind password (right, then wrong) never reaches the output, the logs,
/// the state, the plan, `Debug` or the source's description.
#[tokio::test(flavor = "multi_thread")]
async fn the_ldap_bind_password_reaches_no_log_audit_store_plan_or_debug() {
    use support::slapd::{person_ldif, Slapd, BASE, READER_DN};
    let Some(slapd) = Slapd::start(&(1..=5).map(person_ldif).collect::<String>()) else { return };
    let cake = CakeSandbox::start(CakeSandboxOptions::default().with_api_key(CAKE_KEY)).await.expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = format!(
        "  ldap: {{ url: \"{}\", bind_dn: \"{READER_DN}\", password_file: ldap-password, base_dn: \"{BASE}\" }}",
        slapd.url()
    );
    let text = config(&url::Url::parse("http://127.0.0.1:9").unwrap(), &cake.base_url());
    let text = text.replace(&text[text.find("  scim:").unwrap()..text.find("\nplatforms:").unwrap()], &source);
    std::fs::write(d.join("rosterd.yaml"), text).unwrap();
    std::fs::write(d.join("ldap-password"), LDAP_PASSWORD).unwrap();
    write_shared_secrets(d);
    let output = usual_runs_then(d, |d| std::fs::write(d.join("ldap-password"), WRONG_LDAP_PASSWORD).unwrap()).await;

    assert_eq!(cake.users().len(), 5, "{}", String::from_utf8_lossy(&output));
    assert!(String::from_utf8_lossy(&output).contains("invalidCredentials"), "the wrong password was refused");
    std::fs::write(d.join("ldap-password"), LDAP_PASSWORD).unwrap();
    assert_nothing_written_holds(d, &output, &[LDAP_PASSWORD, WRONG_LDAP_PASSWORD]);
}

/// The Okta source's secrets (API token, the service app's private key, every access token
/// the emulated org issued) reach neither the logs nor the state, nor `Debug`, while the
/// service app's token dies mid-read (renewed, the read completes) and a 429 with
/// `Retry-After` is waited out.
#[tokio::test]
async fn no_okta_secret_reaches_logs_state_or_debug() {
    use rosterd::sandbox::faults::{Fault, FaultRule};
    use rosterd::source::okta::sandbox::{
        Directory, OktaSandbox, OktaSandboxOptions, SERVICE_APP_CLIENT, SERVICE_APP_KEY,
    };
    use support::logs::Logs;
    use support::rig::{assert_nowhere, Rig};

    const OKTA_TOKEN: &str = "okta-SEEDED-SECRET-52aa0e";
    let logs = Logs::capture();
    let mut options = OktaSandboxOptions::new(OKTA_TOKEN, Directory::generated(700, "2024-05-02T10:11:12.000Z"));
    options.token_uses = Some(2);
    let okta = OktaSandbox::start(options).await.expect("the Okta emulator");
    okta.faults().script(FaultRule::on("users", Fault::too_many(1)).nth(3));
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    rig.write("okta-key.pem", SERVICE_APP_KEY);
    let source = format!(
        "  okta: {{ url: \"{}\", auth: oauth, client_id: {SERVICE_APP_CLIENT}, private_key_file: okta-key.pem }}",
        okta.base_url()
    );
    let platform = "    roles: [ { role: Account Manager } ]\n    rate_limit: { per_second: 1000, burst: 100 }";
    rig.write_config(&source, "", platform);
    let (plan, _) = rig.reconcile().await;
    assert!(plan.roster_complete, "{:?}", plan.roster_incomplete_reason);
    assert!(okta.faults().served().iter().any(|s| s.status == 429), "the 429 was served and waited out");
    let tokens = okta.issued_tokens();
    assert!(tokens.len() >= 3, "tokens renewed mid-read: {}", tokens.len());
    assert!(logs.text().contains("a new one is fetched"), "the renewal is logged");

    // The key's body lines, the API token (a config that names it), every access token.
    let mut secrets: Vec<String> =
        SERVICE_APP_KEY.lines().filter(|l| !l.starts_with("-----")).map(String::from).collect();
    secrets.push(OKTA_TOKEN.into());
    secrets.extend(tokens);
    assert_nowhere(&secrets, &logs.bytes(), &rig.path("state"));
    let config = rig.config();
    let shown = format!("{config:?}");
    assert!(secrets.iter().all(|s| !shown.contains(s.as_str())), "a secret in Debug of the config");
    rig.write("okta-token", OKTA_TOKEN);
    rig.edit(
        "rosterd.yaml",
        &format!("auth: oauth, client_id: {SERVICE_APP_CLIENT}, private_key_file: okta-key.pem"),
        "token_file: okta-token",
    );
    let shown = format!("{:?}", rig.config());
    assert!(!shown.contains(OKTA_TOKEN), "the API token in Debug of the config");
}

/// The Google source's secrets: the service account's private key (every line of it) and
/// every access token the emulator issued, after runs that read, were refused, and failed.
#[tokio::test(flavor = "multi_thread")]
async fn no_google_secret_reaches_logs_audit_store_plan_or_debug() {
    use rosterd::sandbox::faults::{Fault, FaultRule};
    use rosterd::source::google::sandbox::{GoogleSandbox, GoogleSandboxOptions, EMULATOR_KEY_PEM};
    let google = GoogleSandbox::start(GoogleSandboxOptions::generated(12)).await.expect("google");
    let cake = CakeSandbox::start(CakeSandboxOptions::default().with_api_key(CAKE_KEY)).await.expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let platform = config(&google.base_url(), &cake.base_url());
    let platform = platform.split_once("platforms:").map(|(_, p)| p).unwrap_or_default();
    let text = format!("state_dir: state\nsource:\n{}platforms:{platform}", google.source_yaml("google-key.json"));
    std::fs::write(d.join("rosterd.yaml"), &text).unwrap();
    std::fs::write(d.join("google-key.json"), google.key_json()).unwrap();
    write_shared_secrets(&d);
    // One token refused mid-read, so a renewal is logged too.
    google.faults().script(FaultRule::on("users", Fault::status(401)).nth(2));

    let output = usual_runs_then(&d, |d| {
        let yaml = std::fs::read_to_string(d.join("rosterd.yaml")).unwrap();
        std::fs::write(d.join("rosterd.yaml"), yaml.replace("admin@acme.example", "intruder@acme.example")).unwrap();
    })
    .await;

    let text = String::from_utf8_lossy(&output);
    assert!(cake.users().len() > 1, "the runs read Google: {text}");
    assert!(text.contains("unauthorized_client"), "the refused run says why: {text}");
    let tokens = google.issued_tokens();
    assert!(tokens.len() >= 3, "{} tokens", tokens.len());
    let key_lines = EMULATOR_KEY_PEM.lines().filter(|l| !l.starts_with("-----"));
    let secrets: Vec<String> = key_lines.map(String::from).chain(tokens).collect();
    let yaml = std::fs::read_to_string(d.join("rosterd.yaml")).unwrap();
    std::fs::write(d.join("rosterd.yaml"), yaml.replace("intruder@", "admin@")).unwrap();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_nothing_written_holds(&d, &output, &secrets);
}

const ENTRA_SECRET: &str = "entra-SEEDED-SECRET-5d7a19";
const WRONG_ENTRA_SECRET: &str = "entra-SEEDED-WRONG-0b3c66";

/// The Entra ID source: its client secret (right and wrong) and every access token the
/// emulator issued (tokens good for two calls each, so several are) reach nothing.
#[tokio::test(flavor = "multi_thread")]
async fn no_entra_client_secret_nor_access_token_reaches_logs_audit_store_plan_or_debug() {
    let options = EntraSandboxOptions { token_uses: Some(2), ..EntraSandboxOptions::default().with_people(6) };
    let entra = EntraSandbox::start(options.with_secret(ENTRA_SECRET)).await.expect("the Entra emulator");
    let cake = CakeSandbox::start(CakeSandboxOptions::default().with_api_key(CAKE_KEY)).await.expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let source = entra.source_yaml("entra-secret", ", page_size: 2, expand_manager: false, backoff_start_ms: 5");
    std::fs::write(d.join("rosterd.yaml"), config_with(&source, &cake.base_url())).unwrap();
    std::fs::write(d.join("entra-secret"), ENTRA_SECRET).unwrap();
    write_shared_secrets(&d);
    let output = usual_runs_then(&d, |d| std::fs::write(d.join("entra-secret"), WRONG_ENTRA_SECRET).unwrap()).await;

    let text = String::from_utf8_lossy(&output);
    assert!(!cake.users().is_empty(), "{text}");
    assert!(text.contains("AADSTS7000215"), "the wrong secret was refused: {text}");
    let mut secrets: Vec<String> = entra.issued_tokens();
    assert!(secrets.len() >= 3, "tokens were renewed during the reads");
    secrets.extend([ENTRA_SECRET, WRONG_ENTRA_SECRET].map(String::from));
    std::fs::write(d.join("entra-secret"), ENTRA_SECRET).unwrap();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_nothing_written_holds(&d, &output, &secrets);
    let config = Config::load(&d.join("rosterd.yaml")).unwrap();
    let rosterd::config::SourceConfig::Entra(settings) = &config.source else { panic!("an Entra source") };
    let source = rosterd::source::entra::EntraSource::new(settings.clone()).unwrap();
    for s in &secrets {
        assert!(!format!("{source:?}").contains(s), "Debug of the Entra source contains the secret {s}");
    }
}

/// The push source's bearer token (right, then wrong) never reaches the daemon's log, the
/// state, the plan, `Debug` or the source's description, after pushes the daemon accepted
/// and refused, and the usual commands over the pushed roster.
#[tokio::test(flavor = "multi_thread")]
async fn the_push_token_reaches_no_log_audit_store_plan_or_debug() {
    const PUSH_TOKEN: &str = "push-SEEDED-SECRET-19c4e2";
    const WRONG_PUSH_TOKEN: &str = "push-SEEDED-WRONG-b07d51";
    let cake = CakeSandbox::start(CakeSandboxOptions::default().with_api_key(CAKE_KEY)).await.expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = config_with("  push: { token_file: push-token }", &cake.base_url())
        .replace("http: { admin_token_file", &format!("http: {{ listen: \"127.0.0.1:{port}\", admin_token_file"));
    std::fs::write(d.join("rosterd.yaml"), text).unwrap();
    std::fs::write(d.join("push-token"), PUSH_TOKEN).unwrap();
    write_shared_secrets(d);
    let log = std::fs::File::create(d.join("daemon.log")).unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(["run", "-c", "rosterd.yaml", "--log", "trace", "--log-format", "json"])
        .env("ROSTERD_TEST_CAKE_KEY", CAKE_KEY)
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let users = format!("http://127.0.0.1:{port}/scim/v2/Users");
    let mut answered = None;
    for _ in 0..200 {
        let user = serde_json::json!({"userName": "p1@acme.example", "name": {"givenName": "P", "familyName": "One"},
            "emails": [{"value": "p1@acme.example"}]});
        if let Ok(r) = http.post(&users).bearer_auth(PUSH_TOKEN).json(&user).send().await {
            answered = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refused = http.get(&users).bearer_auth(WRONG_PUSH_TOKEN).send().await.unwrap().status().as_u16();
    let _ = std::process::Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status();
    let stopped = tokio::task::spawn_blocking(move || daemon.wait()).await.unwrap().unwrap();
    assert_eq!((answered, refused, stopped.success()), (Some(201), 401, true));
    let dd = d.to_path_buf();
    let mut output = std::fs::read(d.join("daemon.log")).unwrap();
    output.extend(tokio::task::spawn_blocking(move || usual_runs(&dd)).await.unwrap());
    assert_eq!(cake.users().len(), 1, "the pushed person was provisioned: {}", String::from_utf8_lossy(&output));
    assert_nothing_written_holds(d, &output, &[PUSH_TOKEN, WRONG_PUSH_TOKEN]);
}
