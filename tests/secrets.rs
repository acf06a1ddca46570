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
