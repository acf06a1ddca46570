//! Operating rosterd from the command line (issue 16): one person on demand with a trace,
//! webhook notifications after `reconcile --once`, and the command line's finish
//! (`--format json`, `plan --detailed-exitcode`, completions, the man page, `--version`).

mod support;

use rosterd::platform::cake::sandbox::CakeSandboxOptions;
use rosterd::sandbox::faults::{Fault, FaultRule};
use serde_json::Value;
use support::cli::{printed, rosterd_in};
use support::people::{people, Person};
use support::rig::{Rig, CAKE_KEY, FILE_SOURCE};
use support::webhook::Receiver;

const SAFETY: &str = "  max_removals: { count: 100, percent: 100 }";
const SCOPED: &str = "    scope: 'groups.display eq \"cake-users\"'\n    roles: [ { role: Account Manager } ]\n    rate_limit: { per_second: 1000, burst: 100, concurrency: 4 }";

async fn scoped_rig() -> Rig {
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    rig.write_config(FILE_SOURCE, SAFETY, SCOPED);
    rig
}

#[tokio::test(flavor = "multi_thread")]
async fn one_person_is_traced_created_deactivated_left_out_with_the_reason_or_unknown() {
    let rig = scoped_rig().await;
    let joiner = Person::test(1).in_group("cake-users");
    let other = Person::test(2).in_group("cake-users");
    let outsider = Person::test(3);
    rig.roster([joiner.clone(), other.clone(), outsider.clone()]);
    let dir = rig.dir.path();

    // A joiner: found, in scope, mapped, no account yet, created; nobody else is touched.
    let out = rosterd_in(dir, &["reconcile", "--person", "1"]).await;
    let t = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for says in [
        "found at the source",
        "scope:   in scope",
        "role Account Manager",
        "matched: no account",
        "action:  create",
        "outcome: created",
    ] {
        assert!(t.contains(says), "{says:?} not in:\n{t}");
    }
    assert!(rig.sandbox.user_by_login(joiner.email()).is_some());
    assert!(rig.sandbox.user_by_login(other.email()).is_none(), "only the person asked for is converged");

    // A leaver (inactive at the source), asked for by e-mail: matched by link, deactivated.
    rig.roster([joiner.clone().inactive(), other.clone(), outsider.clone()]);
    let out = rosterd_in(dir, &["reconcile", "--person", "P1@acme.example", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let cake = &doc["trace"]["platforms"][0];
    assert_eq!(cake["actions"], serde_json::json!(["deactivate"]), "{doc}");
    assert_eq!(cake["matched"]["by"], "link", "{doc}");
    assert_eq!(cake["outcome"], "deactivated", "{doc}");
    assert_eq!(rig.sandbox.user_by_login(joiner.email()).unwrap().user_status, "inactive");

    // Out of scope: no action, and the reason names the scope.
    let out = rosterd_in(dir, &["reconcile", "--person", outsider.email()]).await;
    let t = printed(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("out of scope: does not match scope") && t.contains("action:  none"), "{t}");
    assert!(rig.sandbox.user_by_login(outsider.email()).is_none());

    // Nobody by that id: a usage error, exit 2, and nothing changed.
    let users = rig.sandbox.users().len();
    let out = rosterd_in(dir, &["reconcile", "--person", "nobody@acme.example"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(printed(&out).contains("no person at"), "{}", printed(&out));
    assert_eq!(rig.sandbox.users().len(), users);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_hear_once_of_a_held_run_and_a_quarantined_record_and_never_of_a_clean_run() {
    let hooks = Receiver::start().await;
    let rig = Rig::start(CakeSandboxOptions::default()).await;
    let platform =
        "    roles: [ { role: Account Manager } ]\n    rate_limit: { per_second: 1000, burst: 100, concurrency: 4 }";
    rig.write_config(FILE_SOURCE, "  max_removals: { count: 1, percent: 100 }", platform);
    let config = std::fs::read_to_string(rig.path("rosterd.yaml")).unwrap();
    let notify = format!(
        "notify:\n  backoff_ms: 10\n  webhooks:\n    - {{ url: \"{0}/json\" }}\n    - {{ url: \"{0}/slack\", format: slack }}\n",
        hooks.url
    );
    rig.write("rosterd.yaml", &format!("{config}{notify}"));
    let dir = rig.dir.path();

    // A clean run: nothing to tell.
    rig.roster(people(4));
    let out = rosterd_in(dir, &["reconcile", "--once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    assert!(hooks.take("json").is_empty() && hooks.take("slack").is_empty());

    // Three leavers against a limit of one: held, told once, with the approve command.
    rig.roster(people(1));
    let out = rosterd_in(dir, &["reconcile", "--once", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", printed(&out));
    let run_id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["run_id"].as_str().unwrap().to_string();
    let json = hooks.take("json");
    assert_eq!(json.len(), 1, "{json:?}");
    let n = &json[0]["notification"];
    assert_eq!(n["kind"], "removals_held");
    let approve = format!("rosterd approve {run_id}");
    assert_eq!(n["approve_command"], approve.as_str());
    let slack = hooks.take("slack");
    assert_eq!(slack.len(), 1, "{slack:?}");
    assert!(slack[0]["text"].as_str().unwrap().contains(&approve), "{slack:?}");
    for body in json.iter().chain(&slack) {
        assert!(!body.to_string().contains(CAKE_KEY), "a secret in a notification");
    }

    // Everyone back, one joiner CAKE refuses for good: quarantined, told once.
    rig.roster(people(5));
    rig.sandbox.faults().script(FaultRule::on("create", Fault::status(400)).always());
    let out = rosterd_in(dir, &["reconcile", "--once"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", printed(&out));
    let json = hooks.take("json");
    assert_eq!(json.len(), 1, "{json:?}");
    assert_eq!(json[0]["notification"]["kind"], "records_quarantined");
    assert!(json[0]["notification"]["text"].as_str().unwrap().contains("p5@acme.example"), "{json:?}");
    assert_eq!(hooks.take("slack").len(), 1);

    // Refused again: still the same quarantine, not news.
    let out = rosterd_in(dir, &["reconcile", "--once"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", printed(&out));
    assert!(hooks.take("json").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_one_document_even_when_the_source_fails_and_plan_exit_codes_are_terraforms() {
    let rig = scoped_rig().await;
    let dir = rig.dir.path();
    // No roster file: the source fails, and stdout is still one JSON document.
    let out = rosterd_in(dir, &["reconcile", "--once", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!((doc["ok"].as_bool(), doc["exit_code"].as_u64()), (Some(false), Some(1)));
    assert!(doc["error"].as_str().unwrap().contains("roster"), "{doc}");
    let out = rosterd_in(dir, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));

    rig.roster([Person::test(1).in_group("cake-users")]);
    let out = rosterd_in(dir, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(2), "changes pending: {}", printed(&out));
    let out = rosterd_in(dir, &["reconcile", "--once", "--format", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["summary"]["platforms"][0]["created"], 1, "{doc}");
    let out = rosterd_in(dir, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.status.code(), Some(0), "converged: {}", printed(&out));
}

fn rosterd(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rosterd")).args(args).output().expect("rosterd runs")
}

/// Whether a missing checker (zsh, fish, groff) fails the test: `scripts/test.sh` installs
/// them and sets ROSTERD_REQUIRE_SHELLS=1, so CI never skips a parse.
fn checkers_required() -> bool {
    std::env::var_os("ROSTERD_REQUIRE_SHELLS").is_some()
}

/// Check `script` with `shell -n` when that shell is installed; say so when it is not.
fn parses_with(shell: &str, script: &std::path::Path) {
    match std::process::Command::new(shell).arg("-n").arg(script).output() {
        Ok(out) => assert!(out.status.success(), "{shell} -n: {}", printed(&out)),
        Err(e) if checkers_required() => panic!("{shell} is required (ROSTERD_REQUIRE_SHELLS) but cannot run: {e}"),
        Err(_) => eprintln!("note: {shell} is not installed; its completion script was generated but not parsed"),
    }
}

#[test]
fn completions_and_the_man_page_are_generated_and_parse_and_version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = rosterd(&["completions", shell]);
        assert!(out.status.success() && !out.stdout.is_empty(), "{}", printed(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("reconcile") && text.contains("--person"), "{shell}: {text}");
        let script = dir.path().join(format!("rosterd.{shell}"));
        std::fs::write(&script, &out.stdout).unwrap();
        parses_with(shell, &script);
    }
    let out = rosterd(&["man"]);
    assert!(out.status.success(), "{}", printed(&out));
    let page = dir.path().join("rosterd.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let roff = String::from_utf8_lossy(&out.stdout);
    assert!(roff.starts_with(".ie") || roff.contains(".TH rosterd 1"), "{roff}");
    assert!(roff.contains(".SH SUBCOMMANDS") || roff.contains("SUBCOMMANDS"), "{roff}");
    match std::process::Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&page).output() {
        Ok(out) => assert!(out.status.success() && out.stderr.is_empty(), "groff: {}", printed(&out)),
        Err(e) if checkers_required() => panic!("groff is required (ROSTERD_REQUIRE_SHELLS) but cannot run: {e}"),
        Err(_) => eprintln!("note: groff is not installed; the man page was checked by its structure only"),
    }
    let out = rosterd(&["--version"]);
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("rosterd 0.") && version.contains("(commit "), "{version}");
}

#[test]
fn notify_problems_are_named_by_their_key_paths_and_a_webhook_url_never_shows() {
    let (dir, text) = support::configs::ConfigDir::with_platform(
        ("key", "k"),
        "cake",
        "cake",
        "    base_url: \"https://a.example\"\n    roles: [ { role: Account Manager } ]\n",
    );
    let bad = format!(
        "{text}notify:\n  attempts: 0\n  webhooks:\n    - {{ url: \"https://h.example/x\", format: teams }}\n    - {{ url: \"http://h.example/SECRET-PATH\" }}\n    - {{ url: \"https://h.example\", url_file: key }}\n    - {{ url_env: ROSTERD_NO_SUCH_VARIABLE }}\n"
    );
    let (paths, problems) = dir.problems(&bad);
    assert_eq!(
        paths,
        [
            "notify.attempts",
            "notify.webhooks[0].format",
            "notify.webhooks[1].url",
            "notify.webhooks[2]",
            "notify.webhooks[3].url"
        ],
        "{problems:#?}"
    );
    assert!(!format!("{problems:?}").contains("SECRET-PATH"), "{problems:#?}");
    let good = format!("{text}notify:\n  stale_after_seconds: 600\n  webhooks: [ {{ url: \"http://127.0.0.1:1/h\", format: slack }} ]\n");
    let config = dir.parse(&good);
    assert_eq!(config.notify.webhooks.len(), 1);
    assert_eq!(config.notify.stale_after, Some(std::time::Duration::from_secs(600)));
    assert!(!format!("{config:?}").contains("127.0.0.1:1"), "the webhook URL is kept as a secret");
}
