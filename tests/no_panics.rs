//! No input can panic rosterd: edge numbers in every numeric config key and edge `--since`
//! values give exit 0, 1 or 2 from the binary, never 101; a config that passes validation
//! also builds its source and connectors (what a reload does) without a panic.

use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use rosterd::config::Config;

/// Every numeric key, as a YAML line inside the config below (`{}` is the value).
const KEYS: &[&str] = &[
    "store: { cache_capacity_mb: {} }",
    "shutdown_grace_seconds: {}",
    "readiness: { max_failure_age_seconds: {} }",
    "safety: { max_removals: { count: {}, percent: 10 } }",
    "safety: { max_removals: { count: 5, percent: {} } }",
    "safety: { shrink_guard_percent: {} }",
    "safety: { grace: { runs: {} } }",
    "safety: { grace: { duration: \"{}d\" } }",
    "safety: { grace: { duration: \"{}s\" } }",
    "P rate_limit: { per_second: {} }",
    "P rate_limit: { burst: {} }",
    "P rate_limit: { concurrency: {} }",
    "P timeout_seconds: {}",
    "P page_size: {}",
];

/// The numbers that broke things before: tiny, huge, negative, not a number, past u64.
fn edge_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e-300".to_string()),
        Just("1e300".to_string()),
        Just(".nan".to_string()),
        Just(".inf".to_string()),
        Just("-.inf".to_string()),
        Just("18446744073709551615".to_string()),
        Just("99999999999999999999".to_string()),
        Just("4294967296".to_string()),
        Just("99999999999".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        (0u64..5000).prop_map(|n| n.to_string()),
    ]
}

fn config_text(key: &str, value: &str) -> String {
    let line = key.replace("{}", value);
    let (top, platform) = match line.strip_prefix("P ") {
        Some(p) => (String::new(), format!("    {p}\n")),
        None => (format!("{line}\n"), String::new()),
    };
    format!(
        "state_dir: state\nsource:\n  file: {{ path: roster.yaml }}\n{top}platforms:\n  - name: cake\n    kind: cake\n    \
         base_url: \"http://127.0.0.1:9\"\n    api_key_env: ROSTERD_NO_PANICS_KEY\n{platform}"
    )
}

fn rosterd(dir: &Path, args: &[&str]) -> Option<i32> {
    let out = Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(args)
        .current_dir(dir)
        .env("ROSTERD_NO_PANICS_KEY", "k")
        .output()
        .expect("rosterd runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    out.status.code()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn config_numbers_never_panic_check_config_or_a_reload(key in prop::sample::select(KEYS), value in edge_number()) {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(key, &value);
        std::fs::write(dir.path().join("rosterd.yaml"), &text).unwrap();
        let code = rosterd(dir.path(), &["check-config", "--offline", "-c", "rosterd.yaml"]);
        prop_assert!(matches!(code, Some(0 | 2)), "{text}: exit {code:?}");
        std::env::set_var("ROSTERD_NO_PANICS_KEY", "k");
        // What a reload does after validation: build the source and every connector.
        if let Ok(config) = Config::parse(&text, &dir.path().join("rosterd.yaml")) {
            prop_assert_eq!(code, Some(0));
            let built = rosterd::daemon::reload::build(config);
            prop_assert!(built.is_ok(), "{}", built.err().map(|e| e.to_string()).unwrap_or_default());
        }
    }

    #[test]
    fn since_values_never_panic_the_audit_command(
        n in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), Just("99999999999".to_string()), Just("-5".to_string())],
        unit in prop::sample::select(&["d", "h", "m", "s", "y", "ms", "", " weeks", "x"][..]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rosterd.yaml"), config_text("shutdown_grace_seconds: {}", "5")).unwrap();
        let since = format!("{n}{unit}");
        let code = rosterd(dir.path(), &["audit", "-c", "rosterd.yaml", "--since", &since, "--until", &since]);
        prop_assert!(matches!(code, Some(0..=2)), "--since {since}: exit {code:?}");
    }
}

#[test]
fn the_tiny_rate_that_killed_a_reload_is_refused_by_check_config_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rosterd.yaml"), config_text("P rate_limit: { per_second: {} }", "1e-300")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(["check-config", "--offline", "-c", "rosterd.yaml"])
        .current_dir(dir.path())
        .env("ROSTERD_NO_PANICS_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("platforms[0].rate_limit.per_second: 1e-300 is out of range"), "{stderr}");
}

#[test]
fn an_audit_since_beyond_any_date_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rosterd.yaml"), config_text("shutdown_grace_seconds: {}", "5")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(["audit", "-c", "rosterd.yaml", "--since", "99999999999d"])
        .current_dir(dir.path())
        .env("ROSTERD_NO_PANICS_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("longer than the longest accepted"));
}
