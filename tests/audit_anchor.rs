//! The anchored audit trail, through `rosterd audit --verify`: lines cut from the end are
//! found (the head is kept in the store), and with `audit.hmac_key_file` a chain rewritten
//! consistently, anchor included, is found too.

mod support;

use std::path::Path;
use std::process::Command;

use rosterd::anchor::{AuditKey, Head, HeadStore};
use rosterd::audit::{AuditRecord, GENESIS};
use rosterd::platform::cake::sandbox::CakeSandboxOptions;
use sha2::{Digest, Sha256};
use support::people::people;
use support::rig::Rig;

const PLATFORM: &str =
    "    roles: [ { role: Account Manager } ]\n    rate_limit: { per_second: 1000, burst: 100, concurrency: 8 }";

/// A rig whose first run created `n` accounts, each with its audit line.
async fn rig_with_lines(n: usize, with_key: bool) -> Rig {
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    let config =
        rig.write_config("  file: { path: roster.yaml }", "  max_removals: { count: 100, percent: 100 }", PLATFORM);
    if with_key {
        write_private(&rig.path("audit-key"), "a-long-audit-hmac-key-5e1f0c2d9b\n");
        let text = std::fs::read_to_string(&config).unwrap() + "audit:\n  hmac_key_file: audit-key\n";
        std::fs::write(&config, text).unwrap();
    }
    rig.roster(people(n));
    let (_, summary) = rig.reconcile().await;
    assert_eq!(summary.record.platforms[0].created, n);
    rig
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn verify(rig: &Rig) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(["audit", "--verify", "-c", "rosterd.yaml"])
        .current_dir(rig.dir.path())
        .output()
        .unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn lines(rig: &Rig) -> Vec<String> {
    std::fs::read_to_string(rig.audit_path()).unwrap().lines().map(str::to_string).collect()
}

/// `rosterd audit --verify` exits with `code` and says each of `says`.
fn assert_verify(rig: &Rig, code: i32, says: &[&str]) {
    let (exit, out) = verify(rig);
    assert_eq!(exit, Some(code), "{out}");
    for needle in says {
        assert!(out.contains(needle), "{out}");
    }
}

fn rewrite(rig: &Rig, lines: &[String]) {
    std::fs::write(rig.audit_path(), lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn cutting_three_lines_off_the_end_fails_audit_verify() {
    let rig = rig_with_lines(6, false).await;
    assert_verify(&rig, 0, &["6 line(s), hash chain intact and matching its anchor"]);

    let all = lines(&rig);
    rewrite(&rig, &all[..all.len() - 3]);
    assert_verify(&rig, 4, &["the last 3 line(s) were cut"]);
}

/// An attacker who can write the file and the store: every line edited and rehashed, with
/// plain sha256 (no key) or with a key of their own, and the anchor moved to the new end.
/// The plain hashing is written out here, not the crate's, so it also pins the format.
fn rewrite_consistently(rig: &Rig, with: Option<&AuditKey>) {
    let mut prev = GENESIS.to_string();
    let mut out = Vec::new();
    for l in lines(rig) {
        let mut r: AuditRecord = serde_json::from_str(&l).unwrap();
        r.outcome = "failed".into();
        r.prev = prev.clone();
        r.hash = String::new();
        let body = serde_json::to_string(&r).unwrap();
        r.hash = match with {
            Some(k) => k.line_hash(&r.prev, &body),
            None => hex::encode(Sha256::new().chain_update(r.prev.as_bytes()).chain_update(body.as_bytes()).finalize()),
        };
        prev = r.hash.clone();
        out.push(serde_json::to_string(&r).unwrap());
    }
    rewrite(rig, &out);
    let (store, _) = rosterd::store::Store::open(&rig.path("state"), 1 << 20).unwrap();
    let head = match with {
        Some(k) => k.head(out.len() as u64, prev),
        None => Head { lines: out.len() as u64, hash: prev, mac: None },
    };
    store.audit_head().unwrap().save(&head).unwrap();
    store.flush().unwrap();
}

#[tokio::test]
async fn with_the_hmac_key_a_consistently_rewritten_chain_fails_audit_verify() {
    let rig = rig_with_lines(4, true).await;
    assert_verify(&rig, 0, &["HMAC chain intact"]);
    assert!(lines(&rig)[0].contains(r#""hash":"hmac:"#));
    rewrite_consistently(&rig, None);
    // Plain hashes pass as lines from before the key, but the anchor then has no MAC.
    assert_verify(&rig, 4, &["the anchor has no MAC"]);
}

#[tokio::test]
async fn with_the_hmac_key_a_chain_rewritten_with_another_key_fails_audit_verify() {
    let rig = rig_with_lines(4, true).await;
    rewrite_consistently(&rig, Some(&AuditKey::new("x".repeat(32).into()).unwrap()));
    assert_verify(&rig, 4, &["line 1: its HMAC does not match"]);
}

#[tokio::test]
async fn a_keyed_chain_verified_without_the_key_says_to_set_it() {
    let rig = rig_with_lines(4, true).await;
    let config = rig.path("rosterd.yaml");
    let text = std::fs::read_to_string(&config).unwrap().replace("audit:\n  hmac_key_file: audit-key\n", "");
    std::fs::write(&config, text).unwrap();
    assert_verify(&rig, 4, &["set audit.hmac_key_file"]);
}

#[tokio::test]
async fn without_the_key_the_same_rewrite_passes_which_is_what_the_key_is_for() {
    let rig = rig_with_lines(4, false).await;
    rewrite_consistently(&rig, None);
    assert_verify(&rig, 0, &[]);
}
