//! The rosterd binary run as a user runs it, for the tests that read everything it prints.

use std::path::Path;
use std::process::Command;

/// Run `rosterd <args> -c rosterd.yaml --log trace --log-format <format>` in `dir` with
/// `ROSTERD_TEST_CAKE_KEY` set to `cake_key`; all it printed, stdout then stderr.
pub fn rosterd_traced(dir: &Path, cake_key: &str, args: &[&str], json_logs: bool) -> Vec<u8> {
    let format = if json_logs { "json" } else { "text" };
    let out = Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(args)
        .args(["-c", "rosterd.yaml", "--log", "trace", "--log-format", format])
        .env("ROSTERD_TEST_CAKE_KEY", cake_key)
        .current_dir(dir)
        .output()
        .expect("rosterd runs");
    let mut all = out.stdout;
    all.extend(out.stderr);
    all
}

/// Run `rosterd <args> -c rosterd.yaml` in `dir` off the async runtime (the rig's
/// emulator answers on it meanwhile); its output.
pub async fn rosterd_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let (dir, mut args) = (dir.to_path_buf(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    args.extend(["-c".to_string(), "rosterd.yaml".to_string()]);
    let run = move || Command::new(env!("CARGO_BIN_EXE_rosterd")).args(&args).current_dir(&dir).output();
    tokio::task::spawn_blocking(run).await.expect("joined").expect("rosterd runs")
}

/// All an output printed, stdout then stderr, as text.
pub fn printed(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
