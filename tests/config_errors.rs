//! Config validation: every problem at once, each under its key path, never a panic.

use std::path::Path;

use rosterd::config::Config;

fn problems(yaml: &str) -> Vec<String> {
    match Config::parse(yaml, Path::new("/tmp/rosterd-test/rosterd.yaml")) {
        Ok(_) => vec![],
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

/// The problems of a config whose one platform is a CAKE entry named `c` with these lines
/// added (each indented by four spaces).
fn cake_problems(lines: &str) -> Vec<String> {
    let head = "source: { file: { path: roster.yaml } }\nplatforms:\n  - name: c\n    kind: cake\n";
    problems(&format!("{head}    base_url: \"https://a.example\"\n    api_key_env: PATH{lines}"))
}

fn assert_has(problems: &[String], needle: &str) {
    assert!(problems.iter().any(|p| p.contains(needle)), "no problem contains {needle:?} in {problems:#?}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_key_path() {
    std::env::set_var("ROSTERD_TEST_KEY_SET", "k");
    let p = problems(
        r#"
state_dir: /tmp/x
colour: blue
source:
  scim: { url: "not a url", token_env: ROSTERD_TEST_UNSET_TOKEN }
safety: { max_removals: { count: 5, percent: 150 } }
platforms:
  - name: cake
    kind: cake
    base_url: https://acme.example
    api_key: "inline-secret"
    scope: 'groups.display equals "x"'
    roles:
      - { role: Finance }
      - { when: 'title eq "x', role: Admin }
  - name: cake
    kind: cakery
  - name: other
    kind: cake
    base_url: https://acme.example
    api_key_env: ROSTERD_TEST_KEY_SET
    fields: { nickname: "{name.givenName}" }
    rate_limit: { per_second: fast }
"#,
    );
    assert_has(&p, "colour: unknown key");
    assert_has(&p, "source.scim.url: \"not a url\" is not a URL");
    assert_has(&p, "source.scim.token: environment variable ROSTERD_TEST_UNSET_TOKEN is not set");
    assert_has(&p, "safety.max_removals.percent: 150 is not between 0 and 100");
    assert_has(&p, "platforms[0].api_key: inline secrets are not accepted");
    assert_has(&p, "platforms[0].scope: bad filter");
    assert_has(&p, "platforms[0].roles[1].when: bad filter");
    assert_has(&p, "platforms[1].name: \"cake\" is used by another platform");
    assert_has(&p, "platforms[1].kind: unknown kind \"cakery\"");
    assert_has(&p, "platforms[2].rate_limit.per_second");
    assert!(p.len() >= 10, "{p:#?}");
}

#[test]
fn a_filter_error_names_its_position() {
    let p = problems(
        r#"
source: { file: { path: roster.yaml } }
platforms:
  - { name: c, kind: cake, base_url: "https://a.example", api_key_env: PATH, scope: 'title zz "x"' }
"#,
    );
    assert_has(&p, "platforms[0].scope: bad filter \"title zz \\\"x\\\"\": at position 6");
}

/// A typo would read as an absent attribute and `not (...)` would admit everyone: refused.
#[test]
fn a_filter_naming_no_attribute_of_the_person_fails_with_the_nearest_name() {
    let p = cake_problems(
        r#"
    scope: 'not (groups.dispaly eq "X")'
    roles:
      - { when: 'active gt "x"', role: Finance }
      - { when: 'urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"', role: Admin }
"#,
    );
    assert_has(
        &p,
        r#"platforms[0].scope: bad filter "not (groups.dispaly eq \"X\")": at position 5: "groups.dispaly" is not an attribute of the person schema (did you mean groups.display?)"#,
    );
    assert_has(
        &p,
        "platforms[0].roles[0].when: bad filter \"active gt \\\"x\\\"\": at position 0: active is a boolean",
    );
    assert_has(&p, "platforms[0].roles[1].when: bad filter");
    assert_has(&p, "is not a schema of the person");
}

/// Every filter the README shows (```scim-filter blocks and `scope:`/`when:` lines) passes.
#[test]
fn every_filter_in_the_readme_passes_the_person_schema() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut filters = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        match line.trim() {
            "```scim-filter" => in_block = true,
            "```" => in_block = false,
            filter if in_block && !filter.is_empty() => filters.push(filter.to_string()),
            other => {
                for key in ["scope: '", "when: '"] {
                    if let Some(rest) = other.split_once(key).map(|(_, r)| r) {
                        filters.extend(rest.split_once('\'').map(|(f, _)| f.to_string()));
                    }
                }
            }
        }
    }
    assert!(filters.len() >= 8, "the README shows filters: {filters:?}");
    for filter in filters {
        if let Err(e) = rosterd::filter::Filter::parse_person(&filter) {
            panic!("README filter {filter:?}: {e}");
        }
    }
}

#[test]
fn unknown_platform_fields_and_bad_templates_are_named() {
    let p = cake_problems(
        r#"
    fields: { nickname: "{x}", first_name: "{name.givenName" }
    allowed_campaigns: all
    roles: [ { role: Finance, colour: red } ]
"#,
    );
    assert_has(&p, "platforms[0].allowed_campaigns: unknown key for kind cake");
    assert_has(&p, "platforms[0].roles[0].role: unknown key \"colour\" in a role rule");
    assert_has(&p, "platforms[0].fields.nickname: not a cake field");
    assert_has(&p, "platforms[0].fields.first_name: template");
}

#[test]
fn broken_yaml_names_the_line() {
    let p = problems("source:\n  scim: [unclosed\n");
    assert_has(&p, "line ");
    assert_has(&p, "not valid YAML");
}

#[test]
fn wrong_shapes_never_panic() {
    for text in ["", "[]", "42", "platforms: 3", "source: []\nplatforms: [1, 2]", "platforms:\n  - {}\n", "~"] {
        let p = problems(text);
        assert!(!p.is_empty(), "{text:?} was accepted");
    }
}

#[test]
fn secrets_load_from_env_and_file_and_never_show_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "sEcReT-FROM-FILE-123\n").unwrap();
    std::fs::write(dir.path().join("roster.yaml"), "complete: true\npeople: []\n").unwrap();
    std::env::set_var("ROSTERD_TEST_SCIM_TOKEN", "sEcReT-FROM-ENV-456");
    let yaml = r#"
source: { scim: { url: "https://idp.example/scim/v2", token_env: ROSTERD_TEST_SCIM_TOKEN } }
platforms:
  - { name: c, kind: cake, base_url: "https://a.example", api_key_file: key }
"#;
    let config = Config::parse(yaml, &dir.path().join("rosterd.yaml")).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("sEcReT"), "{debug}");
}

/// The commented example in config/ is the documentation: it must stay a valid config.
#[test]
fn the_commented_example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "k").unwrap();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/rosterd.example.yaml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        // Point every /etc/rosterd/<file> at one key file that exists.
        let fixed = match line.find("/etc/rosterd/") {
            Some(i) => {
                let end =
                    line[i..].find(|c: char| c.is_whitespace() || c == ',' || c == '}').map_or(line.len(), |e| i + e);
                format!("{}{}{}", &line[..i], key.display(), &line[end..])
            }
            None => line.to_string(),
        };
        out.push_str(&fixed.replace("/var/lib/rosterd", &dir.path().join("state").display().to_string()));
        out.push('\n');
    }
    match Config::parse(&out, &dir.path().join("rosterd.yaml")) {
        Ok(c) => assert_eq!(c.platforms.len(), 6),
        Err(p) => panic!("{p:#?}"),
    }
}

/// `tls_insecure_skip_verify` (issue 5, item 8): off unless written `true`, for a platform
/// and for the SCIM source; anything but a boolean is refused under its key path.
#[test]
fn tls_insecure_skip_verify_defaults_to_off_takes_a_boolean_and_reports_its_path() {
    use rosterd::config::SourceConfig;
    use rosterd::platform::connection::TlsVerification;
    std::env::set_var("ROSTERD_TEST_TLS_KEY", "k");
    let config = |source_tls: &str, platform_tls: &str| {
        format!(
            "state_dir: /tmp/x\nsource:\n  scim: {{ url: \"https://idp.example\", token_env: ROSTERD_TEST_TLS_KEY{source_tls} }}\nplatforms:\n  - name: cake\n    kind: cake\n    base_url: https://acme.example\n    api_key_env: ROSTERD_TEST_TLS_KEY\n{platform_tls}"
        )
    };
    let tls_of = |yaml: &str| {
        let c = Config::parse(yaml, Path::new("/tmp/rosterd-test/rosterd.yaml")).unwrap();
        let SourceConfig::Scim(s) = &c.source else { panic!("a SCIM source") };
        (s.connection.tls, c.platforms[0].connection.tls, c.insecure_tls_warnings().len())
    };
    assert_eq!(tls_of(&config("", "")), (TlsVerification::Verify, TlsVerification::Verify, 0));
    assert_eq!(
        tls_of(&config("", "    tls_insecure_skip_verify: false\n")),
        (TlsVerification::Verify, TlsVerification::Verify, 0)
    );
    let off = TlsVerification::InsecureSkipVerify;
    assert_eq!(
        tls_of(&config(", tls_insecure_skip_verify: true", "    tls_insecure_skip_verify: true\n")),
        (off, off, 2)
    );

    let p = problems(&config(", tls_insecure_skip_verify: maybe", "    tls_insecure_skip_verify: \"yes\"\n"));
    assert_has(&p, "source.scim.tls_insecure_skip_verify: invalid type");
    assert_has(&p, "platforms[0].tls_insecure_skip_verify: invalid type");
}

/// `check-config --offline` on `text` in a fresh folder: its exit code and stderr.
fn check_config(text: &str) -> (i32, String) {
    run_with_config(text, &["check-config", "--offline"])
}

fn run_with_config(text: &str, args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rosterd.yaml"), text).unwrap();
    std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
    // A secret file others can read is refused by check-config; keep it the owner's.
    std::fs::set_permissions(dir.path().join("token"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rosterd"))
        .args(args)
        .args(["-c", "rosterd.yaml"])
        .env("ROSTERD_TEST_CLEAR_KEY", "k")
        .current_dir(dir.path())
        .output()
        .expect("rosterd runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn cleartext_config(source_url: &str, platform_url: &str, extra: &str) -> String {
    format!(
        "state_dir: state\nsource:\n  scim: {{ url: \"{source_url}\", token_file: token{extra} }}\nplatforms:\n  - {{ name: c, \
         kind: cake, base_url: \"{platform_url}\", api_key_env: ROSTERD_TEST_CLEAR_KEY, roles: [ {{ role: Account Manager }} ]{extra} }}\n"
    )
}

#[test]
fn cleartext_off_loopback_is_refused_by_check_config_naming_the_key() {
    let (code, stderr) =
        check_config(&cleartext_config("http://idp.example.com/scim/v2", "http://cake.example.com/", ""));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("source.scim.url: http:// to idp.example.com would send the credentials in clear text"),
        "{stderr}"
    );
    assert!(stderr.contains("platforms[0].base_url: http:// to cake.example.com"), "{stderr}");
    assert!(stderr.contains("allow_insecure_http: true"), "{stderr}");

    // The same config is refused at start, before anything is read.
    let config = cleartext_config("http://idp.example.com/scim/v2", "https://cake.example.com/", "");
    let (code, stderr) = run_with_config(&config, &["reconcile", "--once"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("source.scim.url: http:// to idp.example.com"), "{stderr}");
}

#[test]
fn loopback_http_passes_and_allowed_cleartext_passes_with_a_warning() {
    for (source, platform) in
        [("http://127.0.0.1:9/scim", "http://localhost:9/"), ("http://[::1]:9/scim", "http://127.1.2.3/")]
    {
        let (code, stderr) = check_config(&cleartext_config(source, platform, ""));
        assert_eq!(code, 0, "{source} {platform}: {stderr}");
        assert!(!stderr.contains("warning"), "{stderr}");
    }
    let allowed =
        cleartext_config("http://idp.example.com/scim", "http://cake.example.com/", ", allow_insecure_http: true");
    let (code, stderr) = check_config(&allowed);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: credentials for the SCIM source travel in CLEAR TEXT (allow_insecure_http: true)"),
        "{stderr}"
    );
    assert!(stderr.contains("warning: credentials for platform \"c\" travel in CLEAR TEXT"), "{stderr}");
}

#[test]
fn a_ca_file_that_is_missing_or_holds_no_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "just text\n").unwrap();
    let p = problems(&format!(
        r#"
source: {{ scim: {{ url: "https://idp.example", token_env: PATH, ca_file: /nonexistent/ca.pem }} }}
platforms:
  - {{ name: c, kind: cake, base_url: "https://a.example", api_key_env: PATH, ca_file: "{}", roles: [ {{ role: Account Manager }} ] }}
"#,
        not_pem.display()
    ));
    assert_has(&p, "source.scim.ca_file: cannot read /nonexistent/ca.pem");
    assert_has(&p, &format!("platforms[0].ca_file: {} holds no -----BEGIN CERTIFICATE----- block", not_pem.display()));
}

#[test]
fn scim_groups_and_attributes_are_checked_with_their_key_paths() {
    std::env::set_var("ROSTERD_TEST_KEY_SET", "k");
    let platform = |extra: &str| {
        format!(
            r#"
state_dir: /tmp/x
source: {{ file: {{ path: roster.yaml }} }}
platforms:
  - name: app
    kind: scim
    base_url: https://app.example/scim/v2
    api_key_env: ROSTERD_TEST_KEY_SET
{extra}
"#
        )
    };
    let ok = platform(
        "    fields: { department: '{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department}', \"urn:acme:scim:schemas:extension:acme:2.0:User:badge\": '{title}' }\n    groups: { select: [Eng], filter: 'display sw \"app-\"', manage: [Legacy], allow_delete: true }",
    );
    assert_eq!(problems(&ok), Vec::<String>::new());
    assert_has(&problems(&platform("    groups: { filter: 'display eq' }")), "platforms[0].groups.filter: bad filter");
    assert_has(&problems(&platform("    groups: { manage: [X] }")), "platforms[0].groups: selects no group");
    assert_has(&problems(&platform("    groups: { selekt: [X] }")), "platforms[0].groups");
    let fields = problems(&platform("    fields: { \"urn:acme:x:9bad\": '{title}', nickname: '{title}' }"));
    assert_has(&fields, "platforms[0].fields.urn:acme:x:9bad: not a scim field");
    assert_has(&fields, "platforms[0].fields.nickname: not a scim field");
}

#[test]
fn okta_source_problems_name_their_key_paths() {
    let platform = "platforms:\n  - { name: c, kind: cake, base_url: \"https://a.example\", api_key_env: PATH }\n";
    let okta = |keys: &str| problems(&format!("source:\n  okta: {{ {keys} }}\n{platform}"));
    let p = okta("url: \"ftp://acme.okta.com\", token_env: ROSTERD_TEST_UNSET_OKTA, page_size: 500, concurrency: 99, active_statuses: [ACTIVE, GONE], colour: red");
    assert_has(&p, "source.okta.colour");
    let p = okta("url: \"ftp://acme.okta.com\", token_env: ROSTERD_TEST_UNSET_OKTA, page_size: 500, concurrency: 99");
    assert_has(&p, "source.okta.url");
    assert_has(&p, "source.okta.token");
    assert_has(&p, "source.okta.concurrency");
    let p = okta("url: \"https://acme.okta.com\", token_env: PATH, page_size: 500, active_statuses: [ACTIVE, GONE]");
    assert_has(&p, "source.okta.page_size");
    let p = okta("url: \"https://acme.okta.com\", token_env: PATH, active_statuses: [ACTIVE, GONE]");
    assert_has(&p, "source.okta.active_statuses");
    assert_has(&okta("url: \"https://acme.okta.com\", auth: oauth, private_key_env: PATH"), "source.okta.client_id");
    assert_has(&okta("url: \"https://acme.okta.com\", auth: saml, token_env: PATH"), "source.okta.auth");
    assert_has(&okta("url: \"https://acme.okta.com\", token: \"inline\""), "source.okta.token");
    assert!(okta("url: \"https://acme.okta.com\", token_env: PATH").is_empty());
}
