//! No secret reaches the logs, the audit trail, the store, the plan or `Debug` output:
//! the real binary runs with known secrets (right and wrong ones) at the most verbose log
//! level, and everything it wrote is searched for them.

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
const SECRETS: [&str; 4] = [SCIM_TOKEN, WRONG_SCIM_TOKEN, CAKE_KEY, WRONG_CAKE_KEY];

fn config(scim: &url::Url, cake: &url::Url) -> String {
    config_with(&format!("  scim: {{ url: \"{scim}\", token_file: scim-token, page_size: 2 }}"), cake)
}

/// The config reading this `source:` block into CAKE (its key from the environment).
fn config_with(source: &str, cake: &url::Url) -> String {
    format!(
        r#"state_dir: state
source:
{source}
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

fn assert_clean(what: &str, bytes: &[u8]) {
    assert_free(what, bytes, &SECRETS.map(String::from));
}

fn assert_free(what: &str, bytes: &[u8], secrets: &[String]) {
    for s in secrets {
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
        let mut out = Vec::new();
        out.extend(rosterd(&dd, CAKE_KEY, &["check-config"]));
        out.extend(rosterd(&dd, CAKE_KEY, &["plan", "--out", "plan.json", "--format", "json"]));
        out.extend(rosterd(&dd, CAKE_KEY, &["reconcile", "--once"]));
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
    let dd = d.clone();
    let output = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for args in
            [&["check-config"][..], &["plan", "--out", "plan.json", "--format", "json"], &["reconcile", "--once"]]
        {
            out.extend(rosterd(&dd, CAKE_KEY, args));
        }
        std::fs::write(dd.join("entra-secret"), WRONG_ENTRA_SECRET).unwrap();
        out.extend(rosterd(&dd, CAKE_KEY, &["reconcile", "--once"]));
        out
    })
    .await
    .unwrap();

    let text = String::from_utf8_lossy(&output);
    assert!(!cake.users().is_empty(), "{text}");
    assert!(text.contains("AADSTS7000215"), "the wrong secret was refused: {text}");
    let mut secrets: Vec<String> = entra.issued_tokens();
    assert!(secrets.len() >= 3, "tokens were renewed during the reads");
    secrets.extend([ENTRA_SECRET, WRONG_ENTRA_SECRET].map(String::from));
    assert_free("the command output and logs", &output, &secrets);
    for (path, bytes) in all_files(&d.join("state")) {
        assert_free(&path.display().to_string(), &bytes, &secrets);
    }
    assert_free("plan.json", &std::fs::read(d.join("plan.json")).unwrap(), &secrets);
    std::fs::write(d.join("entra-secret"), ENTRA_SECRET).unwrap();
    std::env::set_var("ROSTERD_TEST_CAKE_KEY", CAKE_KEY);
    let config = Config::load(&d.join("rosterd.yaml")).unwrap();
    assert_free("Debug of the config", format!("{config:?}").as_bytes(), &secrets);
    let rosterd::config::SourceConfig::Entra(settings) = &config.source else { panic!("an Entra source") };
    let source = rosterd::source::entra::EntraSource::new(settings.clone()).unwrap();
    let seen = format!("{} {source:?}", rosterd::source::Source::describe(&source));
    assert_free("the source description and Debug", seen.as_bytes(), &secrets);
}
