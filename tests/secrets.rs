//! No secret reaches the logs, the audit trail, the store, the plan or `Debug` output:
//! the real binary runs with known secrets (right and wrong ones) at the most verbose log
//! level, and everything it wrote is searched for them.

mod support;

use rosterd::config::Config;
use rosterd::platform::cake::sandbox::{CakeSandbox, CakeSandboxOptions};
use support::cli::rosterd_traced;
use support::rig::{all_files, contains};
use support::scim_server::ScimServer;

const SCIM_TOKEN: &str = "scim-SEEDED-SECRET-a81f30";
const WRONG_SCIM_TOKEN: &str = "scim-SEEDED-WRONG-77de02";
const CAKE_KEY: &str = "cake-SEEDED-SECRET-4c9b11";
const WRONG_CAKE_KEY: &str = "cake-SEEDED-WRONG-e3a5d8";
const SECRETS: [&str; 4] = [SCIM_TOKEN, WRONG_SCIM_TOKEN, CAKE_KEY, WRONG_CAKE_KEY];

fn config(scim: &url::Url, cake: &url::Url) -> String {
    format!(
        r#"state_dir: state
source:
  scim: {{ url: "{scim}", token_file: scim-token, page_size: 2 }}
platforms:
  - name: cake
    kind: cake
    base_url: "{cake}"
    api_key_env: ROSTERD_TEST_CAKE_KEY
    roles: [ {{ role: Account Manager }} ]
    rate_limit: {{ per_second: 1000, burst: 100 }}
"#
    )
}

/// Run the binary (JSON logs); returns stdout + stderr.
fn rosterd(dir: &std::path::Path, cake_key: &str, args: &[&str]) -> Vec<u8> {
    rosterd_traced(dir, cake_key, args, true)
}

/// `check-config`, a saved plan and one reconcile, as a first-time user runs them.
fn first_runs(dir: &std::path::Path) -> Vec<u8> {
    let runs: [&[&str]; 3] =
        [&["check-config"], &["plan", "--out", "plan.json", "--format", "json"], &["reconcile", "--once"]];
    runs.iter().flat_map(|args| rosterd(dir, CAKE_KEY, args)).collect()
}

fn assert_clean(what: &str, bytes: &[u8]) {
    for s in SECRETS {
        assert!(!contains(bytes, s), "{what} contains the secret {s}");
    }
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

    let mut output = Vec::new();
    let dd = d.to_path_buf();
    let runs = tokio::task::spawn_blocking(move || {
        let mut out = first_runs(&dd);
        out.extend(rosterd(&dd, CAKE_KEY, &["audit", "--format", "json"]));
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
    assert_clean("the command output and logs", &output);
    for (path, bytes) in all_files(&d.join("state")) {
        assert_clean(&path.display().to_string(), &bytes);
    }
    assert_clean("plan.json", &std::fs::read(d.join("plan.json")).unwrap());

    std::fs::write(d.join("scim-token"), SCIM_TOKEN).unwrap();
    std::env::set_var("ROSTERD_TEST_CAKE_KEY", CAKE_KEY);
    let config = Config::load(&d.join("rosterd.yaml")).unwrap();
    assert_clean("Debug of the config", format!("{config:?}").as_bytes());
    let source = rosterd::setup::source(&config.source).unwrap();
    assert_clean("the source description", source.describe().as_bytes());
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
    // One token refused mid-read, so a renewal is logged too.
    google.faults().script(FaultRule::on("users", Fault::status(401)).nth(2));

    let dd = d.clone();
    let output = tokio::task::spawn_blocking(move || {
        let mut out = first_runs(&dd);
        let yaml = std::fs::read_to_string(dd.join("rosterd.yaml")).unwrap();
        std::fs::write(dd.join("rosterd.yaml"), yaml.replace("admin@acme.example", "intruder@acme.example")).unwrap();
        out.extend(rosterd(&dd, CAKE_KEY, &["reconcile", "--once"]));
        out
    })
    .await
    .unwrap();

    let text = String::from_utf8_lossy(&output);
    assert!(cake.users().len() > 1, "the runs read Google: {text}");
    assert!(text.contains("unauthorized_client"), "the refused run says why: {text}");
    let tokens = google.issued_tokens();
    assert!(tokens.len() >= 3, "{} tokens", tokens.len());
    let key_lines = EMULATOR_KEY_PEM.lines().filter(|l| !l.starts_with("-----"));
    let secrets: Vec<String> = key_lines.map(String::from).chain(tokens).collect();
    let clean = |what: &str, bytes: &[u8]| {
        for s in &secrets {
            assert!(!contains(bytes, s), "{what} contains the secret {s}");
        }
    };
    clean("the command output and logs", &output);
    for (path, bytes) in all_files(&d.join("state")) {
        clean(&path.display().to_string(), &bytes);
    }
    clean("plan.json", &std::fs::read(d.join("plan.json")).unwrap());
    std::env::set_var("ROSTERD_TEST_CAKE_KEY", CAKE_KEY);
    let yaml = std::fs::read_to_string(d.join("rosterd.yaml")).unwrap();
    std::fs::write(d.join("rosterd.yaml"), yaml.replace("intruder@", "admin@")).unwrap();
    let config = Config::load(&d.join("rosterd.yaml")).unwrap();
    clean("Debug of the config", format!("{config:?}").as_bytes());
    let source = rosterd::setup::source(&config.source).unwrap();
    clean("Debug of the source", format!("{:?}{}", source.describe(), source.describe()).as_bytes());
}
