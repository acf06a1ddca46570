//! Private files: under umask 022 the state directory is 0700 and the store, the audit
//! trail and `plan --out` are 0600 (they hold names and emails).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// Run rosterd as a shell or cron job with the common umask 022 would.
fn rosterd_umask_022(dir: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rosterd"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("rosterd runs")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// Every file and folder under `dir`, with its mode.
fn walk(dir: &Path, out: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push((path.display().to_string(), mode(&path)));
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

#[test]
fn under_umask_022_the_state_dir_is_0700_and_every_file_rosterd_writes_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = rosterd_umask_022(tmp.path(), &["demo", "--state-dir", demo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let state = demo.join("state");
    assert_eq!(mode(&state), 0o700, "the state directory");
    assert_eq!(mode(&state.join("audit.jsonl")), 0o600, "the audit trail");
    let mut entries = Vec::new();
    walk(&state.join("store"), &mut entries);
    assert!(entries.len() >= 2, "the store has files: {entries:?}");
    for (path, m) in &entries {
        let want = if Path::new(path).is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*m, want, "{path}: {m:o}");
    }

    // A plan saved by hand (the demo's sandboxes are gone: the platforms fail, the plan is still saved).
    let config = demo.join("rosterd.yaml");
    let plan = tmp.path().join("plan.json");
    let out = rosterd_umask_022(tmp.path(), &["plan", "-c", config.to_str().unwrap(), "--out", "plan.json"]);
    assert!(plan.exists(), "exit {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&plan), 0o600, "plan --out");
}

fn check_config(dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rosterd"));
    cmd.args(["check-config", "--offline", "-c", "rosterd.yaml"]).current_dir(dir).env_remove("CREDENTIALS_DIRECTORY");
    cmd.envs(env.iter().copied()).output().expect("rosterd runs")
}

#[test]
fn check_config_fails_on_a_secret_file_every_user_can_read_and_takes_systemd_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let key = creds.join("cake-api-key");
    std::fs::write(&key, "k-1\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config =
        "state_dir: state\nsource:\n  file: { path: roster.yaml }\nplatforms:\n  - name: cake\n    kind: cake\n    \
                  base_url: \"https://cake.example.com\"\n    api_key_file: \"%d/cake-api-key\"\n";
    std::fs::write(tmp.path().join("rosterd.yaml"), config).unwrap();
    let dir = creds.to_str().unwrap();

    let out = check_config(tmp.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CREDENTIALS_DIRECTORY is not set"), "{stderr}");

    let out = check_config(tmp.path(), &[("CREDENTIALS_DIRECTORY", dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("platforms[0].api_key_file: ") && stderr.contains("can be read by every user"), "{stderr}");
    assert!(stderr.contains(&format!("chmod 600 {}", key.display())), "{stderr}");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = check_config(tmp.path(), &[("CREDENTIALS_DIRECTORY", dir)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
