//! `rosterd demo`: one sandbox platform of each kind on loopback, the embedded example roster, one
//! reconcile that creates and adopts accounts, and a second pass that plans nothing.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::exit;
use crate::platform::emulator::{DemoSeed, Emulator};
use crate::platform::registry::KINDS;
use crate::source::DemoSource;

const ROSTER: &str = include_str!("../config/demo/roster.yaml");
/// Everything but the platforms; each kind's entry comes from its registry entry.
const CONFIG_HEAD: &str = include_str!("../config/demo/rosterd.yaml");

/// Run the demo; the state lives in `state_dir` or a temporary folder removed at the end.
pub async fn run(state_dir: Option<PathBuf>, source: DemoSource) -> u8 {
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
    match demo(&dir, keep, source).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rosterd demo: {e}");
            exit::ERROR
        }
    }
}

/// What can stop the demo, each with its cause.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the sandbox platforms: {0}")]
    Start(#[source] std::io::Error),
    #[error("cannot write {what} in {dir}: {source}")]
    Write { what: &'static str, dir: String, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Engine(#[from] crate::reconcile::EngineError),
}

/// One sandbox platform of each kind, as they stand before rosterd first runs.
struct Sandboxes(Vec<(&'static DemoSeed, Box<dyn Emulator>)>);

impl Sandboxes {
    async fn start() -> std::io::Result<Sandboxes> {
        let mut started = Vec::with_capacity(KINDS.len());
        for kind in KINDS {
            let seed = &kind.sandbox.demo;
            started.push((seed, (seed.start)().await?));
        }
        Ok(Sandboxes(started))
    }

    /// (placeholder, URL, key file, key) for each platform of the demo config.
    fn wiring(&self) -> Vec<(String, url::Url, &'static str, String)> {
        let wire = |(seed, emulator): &(&'static DemoSeed, Box<dyn Emulator>)| {
            (format!("{{{}_url}}", seed.label), emulator.base_url(), seed.key_file, emulator.key())
        };
        self.0.iter().map(wire).collect()
    }

    /// The demo's config: the head, then each kind's entry.
    fn config_text(&self) -> String {
        let entries: Vec<&str> = self.0.iter().map(|(seed, _)| seed.entry.trim_end()).collect();
        format!("{CONFIG_HEAD}{}\n", entries.join("\n\n"))
    }

    async fn shutdown(self) {
        for (_, emulator) in self.0 {
            emulator.shutdown().await;
        }
    }
}

async fn demo(dir: &Path, keep: bool, source: DemoSource) -> Result<u8, DemoError> {
    let sandboxes = Sandboxes::start().await.map_err(DemoError::Start)?;
    let config = write_files(dir, &sandboxes)?;
    // Held to the end: the emulated identity provider the roster is read from, if any.
    let (config, _idp) = match source {
        DemoSource::File => (config, None),
        DemoSource::Okta => {
            let (config, org) = read_from_okta(dir, config).await?;
            (config, Some(Box::new(org) as Box<dyn std::any::Any + Send>))
        }
        DemoSource::Google | DemoSource::Entra => {
            let roster =
                crate::setup::source(&config.source)?.read().await.map_err(crate::reconcile::EngineError::from)?;
            let (yaml, idp) = serve_roster(source, dir, &roster.people).await.map_err(DemoError::Start)?;
            (read_from(dir, &yaml)?, Some(idp))
        }
    };
    println!(
        "rosterd demo: {} sandbox platforms on 127.0.0.1, a roster of 8 people (config/demo/roster.yaml)",
        KINDS.len()
    );
    for (placeholder, url, _, _) in sandboxes.wiring() {
        println!("  {:<16} {url}", placeholder.trim_matches(['{', '}']).trim_end_matches("_url"));
    }
    let kept = if keep { "" } else { " (temporary: use --state-dir DIR to keep it)" };
    println!("state (store, audit trail) in {}{kept}\n", dir.display());
    let engine = crate::setup::engine(config)?;

    println!("== first pass: plan");
    let planned = engine.plan(None).await?;
    print!("{}", planned.plan.to_table());
    let summary = engine.apply(&planned, "demo").await?;
    println!("\n== applied");
    print!("{}", summary.to_table());

    println!("\n== second pass: plan");
    let again = engine.plan(None).await?;
    print!("{}", again.plan.to_table());
    let changes = again.plan.change_count();

    println!("\n== who has access where (rosterd report)");
    let report = engine.report(None).await?;
    print!("{}", report.to_table());
    if keep {
        println!(
            "\naudit trail: {} (rosterd audit -c {})",
            engine.config.audit_path().display(),
            dir.join("rosterd.yaml").display()
        );
    }
    sandboxes.shutdown().await;
    if changes == 0 && summary.failed() == 0 {
        println!("\ndemo converged: the second pass plans zero changes on every platform.");
        Ok(exit::OK)
    } else {
        println!("\ndemo did NOT converge: {changes} change(s) left, {} failure(s).", summary.failed());
        Ok(exit::ERROR)
    }
}

/// The demo's first plan as JSON, with what differs from run to run (run id, time, loopback
/// ports, the folder) made constant, and only the platforms named in `platforms`: the golden
/// plan test holds it byte for byte (a kind added later adds its platform, not a change).
pub async fn first_plan(dir: &Path, platforms: &[&str]) -> Result<String, DemoError> {
    let sandboxes = Sandboxes::start().await.map_err(DemoError::Start)?;
    let planned = match write_files(dir, &sandboxes) {
        Ok(config) => match crate::setup::engine(config) {
            Ok(engine) => engine.plan(None).await.map_err(DemoError::from),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e),
    };
    let wiring = sandboxes.wiring();
    sandboxes.shutdown().await;
    let mut plan = planned?.plan;
    plan.platforms.retain(|p| platforms.contains(&p.platform.as_str()));
    plan.run_id = "RUN".into();
    plan.created_at = "TIME".into();
    let mut json = plan.to_json();
    for (placeholder, url, _, _) in wiring {
        json = json.replace(url.as_str().trim_end_matches('/'), &placeholder);
    }
    Ok(json.replace(&dir.display().to_string(), "{dir}"))
}

/// Write the roster, the key files and the config into the demo's folder, and load it
/// the way a user's config is loaded.
fn write_files(dir: &Path, sandboxes: &Sandboxes) -> Result<Config, DemoError> {
    let io =
        |what: &'static str, source: std::io::Error| DemoError::Write { what, dir: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(|e| io("the folder", e))?;
    std::fs::write(dir.join("roster.yaml"), ROSTER).map_err(|e| io("roster.yaml", e))?;
    let mut text = sandboxes.config_text().replace("{state_dir}", &dir.join("state").display().to_string());
    for (placeholder, url, key_file, key) in sandboxes.wiring() {
        text = text.replace(&placeholder, url.as_str());
        write_private(&dir.join(key_file), &key).map_err(|e| io(key_file, e))?;
    }
    let path = dir.join("rosterd.yaml");
    std::fs::write(&path, &text).map_err(|e| io("rosterd.yaml", e))?;
    Ok(Config::load(&path)?)
}

/// Serve the demo roster from an emulated Okta org and point the config at it.
async fn read_from_okta(
    dir: &Path,
    config: Config,
) -> Result<(Config, crate::source::okta::sandbox::OktaSandbox), DemoError> {
    let io =
        |what: &'static str, source: std::io::Error| DemoError::Write { what, dir: dir.display().to_string(), source };
    let roster =
        crate::setup::source(&config.source)?.read().await.map_err(|e| io("the roster", std::io::Error::other(e)))?;
    let (org, block, (token_file, token)) =
        crate::source::okta::sandbox::start_demo(&roster.people).await.map_err(DemoError::Start)?;
    write_private(&dir.join(token_file), token).map_err(|e| io("okta-token", e))?;
    let path = dir.join("rosterd.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| io("rosterd.yaml", e))?;
    let text = text.replace("source:\n  file:\n    path: roster.yaml\n", &block);
    std::fs::write(&path, text).map_err(|e| io("rosterd.yaml", e))?;
    println!("the roster is read from an emulated Okta org at {}", org.base_url());
    Ok((Config::load(&path)?, org))
}

/// The demo roster served by the emulator of `source`: the `source:` entry reading it, and
/// the emulator, kept running until the demo ends.
async fn serve_roster(
    source: DemoSource,
    dir: &Path,
    people: &[crate::model::Person],
) -> std::io::Result<(String, Box<dyn std::any::Any + Send>)> {
    Ok(match source {
        DemoSource::Entra => {
            let (yaml, emu) = crate::source::entra::sandbox::for_demo(dir, people).await?;
            (yaml, Box::new(emu))
        }
        DemoSource::Google => {
            let (yaml, emu) = crate::source::google::sandbox::for_demo(dir, people).await?;
            (yaml, Box::new(emu))
        }
        other => return Err(std::io::Error::other(format!("{other:?} is not served from the demo roster"))),
    })
}

/// The demo's config with this `source:` block instead of the roster file's.
fn read_from(dir: &Path, source_yaml: &str) -> Result<Config, DemoError> {
    let path = dir.join("rosterd.yaml");
    let io = |source: std::io::Error| DemoError::Write { what: "rosterd.yaml", dir: dir.display().to_string(), source };
    let text = std::fs::read_to_string(&path).map_err(io)?;
    std::fs::write(&path, text.replace("  file:\n    path: roster.yaml\n", source_yaml)).map_err(io)?;
    Ok(Config::load(&path)?)
}

/// A key file readable by its owner only, as a real deployment keeps it.
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(content.as_bytes())
}
