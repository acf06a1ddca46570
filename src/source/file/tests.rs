//! Unit tests of the roster file source: YAML and CSV, their happy paths and each error.

use super::*;

fn source(name: &str, complete: Option<bool>) -> FileSource {
    FileSource::new(FileSettings { path: PathBuf::from(name), complete }).unwrap()
}

fn yaml_err(text: &str) -> String {
    source("roster.yaml", None).parse(text).unwrap_err().to_string()
}

fn csv_err(text: &str) -> String {
    source("roster.csv", Some(true)).parse(text).unwrap_err().to_string()
}

/// Ada as both sample rosters give her: email, groups and work fields.
fn assert_adas_work_fields(ada: &Person) {
    assert_eq!(ada.email(), Some("ada@example.com"));
    assert_eq!(ada.groups, ["Sales", "Finance"]);
    assert_eq!(
        (ada.title.as_deref(), ada.department.as_deref(), ada.employee_number.as_deref()),
        (Some("Countess"), Some("Maths"), Some("42"))
    );
    assert_eq!((ada.organization.as_deref(), ada.manager.as_deref()), (Some("AE"), Some("7")));
}

/// Each text is refused by `refusal` with a message that starts with the case's prefix and
/// holds its needle (an empty one asks nothing).
fn assert_refusals(refusal: fn(&str) -> String, cases: &[(&str, &str, &str)]) {
    for (text, starts, says) in cases {
        let err = refusal(text);
        assert!(err.starts_with(starts) && err.contains(says), "{text:?}: {err}");
    }
}

const YAML: &str = r#"
complete: true
people:
  - id: "1"
    external_id: emp-1
    user_name: ada
    given_name: Ada
    family_name: Lovelace
    display_name: Ada L
    email: ada@example.com
    groups: [Sales, Finance]
    title: Countess
    employee_number: "42"
    department: Maths
    organization: AE
    manager: "7"
  - id: "2"
    user_name: bob
    active: false
    emails:
      - { value: bob@home.example, type: home }
      - { value: bob@example.com, type: work, primary: true }
"#;

#[test]
fn yaml_happy_path() {
    let roster = source("roster.yaml", None).parse(YAML).unwrap();
    assert!(roster.complete);
    let ada = &roster.people[0];
    assert_eq!((ada.id.as_str(), ada.external_id.as_deref(), ada.user_name.as_str()), ("1", Some("emp-1"), "ada"));
    assert_eq!(
        (ada.given_name.as_str(), ada.family_name.as_str(), ada.display_name.as_deref()),
        ("Ada", "Lovelace", Some("Ada L"))
    );
    assert!(ada.emails[0].primary && ada.active);
    assert_adas_work_fields(ada);
    let bob = &roster.people[1];
    assert!(!bob.active);
    assert_eq!(bob.email(), Some("bob@example.com"));
    assert_eq!(bob.emails[0].kind.as_deref(), Some("home"));
}

#[test]
fn yaml_that_says_incomplete_is_incomplete() {
    let text = YAML.replace("complete: true", "complete: false");
    let roster = source("roster.yml", Some(false)).parse(&text).unwrap();
    assert!(!roster.complete);
    assert_eq!(roster.people.len(), 2);
}

#[test]
fn yaml_must_say_whether_it_is_complete() {
    let err = yaml_err("people: []\n");
    assert!(err.starts_with("roster.yaml") && err.contains("missing field `complete`"), "{err}");
}

#[test]
fn yaml_completeness_that_disagrees_with_the_settings_is_an_error() {
    let err = source("roster.yaml", Some(false)).parse(YAML).unwrap_err().to_string();
    assert!(err.contains("the file says complete: true but the settings say complete: false"), "{err}");
}

#[test]
fn yaml_unknown_keys_are_named_with_their_line() {
    let err = yaml_err("complete: true\npeople:\n  - id: a\n    user_name: a\n    mail: a@x\n");
    assert!(err.starts_with("roster.yaml line 5:") && err.contains("unknown field `mail`"), "{err}");
    let err = yaml_err("complete: true\nsource: hr\npeople: []\n");
    assert!(err.contains("unknown field `source`"), "{err}");
}

#[test]
fn yaml_required_and_unique_fields() {
    assert_refusals(
        yaml_err,
        &[
            ("complete: true\npeople:\n  - id: a\n", "", "missing field `user_name`"),
            ("complete: true\npeople:\n  - { id: ' ', user_name: a }\n", "roster.yaml people[0]: id is empty", ""),
            (
                "complete: true\npeople:\n  - { id: a, user_name: a }\n  - { id: b, user_name: b }\n  - { id: a, user_name: c }\n",
                "roster.yaml people[2]: id \"a\" repeats the id of people[0]",
                "",
            ),
            (
                "complete: true\npeople:\n  - { id: a, user_name: a, email: a@x, emails: [{ value: b@x }] }\n",
                "",
                "give email or emails, not both",
            ),
            ("complete: true\npeople:\n  - { id: a, user_name: a, active: maybe }\n", "roster.yaml line 3:", ""),
        ],
    );
}

const CSV: &str = "\u{feff}id,user_name,given_name,family_name,email,active,groups,title,department,employee_number,organization,manager
1,ada,Ada,Lovelace,ada@example.com,true,Sales; Finance ,Countess,Maths,42,AE,7
2,bob,,,,no,,,,,,
";

#[test]
fn csv_happy_path() {
    let roster = source("people.CSV", Some(true)).parse(CSV).unwrap();
    assert!(roster.complete);
    let ada = &roster.people[0];
    assert_eq!((ada.id.as_str(), ada.user_name.as_str(), ada.given_name.as_str()), ("1", "ada", "Ada"));
    assert_adas_work_fields(ada);
    let bob = &roster.people[1];
    assert!(!bob.active && bob.emails.is_empty() && bob.groups.is_empty() && bob.title.is_none());
}

#[test]
fn csv_with_only_the_required_columns_and_incomplete_by_settings() {
    let roster = source("people.csv", Some(false)).parse("user_name,id\nada,1\n").unwrap();
    assert!(!roster.complete);
    assert!(roster.people[0].active, "active defaults to true");
}

#[test]
fn csv_needs_completeness_in_the_settings() {
    let err = FileSource::new(FileSettings { path: "people.csv".into(), complete: None }).unwrap_err().to_string();
    assert!(err.contains("people.csv: a CSV roster cannot say whether it is complete"), "{err}");
}

#[test]
fn csv_unknown_duplicate_and_missing_columns() {
    let err = csv_err("id,user_name,phone,mail\n1,a,2,3\n");
    assert!(err.starts_with("roster.csv line 1: unknown column(s) \"phone\", \"mail\""), "{err}");
    assert!(csv_err("id,user_name,id\n").contains("column id appears twice"));
    assert!(csv_err("id,email\n1,a@x\n").contains("missing required column(s) user_name"));
    assert!(csv_err("").contains("missing required column(s) id, user_name"));
}

#[test]
fn csv_errors_name_the_line() {
    assert_refusals(
        csv_err,
        &[
            ("id,user_name\n1,a\n2,b\n1,c\n", "roster.csv line 4: id \"1\" repeats the id on line 2", ""),
            (
                "id,user_name,active\n1,a,true\n2,b,maybe\n",
                "roster.csv line 3: id \"2\": active must be true or false, not \"maybe\"",
                "",
            ),
            ("id,user_name\n1,a\n,b\n", "roster.csv line 3: id is empty", ""),
            ("id,user_name\n1,a\n2,b,extra\n", "roster.csv line 3:", ""),
        ],
    );
}

#[test]
fn unknown_extensions_are_refused() {
    let err =
        FileSource::new(FileSettings { path: "people.json".into(), complete: Some(true) }).unwrap_err().to_string();
    assert!(err.contains("must end in .yaml, .yml or .csv"), "{err}");
}

#[tokio::test]
async fn read_reads_the_file_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.yaml");
    std::fs::write(&path, YAML).unwrap();
    let source = FileSource::new(FileSettings { path: path.clone(), complete: Some(true) }).unwrap();
    assert_eq!(source.read().await.unwrap().people.len(), 2);
    assert_eq!(source.describe(), format!("roster file {}", path.display()));
    let missing = FileSource::new(FileSettings { path: dir.path().join("gone.csv"), complete: Some(true) }).unwrap();
    let err = missing.read().await.unwrap_err();
    assert!(
        matches!(err, SourceError::Io { .. }) && err.to_string().contains("gone.csv: cannot read the roster file"),
        "{err}"
    );
}

#[test]
fn yaml_groups_may_carry_ids_and_an_unsent_active_stays_unsent_for_filters() {
    let text = r#"
complete: true
people:
  - { id: "1", user_name: ada, given_name: "", groups: [Sales, { value: g-7, display: Contractors }] }
"#;
    let roster = source("roster.yaml", None).parse(text).unwrap();
    let ada = &roster.people[0];
    assert_eq!(ada.groups, [Group::named("Sales"), Group::new("Contractors", Some("g-7".into()))]);
    assert!(ada.active && ada.active_unsent, "counted active, but the filter sees no active");
    assert_eq!(ada.sent_given_name(), Some(""), "an empty name the file gave is kept as \"\"");
    assert_eq!(ada.sent_family_name(), None);
}
