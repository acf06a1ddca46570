//! The LDAP source against a real OpenLDAP slapd on loopback (issue 15): 2,000 people in three
//! OUs and nested groups, paged at 500, into CAKE and Affise; quiet second run; three disabled
//! by the configured rule; slapd killed mid paged search; LDAPS and StartTLS with the test CA,
//! and without it; cleartext off loopback refused; the bind password nowhere.

mod support;

use rosterd::platform::sandboxes::AnySandbox;
use rosterd::source::ldap::{LdapSettings, LdapSource, Profile};
use rosterd::source::Source;
use secrecy::SecretString;
use support::logs::Logs;
use support::rig::{assert_nowhere, Rig, FAST};
use support::slapd::{
    group_dn, group_ldif, person_dn, person_ldif, referral_ldif, Relay, Slapd, BASE, LIMITED_DN, READER_DN,
    READER_PASSWORD, SIZE_LIMIT,
};

const PEOPLE: usize = 2000;
const AFFISE_KEY_FILE: &str = "affise-key";

/// In `cake-users` directly (i % 4 != 0 and not Finance) or through Finance (i % 7 == 0),
/// which is itself a member of `cake-users`.
fn in_cake(i: usize) -> bool {
    i % 4 != 0 || i % 7 == 0
}

/// People 1..=n over three OUs; groups finance, cake-users (holding finance), sales, and two
/// groups that hold each other (a cycle the expansion must survive).
fn directory(n: usize) -> String {
    let dns = |keep: &dyn Fn(usize) -> bool| -> Vec<String> { (1..=n).filter(|i| keep(*i)).map(person_dn).collect() };
    let mut cake = dns(&|i| i % 4 != 0 && i % 7 != 0);
    cake.push(group_dn("finance"));
    let mut out: String = (1..=n).map(person_ldif).collect();
    out.push_str(&group_ldif("finance", &dns(&|i| i % 7 == 0)));
    out.push_str(&group_ldif("cake-users", &cake));
    out.push_str(&group_ldif("sales", &dns(&|i| i % 3 == 0)));
    out.push_str(&group_ldif("loop-a", &[group_dn("loop-b"), person_dn(1)]));
    out.push_str(&group_ldif("loop-b", &[group_dn("loop-a")]));
    out
}

fn source_section(url: &str) -> String {
    format!(
        "  ldap:\n    url: \"{url}\"\n    bind_dn: \"{READER_DN}\"\n    password_file: ldap-password\n    \
         base_dn: \"{BASE}\"\n    page_size: 500\n    attributes: {{ user_name: mail }}\n    \
         disabled_when: {{ attribute: employeeType, values: [disabled] }}"
    )
}

/// A CAKE rig (people of cake-users) and an Affise emulator (everyone), reading `url`.
async fn rig(url: &str) -> (Rig<AnySandbox>, AnySandbox) {
    let rig = Rig::kind("cake").await;
    let affise = AnySandbox::start("affise").await.expect("the Affise emulator");
    rig.write(AFFISE_KEY_FILE, &affise.key());
    rig.write("ldap-password", READER_PASSWORD);
    let cake_extra = format!("    scope: 'groups.display eq \"cake-users\"'\n{FAST}");
    let platforms = format!(
        "{}{}",
        rig.sandbox.platform_entry("cake", "key", &cake_extra),
        affise.platform_entry("affise", AFFISE_KEY_FILE, FAST)
    );
    rig.configure(&source_section(url), "  max_removals: { count: 10, percent: 100 }", &platforms);
    (rig, affise)
}

fn disable(slapd: &Slapd, people: &[usize]) {
    let ldif: String = people
        .iter()
        .map(|i| format!("dn: {}\nchangetype: modify\nadd: employeeType\nemployeeType: disabled\n\n", person_dn(*i)))
        .collect();
    slapd.modify(&ldif);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_people_paged_at_500_converge_stay_quiet_and_lose_exactly_the_three_disabled() {
    let Some(slapd) = Slapd::start(&directory(PEOPLE)) else { return };
    let logs = Logs::capture();
    let (rig, affise) = rig(&slapd.url()).await;
    let owners = (rig.sandbox.with_access(), affise.with_access());

    let (_, first) = rig.reconcile().await;
    assert!(first.record.roster_complete, "{:?}", first.record);
    assert_eq!((first.record.people, first.failed()), (PEOPLE, 0), "{:?}", first.record);
    let cake_people = (1..=PEOPLE).filter(|i| in_cake(*i)).count();
    assert_eq!(rig.sandbox.with_access(), owners.0 + cake_people, "cake-users at any depth");
    assert_eq!(affise.with_access(), owners.1 + PEOPLE, "everyone");

    let writes = (rig.sandbox.write_calls(), affise.write_calls());
    let (_, second) = rig.reconcile().await;
    assert_eq!((rig.sandbox.write_calls(), affise.write_calls()), writes, "a converged second run writes nothing");
    assert!(second.record.roster_complete);

    let leavers = [5, 14, 1999];
    assert!(leavers.iter().all(|i| in_cake(*i)));
    disable(&slapd, &leavers);
    let (_, third) = rig.reconcile().await;
    let deactivated: Vec<usize> = third.record.platforms.iter().map(|p| p.deactivated).collect();
    assert_eq!(deactivated, [3, 3], "{:?}", third.record);
    assert_eq!(rig.sandbox.with_access(), owners.0 + cake_people - 3);
    assert_eq!(affise.with_access(), owners.1 + PEOPLE - 3);
    let gone: Vec<String> = rig.sandbox.accounts().into_iter().filter(|a| !a.can_sign_in).map(|a| a.key).collect();
    let mut gone: Vec<String> = gone.into_iter().map(|k| k.to_lowercase()).collect();
    gone.sort();
    let mut expected: Vec<String> = leavers.iter().map(|i| format!("p{i}@acme.example")).collect();
    expected.sort();
    assert_eq!(gone, expected, "exactly those three");

    assert_nowhere(&[READER_PASSWORD.to_string()], &logs.bytes(), &rig.path("state"));
    assert!(!format!("{:?}", rig.config()).contains(READER_PASSWORD), "the config's Debug shows no password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_killed_mid_paged_search_removes_nobody_and_the_next_run_converges() {
    let Some(mut slapd) = Slapd::start(&directory(PEOPLE)) else { return };
    let relay = Relay::start(slapd.port).await;
    let (rig, affise) = rig(&relay.url()).await;
    let (_, first) = rig.reconcile().await;
    assert!(first.record.roster_complete && first.failed() == 0, "{:?}", first.record);
    let whole = relay.last_connection_bytes();
    let access = (rig.sandbox.with_access(), affise.with_access());

    // Killed about two thirds into the read: past the groups, in the middle of the user pages.
    relay.arm(whole * 2 / 3, slapd.pid().expect("slapd runs"));
    let (plan, cut) = rig.reconcile().await;
    assert!(!cut.record.roster_complete, "{:?}", cut.record);
    assert!(cut.record.people > 0 && cut.record.people < PEOPLE, "{} people read", cut.record.people);
    assert!(cut.record.platforms.iter().all(|p| p.deactivated == 0), "{:?}", cut.record);
    assert_eq!((rig.sandbox.with_access(), affise.with_access()), access, "nobody lost access");
    assert!(plan
        .platforms
        .iter()
        .all(|p| p.steps.iter().all(|s| s.held.is_some() || s.action != rosterd::reconcile::plan::Action::Deactivate)));

    relay.arm(u64::MAX, 0);
    slapd.restart();
    let writes = (rig.sandbox.write_calls(), affise.write_calls());
    let (_, after) = rig.reconcile().await;
    assert!(after.record.roster_complete && after.failed() == 0, "{:?}", after.record);
    assert_eq!((rig.sandbox.write_calls(), affise.write_calls()), writes, "converged: nothing to do");
}

/// `directory(n)` with old change marks, each person one second after the one before (and
/// groups before everyone), so a change filter from the newest mark holds only person n and
/// what changed since.
fn stamped_directory(n: usize) -> String {
    let stamp = |i: usize| format!("modifyTimestamp: 20240101{:02}{:02}{:02}Z\n\n", i / 3600, i / 60 % 60, i % 60);
    let mut i = 0;
    directory(n)
        .split_inclusive("\n\n")
        .map(|entry| {
            let person = entry.starts_with("dn: uid=p");
            i += usize::from(person);
            let at = if person { i } else { 0 };
            entry.strip_suffix('\n').map(|e| format!("{e}{}", stamp(at))).unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_reads_ask_only_for_changes_and_read_in_full_every_n_reads_or_when_a_group_changed() {
    let people = 300;
    let Some(slapd) = Slapd::start(&stamped_directory(people)) else { return };
    let relay = Relay::start(slapd.port).await;
    let (rig, affise) = rig(&relay.url()).await;
    rig.edit(
        "rosterd.yaml",
        "page_size: 500",
        "page_size: 500\n    incremental: { enabled: true, full_read_every: 2 }",
    );
    let owners = affise.with_access();

    let (_, full) = rig.reconcile().await;
    assert!(full.record.roster_complete && full.failed() == 0, "{:?}", full.record);
    let whole = relay.last_connection_bytes();
    assert_eq!(affise.with_access(), owners + people);

    disable(&slapd, &[5]);
    let (_, changes) = rig.reconcile().await;
    assert!(changes.record.roster_complete, "{:?}", changes.record);
    assert_eq!(changes.record.people, people, "the snapshot holds everyone");
    let deactivated: Vec<usize> = changes.record.platforms.iter().map(|p| p.deactivated).collect();
    assert_eq!(deactivated, [1, 1], "{:?}", changes.record);
    let small = relay.last_connection_bytes();
    assert!(small * 3 < whole, "an incremental read ({small} bytes) is far smaller than a full one ({whole})");

    let (_, due) = rig.reconcile().await;
    assert!(due.record.roster_complete && relay.last_connection_bytes() * 3 > whole * 2, "full_read_every: 2");

    // p4 joins cake-users: a group changed, so the next read is a full one and p4 gets CAKE.
    let cake = rig.sandbox.with_access();
    slapd.modify(&format!(
        "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n\n",
        group_dn("cake-users"),
        person_dn(4)
    ));
    let (_, moved) = rig.reconcile().await;
    assert!(moved.record.roster_complete && relay.last_connection_bytes() * 3 > whole * 2, "a full read");
    assert_eq!(rig.sandbox.with_access(), cake + 1, "{:?}", moved.record);
}

fn settings(url: &str) -> LdapSettings {
    let url = url::Url::parse(url).expect("a URL");
    LdapSettings::new(url, READER_DN, SecretString::from(READER_PASSWORD), BASE, Profile::OpenLdap)
}

#[tokio::test]
async fn ldaps_and_starttls_work_with_the_test_ca_and_fail_clearly_without_it() {
    let Some(slapd) = Slapd::start(&directory(30)) else { return };
    let mut ldaps = settings(&slapd.ldaps_url());
    ldaps.ca_file = Some(slapd.ca_file());
    let roster = LdapSource::new(ldaps.clone()).expect("settings").read().await.expect("an LDAPS read");
    assert!(roster.complete && roster.people.len() == 30, "{:?}", roster.incomplete_reason);
    let p7 = roster.people.iter().find(|p| p.user_name == "p7").expect("p7");
    let groups: Vec<&str> = p7.groups.iter().map(|g| g.display()).collect();
    assert_eq!(groups, ["cake-users", "finance"], "finance directly, cake-users through it");
    assert_eq!(p7.id.len(), 36, "entryUUID: {}", p7.id);

    let mut starttls = settings(&slapd.url());
    starttls.starttls = true;
    starttls.ca_file = Some(slapd.ca_file());
    let roster = LdapSource::new(starttls).expect("settings").read().await.expect("a StartTLS read");
    assert_eq!(roster.people.len(), 30);

    ldaps.ca_file = None;
    let error = LdapSource::new(ldaps).expect("settings").read().await.expect_err("an untrusted certificate");
    let text = error.to_string();
    assert!(text.contains(&format!("source.ldap (ldaps://127.0.0.1:{})", slapd.tls_port)), "{text}");
    assert!(text.contains("ca_file"), "{text}");
    assert!(!text.contains(READER_PASSWORD));

    let mut wrong = settings(&slapd.url());
    wrong.password = SecretString::from("not-the-password");
    let error = LdapSource::new(wrong).expect("settings").read().await.expect_err("a refused bind");
    assert!(error.to_string().contains("49 (invalidCredentials)"), "{error}");
}

#[tokio::test]
async fn a_size_limit_or_an_unfollowed_referral_makes_the_roster_incomplete_never_short() {
    // 70 people: 23 in ou=sales (i % 3 == 0), more than the limited DN may read.
    let Some(slapd) = Slapd::start(&format!("{}{}", directory(70), referral_ldif("partner"))) else { return };
    let in_groups_ou = |mut s: LdapSettings| {
        s.groups.base_dn = format!("ou=groups,{BASE}");
        s
    };
    let mut limited = in_groups_ou(settings(&slapd.url()));
    limited.bind_dn = LIMITED_DN.into();
    limited.users.base_dn = format!("ou=sales,{BASE}");
    let roster = LdapSource::new(limited).expect("settings").read().await.expect("a partial read");
    let reason = roster.incomplete_reason.clone().unwrap_or_default();
    assert!(!roster.complete && reason.contains("4 sizeLimitExceeded"), "{reason}");
    assert_eq!(roster.people.len(), SIZE_LIMIT, "the entries before the limit are kept");

    let roster = LdapSource::new(in_groups_ou(settings(&slapd.url()))).expect("settings").read().await.expect("a read");
    let reason = roster.incomplete_reason.clone().unwrap_or_default();
    assert!(!roster.complete && reason.contains("ldap://partner.example"), "{reason}");
    // Groups decide scope and roles: a group search that meets the reference fails the read.
    let error = LdapSource::new(settings(&slapd.url())).expect("settings").read().await.expect_err("groups short");
    assert!(error.to_string().contains("groups page 1: a reference to ldap://partner.example"), "{error}");
    assert_eq!(roster.people.len(), 70, "everyone this server holds is there");
}

#[test]
fn cleartext_ldap_off_loopback_is_refused_by_the_config_check() {
    let dir = support::configs::ConfigDir::with_key("ldap-password", READER_PASSWORD);
    let config = |url: &str, extra: &str| {
        format!(
            "source:\n  ldap: {{ url: \"{url}\", bind_dn: \"{READER_DN}\", password_file: ldap-password, base_dn: \"{BASE}\"{extra} }}\nplatforms: []\n"
        )
    };
    let (paths, problems) = dir.problems(&config("ldap://dc1.corp.example", ""));
    assert_eq!(paths, ["source.ldap.url"], "{problems:?}");
    assert!(problems[0].message.contains("in the clear"), "{problems:?}");
    // The same through the binary's check-config, as an operator runs it.
    let cli = tempfile::tempdir().expect("a temp dir");
    std::fs::write(cli.path().join("ldap-password"), READER_PASSWORD).expect("password file");
    std::fs::write(cli.path().join("rosterd.yaml"), config("ldap://dc1.corp.example", "")).expect("config");
    let printed = support::cli::rosterd_traced(cli.path(), "", &["check-config"], false);
    let printed = String::from_utf8_lossy(&printed);
    assert!(printed.contains("source.ldap.url: ldap:// to a host off loopback"), "{printed}");
    dir.parse(&config("ldap://dc1.corp.example", ", starttls: true"));
    dir.parse(&config("ldaps://dc1.corp.example", ""));
    dir.parse(&config("ldap://127.0.0.1:3389", ""));
    let insecure = dir.parse(&config("ldap://dc1.corp.example", ", allow_insecure: true"));
    assert!(insecure.source.insecure_warning().is_some_and(|w| w.contains("in the clear")));
    let (paths, _) = dir.problems(&config("ldaps://dc1.corp.example", ", page_size: 1500, profile: active_directory"));
    assert_eq!(paths, ["source.ldap.page_size"]);
    let (paths, _) = dir.problems(&config("ldaps://dc1.corp.example", ", attributes: { shoe_size: x }"));
    assert_eq!(paths, ["source.ldap.attributes.shoe_size"]);
}
