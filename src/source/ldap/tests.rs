//! Unit tests of the LDAP source over entries built in the test: AD's GUIDs, account flags,
//! ranged and nested memberships, and the completeness rules.

use secrecy::SecretString;

use super::entry::{next_range, Entry};
use super::profile::{active, dn_key, expired, guid_string, person, stable_id, Groups};
use super::settings::{DisabledWhen, LdapSettings, Membership, Profile};

fn ad() -> LdapSettings {
    let url = url::Url::parse("ldaps://dc1.corp.example").expect("a URL");
    LdapSettings::new(url, "svc@corp.example", SecretString::from("pw"), "dc=corp,dc=example", Profile::ActiveDirectory)
}

fn openldap() -> LdapSettings {
    let url = url::Url::parse("ldaps://ldap.corp.example").expect("a URL");
    LdapSettings::new(url, "cn=r,dc=corp", SecretString::from("pw"), "dc=corp", Profile::OpenLdap)
}

const GUID: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

fn ad_user(dn: &str, uac: &str) -> Entry {
    Entry::new(dn)
        .with_bytes("objectGUID", &GUID)
        .with("sAMAccountName", &["jdoe"])
        .with("userPrincipalName", &["jdoe@corp.example"])
        .with("givenName", &["Jane"])
        .with("sn", &["Doe"])
        .with("userAccountControl", &[uac])
}

#[test]
fn an_object_guid_renders_mixed_endian_as_microsoft_does() {
    assert_eq!(guid_string(&GUID).as_deref(), Some("04030201-0605-0807-090a-0b0c0d0e0f10"));
    assert_eq!(guid_string(&GUID[..15]), None);
    let user = ad_user("CN=Jane,OU=Staff,DC=corp,DC=example", "512");
    assert_eq!(stable_id(&user, "objectGUID").expect("an id"), "04030201-0605-0807-090a-0b0c0d0e0f10");
    let short = Entry::new("CN=X").with_bytes("objectGUID", &[1, 2, 3]);
    assert!(stable_id(&short, "objectGUID").is_err_and(|e| e.problem.contains("16-byte GUID")));
}

#[test]
fn an_ad_user_maps_by_the_profile_and_uac_bit_2_disables() {
    let s = ad();
    let now = 1_800_000_000;
    let jane = person(&ad_user("CN=Jane,DC=corp", "512"), &s, now).expect("a person");
    assert_eq!((jane.user_name.as_str(), jane.email(), jane.active), ("jdoe", Some("jdoe@corp.example"), true));
    assert_eq!((jane.given_name.as_str(), jane.family_name.as_str()), ("Jane", "Doe"));
    assert!(!person(&ad_user("CN=Jane,DC=corp", "514"), &s, now).expect("a person").active, "0x202: disabled");
    assert!(person(&ad_user("CN=Jane,DC=corp", "66048"), &s, now).expect("a person").active, "0x10200: enabled");
    let with_mail = ad_user("CN=Jane,DC=corp", "512").with("mail", &["jane.doe@corp.example"]);
    assert_eq!(person(&with_mail, &s, now).expect("a person").email(), Some("jane.doe@corp.example"));
}

#[test]
fn account_expires_counts_in_100ns_ticks_since_1601() {
    // 2027-01-15T08:00:00Z as AD writes it: (unix + 11644473600) * 10^7.
    let at = 1_799_999_000_i64;
    let ticks = ((at + 11_644_473_600) * 10_000_000).to_string();
    assert!(!expired(Some(&ticks), at - 1));
    assert!(expired(Some(&ticks), at));
    assert!(!expired(Some("0"), at) && !expired(Some("9223372036854775807"), at) && !expired(None, at));
    let user = ad_user("CN=J", "512").with("accountExpires", &[&ticks]);
    assert!(active(&user, &ad(), at - 1));
    assert!(!active(&user, &ad(), at + 1));
}

#[test]
fn a_configured_rule_disables_where_the_directory_has_no_flag() {
    let mut s = openldap();
    let entry = Entry::new("uid=a,dc=corp").with("employeeType", &["Disabled"]);
    assert!(active(&entry, &s, 0), "no rule, no flag: active");
    s.disabled_when = Some(DisabledWhen { attribute: "employeetype".into(), values: vec!["disabled".into()] });
    assert!(!active(&entry, &s, 0));
    assert!(active(&Entry::new("uid=b,dc=corp").with("employeeType", &["staff"]), &s, 0));
}

#[test]
fn nested_member_of_expands_through_groups_and_survives_a_cycle() {
    let s = ad();
    let groups = [
        Entry::new("CN=Sales,OU=G,DC=corp").with("cn", &["Sales"]).with("memberOf", &["CN=Staff,OU=G,DC=corp"]),
        Entry::new("CN=Staff,OU=G,DC=corp").with("cn", &["Staff"]).with("memberOf", &["cn=all, ou=g, dc=corp"]),
        Entry::new("CN=All,OU=G,DC=corp").with("cn", &["All"]).with("memberOf", &["CN=Sales,OU=G,DC=corp"]),
        Entry::new("CN=Other,OU=G,DC=corp").with("cn", &["Other"]),
    ];
    let index = Groups::new(&groups, &[], &s);
    let user = ad_user("CN=Jane,DC=corp", "512").with("memberOf", &["CN=Sales,OU=G,DC=corp", "CN=Unknown,DC=corp"]);
    let names: Vec<&str> = index.of(&user, Membership::MemberOf).iter().map(|g| g.display()).collect();
    assert_eq!(names, ["All", "Sales", "Staff"]);
}

#[test]
fn group_member_dns_expand_member_groups() {
    let s = openldap();
    let groups = [
        Entry::new("cn=finance,ou=groups,dc=corp").with("cn", &["finance"]),
        Entry::new("cn=staff,ou=groups,dc=corp").with("cn", &["staff"]),
    ];
    let members = vec![vec!["uid=a,ou=people,dc=corp".to_string()], vec!["CN=Finance, OU=Groups, DC=corp".to_string()]];
    let index = Groups::new(&groups, &members, &s);
    let a = Entry::new("uid=a,ou=people,dc=corp");
    let names: Vec<&str> = index.of(&a, Membership::GroupMember).iter().map(|g| g.display()).collect();
    assert_eq!(names, ["finance", "staff"]);
    assert!(index.of(&Entry::new("uid=b,dc=corp"), Membership::GroupMember).is_empty());
    assert_eq!(dn_key("CN=A, OU=B"), "cn=a,ou=b");
}

#[test]
fn ranged_values_say_where_the_next_range_starts() {
    let first = Entry::new("CN=Big").with("member;range=0-1499", &["CN=a", "CN=b"]);
    let (values, next) = first.ranged("member");
    assert_eq!((values, next), (vec!["CN=a", "CN=b"], Some(1500)));
    let last = Entry::new("CN=Big").with("member;range=1500-*", &["CN=c"]);
    assert_eq!(last.ranged("member"), (vec!["CN=c"], None));
    let whole = Entry::new("CN=Small").with("member", &["CN=d"]);
    assert_eq!(whole.ranged("member"), (vec!["CN=d"], None));
    assert_eq!((next_range("0-1499"), next_range("3000-*"), next_range("junk")), (Some(1500), None, None));
}

#[test]
fn settings_refuse_cleartext_off_loopback_empty_passwords_and_big_ad_pages() {
    let mut s = openldap();
    s.url = url::Url::parse("ldap://ldap.corp.example").expect("a URL");
    assert_eq!(s.problems().iter().map(|p| p.0).collect::<Vec<_>>(), ["url"]);
    s.starttls = true;
    assert!(s.problems().is_empty());
    s.password = SecretString::from("");
    assert_eq!(s.problems().iter().map(|p| p.0).collect::<Vec<_>>(), ["password"]);
    let mut a = ad();
    a.page_size = 1001;
    assert_eq!(a.problems().iter().map(|p| p.0).collect::<Vec<_>>(), ["page_size"]);
    a.in_group = Some("CN=Sales (EU),DC=corp".into());
    assert_eq!(
        a.user_filter(),
        "(&(&(objectCategory=person)(objectClass=user))(memberOf:1.2.840.113556.1.4.1941:=CN=Sales \\28EU\\29,DC=corp))"
    );
    assert!(!format!("{a:?}").contains("\"pw\""), "Debug shows no password");
}

#[test]
fn the_paged_results_cookie_is_read_without_trusting_the_bytes() {
    use ldap3::controls::{Control, PagedResults, RawControl};
    let control = |val: Option<Vec<u8>>| {
        Control(None, RawControl { ctype: super::entry::PAGED_RESULTS_OID.into(), crit: false, val })
    };
    let good: RawControl = PagedResults { size: 2000, cookie: b"next-page".to_vec() }.into();
    assert_eq!(super::entry::paged_cookie(&[control(good.val.clone())]), Some(b"next-page".to_vec()));
    let last: RawControl = PagedResults { size: 0, cookie: Vec::new() }.into();
    assert_eq!(super::entry::paged_cookie(&[control(last.val)]), Some(Vec::new()), "an empty cookie: the last page");
    for garbage in [
        None,
        Some(vec![]),
        Some(vec![0x30, 0x05, 0x02]),
        Some(vec![0x04, 0x01, 0x00]),
        Some(vec![0x30, 0x03, 0x02, 0x01, 0x05]),
    ] {
        assert_eq!(super::entry::paged_cookie(&[control(garbage)]), None, "no cookie is no complete listing");
    }
    assert_eq!(super::entry::paged_cookie(&[]), None);
}
