//! The real engine against the Client Toolbox emulator, from a roster file: create, stand
//! still, remove with a soft `user_delete`, and the cases only this platform has: derived
//! user names, two people on one name, a returning person whose name is still taken, and
//! the vendor's own malformed XML failing the listing.

mod support;

use rosterd::audit;
use rosterd::platform::clienttoolbox::sandbox::{CtSandbox, CtSandboxOptions, CtUser};
use support::people::Person;
use support::rig::{assert_not_planned, Rig, FILE_SOURCE};

const KEY: &str = "ct-engine-key-3f9e1b";

async fn start(options: CtSandboxOptions) -> Rig<CtSandbox> {
    Rig::around(CtSandbox::start(options.with_owner_key(KEY)).await.expect("the emulator"), "ct-key", KEY)
}

/// `rosterd.yaml` with one Client Toolbox platform; `extra` is added to its entry.
fn write_config(rig: &Rig<CtSandbox>, extra: &str) {
    let platform = format!(
        r#"  - name: ct
    kind: clienttoolbox
    base_url: "{}"
    api_key_file: ct-key
    caller_user_id: john1970
    account_id: greatwidgets
    page_size: 2
    rate_limit: {{ per_second: 1000, burst: 100, concurrency: 4 }}
    roles:
      - when: 'groups.display eq "Managers"'
        role: A
        allowed_campaigns: all
      - role: K
        allowed_campaigns: [2345678901234567, 1234567890123456]
{extra}
"#,
        rig.sandbox.base_url()
    );
    rig.configure(FILE_SOURCE, "  max_removals: { count: 1000, percent: 100 }", &platform);
}

/// The roster: (id, email, active, groups).
fn write_roster(rig: &Rig<CtSandbox>, people: &[(&str, &str, bool, &str)]) {
    rig.roster(people.iter().map(|&(id, email, active, group)| {
        let person = Person::with_email(id, email).active(active);
        if group.is_empty() {
            person
        } else {
            person.in_group(group)
        }
    }));
}

/// The audit details of failed steps.
fn failures(rig: &Rig<CtSandbox>) -> Vec<String> {
    let records = audit::read_records(&rig.audit_path()).expect("the audit trail");
    records.filter_map(Result::ok).filter(|r| r.outcome == "failed").filter_map(|r| r.detail).collect()
}

const ANN: (&str, &str, bool, &str) = ("1", "ann.lee@acme.example", true, "Managers");
const BO: (&str, &str, bool, &str) = ("2", "bo-ray@acme.example", true, "");
const CY: (&str, &str, bool, &str) = ("3", "cy@acme.example", true, "");

#[tokio::test]
async fn create_stand_still_soft_delete_and_a_returning_person_is_a_conflict() {
    let rig = start(CtSandboxOptions::default()).await;
    write_config(&rig, "");
    write_roster(&rig, &[ANN, BO, CY]);
    let (_, first) = rig.reconcile().await;
    assert_eq!((first.record.platforms[0].created, first.record.platforms[0].failed), (3, 0));
    let ann = rig.sandbox.user("ann_lee").expect("ann_lee created");
    assert_eq!((ann.role.as_str(), ann.allowed_campaigns.as_str(), ann.first_name.as_str()), ("A", "all", "G1"));
    let bo = rig.sandbox.user("bo_ray").expect("bo_ray created");
    assert_eq!((bo.role.as_str(), bo.allowed_campaigns.as_str()), ("K", "1234567890123456,2345678901234567"));

    let writes = rig.sandbox.write_calls();
    let (plan, second) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty(), "{:?}", plan.platforms[0].steps);
    assert_eq!((second.record.platforms[0].changed(), rig.sandbox.write_calls()), (0, writes));

    write_roster(&rig, &[ANN, ("2", "bo-ray@acme.example", false, ""), CY]);
    let (_, third) = rig.reconcile().await;
    assert_eq!(third.record.platforms[0].deactivated, 1);
    let delete = rig.sandbox.last_request("user_delete").expect("a user_delete");
    assert_eq!(delete.own_fields(), ["user_name"]);
    assert_eq!(delete.fields["user_name"], "bo_ray");
    assert!(rig.sandbox.permanent_deletes().is_empty(), "never action=permanent");
    assert!(rig.sandbox.user("bo_ray").unwrap().deleted);
    let owner = rig.sandbox.user("john1970").unwrap();
    assert!(!owner.deleted, "an unmanaged account is never touched");

    let writes = rig.sandbox.write_calls();
    let (plan, _) = rig.reconcile().await;
    assert!(plan.platforms[0].steps.is_empty() && plan.platforms[0].conflicts.is_empty());
    write_roster(&rig, &[ANN, BO, CY]);
    let (plan, fifth) = rig.reconcile().await;
    let conflicts = &plan.platforms[0].conflicts;
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].person_id, "2");
    assert!(conflicts[0].reason.contains("cannot restore it"), "{}", conflicts[0].reason);
    assert!(plan.platforms[0].steps.is_empty(), "no create for a name that is still taken");
    assert_eq!((rig.sandbox.write_calls(), fifth.record.platforms[0].conflicts), (writes, 1));
}

#[tokio::test]
async fn two_people_deriving_the_same_user_name_are_a_conflict_for_both() {
    let rig = start(CtSandboxOptions::default()).await;
    write_config(&rig, "");
    write_roster(&rig, &[("1", "jo.smith@a.example", true, ""), ("2", "Jo_Smith@b.example", true, ""), CY]);
    let (plan, summary) = rig.reconcile().await;
    let mut people: Vec<&str> = plan.platforms[0].conflicts.iter().map(|c| c.person_id.as_str()).collect();
    people.sort();
    assert_eq!(people, ["1", "2"]);
    assert!(plan.platforms[0].conflicts.iter().all(|c| c.key == "jo_smith"));
    assert_eq!(summary.record.platforms[0].created, 1, "only cy");
    assert!(rig.sandbox.user("jo_smith").is_none(), "never merged into one account");
}

#[tokio::test]
async fn a_template_deriving_names_outside_the_rule_is_refused_and_never_sent() {
    let rig = start(CtSandboxOptions::default()).await;
    write_config(&rig, "    match_key: \"{email|localpart}\"\n    fields: { user_name: \"{email|localpart}\" }");
    write_roster(&rig, &[ANN, CY]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].created, summary.record.platforms[0].failed), (1, 1));
    let failures = failures(&rig);
    assert_eq!(failures.len(), 1);
    assert!(failures[0].contains("\"ann.lee\"") && failures[0].contains("not a Client Toolbox user name"));
    let creates: Vec<String> = rig
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.kind == "user_new")
        .map(|r| r.fields["user_name"].clone())
        .collect();
    assert_eq!(creates, ["cy"], "the bad name never reached the platform");
}

#[tokio::test]
async fn a_name_taken_by_someone_elses_deleted_user_fails_that_record_only() {
    let options = CtSandboxOptions::default().with_user(CtUser::new("cy", "Old", "Cy", "K").deleted());
    let rig = start(options).await;
    write_config(&rig, "");
    write_roster(&rig, &[ANN, CY]);
    let (_, summary) = rig.reconcile().await;
    assert_eq!((summary.record.platforms[0].created, summary.record.platforms[0].failed), (1, 1));
    let failures = failures(&rig);
    assert!(failures[0].contains("create refused: User name cy is already in use"), "{failures:?}");
}

#[tokio::test]
async fn the_vendors_malformed_xml_fails_the_listing_and_removes_nobody() {
    let rig = start(CtSandboxOptions::default()).await;
    write_config(&rig, "");
    write_roster(&rig, &[ANN, BO, CY]);
    rig.reconcile().await;
    // Everyone leaves while the listing is unreadable: read as "no users", or as a short
    // list, the plan would be built on a wrong picture.
    write_roster(&rig, &[("1", ANN.1, false, ""), ("2", BO.1, false, ""), ("3", CY.1, false, "")]);
    rig.sandbox.set_malformed_language(true);
    let writes = rig.sandbox.write_calls();
    let (plan, summary) = rig.reconcile().await;
    assert_not_planned(&plan, &summary, &["malformed", "not well-formed"], (writes, rig.sandbox.write_calls()));
    assert!(rig.sandbox.users().iter().all(|u| !u.deleted));
}
