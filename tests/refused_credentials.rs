//! Refused credentials (issue 13): on every platform kind, a listing answered 401 or 403
//! fails the platform's run as refused credentials, naming the platform and what to check,
//! never as a malformed listing and never as "no users".

use rosterd::config::Config;
use rosterd::platform::sandboxes::{kinds, AnySandbox};
use rosterd::sandbox::faults::{Fault, FaultRule};

/// The run's error for the platform `acme-<kind>` when every listing is answered `code`.
async fn listing_refused_with(kind: &str, code: u16) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = AnySandbox::start(kind).await.unwrap();
    std::fs::write(dir.path().join("key"), format!("{}\n", sandbox.key())).unwrap();
    let config = format!(
        "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\nplatforms:\n{}",
        sandbox.platform_entry(&format!("acme-{kind}"), "key", "")
    );
    std::fs::write(dir.path().join("rosterd.yaml"), config).unwrap();
    let roster = "complete: true\npeople:\n  - { id: \"1\", user_name: a@acme.example, given_name: A, family_name: B, email: a@acme.example }\n";
    std::fs::write(dir.path().join("roster.yaml"), roster).unwrap();
    sandbox.faults().script(FaultRule::on("list", Fault::status(code)).always());
    let engine = rosterd::setup::engine(Config::load(&dir.path().join("rosterd.yaml")).unwrap()).unwrap();
    let (plan, _) = engine.reconcile("refused", false).await.unwrap();
    assert_eq!(sandbox.write_calls(), 0, "{kind}: nothing is written after a refused listing");
    sandbox.shutdown().await;
    plan.platforms[0].error.clone().unwrap_or_else(|| panic!("{kind}: HTTP {code} on the listing did not fail the run"))
}

#[tokio::test]
async fn a_401_or_403_on_any_listing_is_refused_credentials_naming_what_to_check() {
    for kind in kinds() {
        for code in [401, 403] {
            let error = listing_refused_with(kind, code).await;
            assert!(error.starts_with(&format!("acme-{kind}: credentials refused on ")), "{kind} {code}: {error}");
            assert!(!error.contains("malformed"), "{kind} {code}: {error}");
            let hint = match kind {
                "cake" => "api_key",
                "affise" => "General manager",
                "agencyanalytics" => "auth_scheme",
                "filespin" => "Admin role",
                "clienttoolbox" => "caller_user_id",
                "scim" => "bearer token",
                // A kind added later: its own words, after the refusal, say what to check.
                _ => "; check",
            };
            assert!(error.contains(hint), "{kind} {code}: {error}");
        }
    }
}
