//! Build script: the commit rosterd is built from, for `--version` and the
//! `rosterd_build_info` metric ("unknown" when built outside a git checkout or without git).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ROSTERD_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout), and only then: every path named here
    // exists, since a missing one would make cargo run this script on every build.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        if Path::new(&head).exists() {
            println!("cargo:rerun-if-changed={head}");
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(reference) = git(&["rev-parse", "--git-path", &branch]) {
            if Path::new(&reference).exists() {
                println!("cargo:rerun-if-changed={reference}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
