//! `rosterd demo`: a sandbox CAKE on loopback, the embedded example roster, one
//! reconcile that creates and adopts accounts, and a second pass that plans nothing.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::exit;
use crate::sandbox::cake::{CakeSandbox, CakeSandboxOptions, CakeUser};

const ROSTER: &str = include_str!("../config/demo/roster.yaml");
const CONFIG: &str = include_str!("../config/demo/rosterd.yaml");

/// Run the demo; the state lives in `state_dir` or a temporary folder removed at the end.
pub async fn run(state_dir: Option<PathBuf>) -> u8 {
    let keep = state_dir.is_some();
    let temp = match state_dir {
        Some(_) => None,
        None => match tempfile::Builder::new().prefix("rosterd-demo-").tempdir() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("rosterd demo: cannot make a temporary folder: {e}");
                return exit::ERROR;
            }
        },
    };
    let dir = state_dir.unwrap_or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()).unwrap_or_default());
    match demo(&dir, keep).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rosterd demo: {e}");
            exit::ERROR
        }
    }
}

/// The accounts CAKE holds before rosterd first runs.
fn sandbox_options() -> CakeSandboxOptions {
    CakeSandboxOptions::default()
        .with_user(CakeUser::new("Site", "Admin", "admin@acme.example", 1))
        .with_user(CakeUser::new("Grace", "Hopper-Old", "grace.hopper@acme.example", 3))
        .with_user(CakeUser::new("Pat", "Contractor", "pat@agency.example", 2))
}

async fn demo(dir: &Path, keep: bool) -> Result<u8, String> {
    let sandbox =
        CakeSandbox::start(sandbox_options()).await.map_err(|e| format!("cannot start the sandbox CAKE: {e}"))?;
    let config = write_files(dir, &sandbox)?;
    println!(
        "rosterd demo: sandbox CAKE at {} holding {} accounts; roster of 8 people",
        sandbox.base_url(),
        sandbox.users().len()
    );
    let kept = if keep { "" } else { " (temporary: use --state-dir DIR to keep it)" };
    println!("state (store, audit trail) in {}{kept}\n", dir.display());
    let engine = crate::setup::engine(config).map_err(|e| e.to_string())?;

    println!("== first pass: plan");
    let planned = engine.plan(None).await.map_err(|e| e.to_string())?;
    print!("{}", planned.plan.to_table());
    let summary = engine.apply(&planned, "demo").await.map_err(|e| e.to_string())?;
    println!("\n== applied");
    print!("{}", summary.to_table());

    println!("\n== second pass: plan");
    let again = engine.plan(None).await.map_err(|e| e.to_string())?;
    print!("{}", again.plan.to_table());
    let changes = again.plan.change_count();
    println!("\nCAKE now holds:");
    let roles = CakeSandboxOptions::default().roles;
    for u in sandbox.users() {
        let role = roles.iter().find(|r| r.role_id == u.role_id).map_or("?", |r| r.role_name.as_str());
        println!("  {:<28} {:<9} {role}", u.email, u.user_status);
    }
    print_audit(&engine.config.audit_path());
    if keep {
        println!("(see it again with: rosterd audit -c {})", dir.join("rosterd.yaml").display());
    }
    sandbox.shutdown().await;
    if changes == 0 && summary.failed() == 0 {
        println!("demo converged: the second pass plans zero changes.");
        Ok(exit::OK)
    } else {
        println!("demo did NOT converge: {changes} change(s) left, {} failure(s).", summary.failed());
        Ok(exit::ERROR)
    }
}

/// The audit trail the first pass wrote, one line a change.
fn print_audit(path: &Path) {
    println!("\naudit trail ({}):", path.display());
    let Ok(records) = crate::audit::read_records(path) else { return };
    for r in records.flatten() {
        println!(
            "  {} {:<10} {:<28} [{}] {}",
            r.platform,
            r.action,
            r.person,
            r.account_id.as_deref().unwrap_or("-"),
            r.outcome
        );
    }
}

/// Write the roster, the key file and the config into the demo's folder, and load it the
/// way a user's config is loaded.
fn write_files(dir: &Path, sandbox: &CakeSandbox) -> Result<Config, String> {
    let io = |what: &str, e: std::io::Error| format!("cannot write {what} in {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(|e| io("the folder", e))?;
    std::fs::write(dir.join("roster.yaml"), ROSTER).map_err(|e| io("roster.yaml", e))?;
    write_private(&dir.join("cake-api-key"), sandbox.api_key()).map_err(|e| io("cake-api-key", e))?;
    let text = CONFIG
        .replace("{state_dir}", &dir.join("state").display().to_string())
        .replace("{cake_url}", sandbox.base_url().as_str());
    let path = dir.join("rosterd.yaml");
    std::fs::write(&path, &text).map_err(|e| io("rosterd.yaml", e))?;
    Config::load(&path).map_err(|e| e.to_string())
}

/// A key file readable by its owner only, as a real deployment keeps it.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(content.as_bytes())
}
