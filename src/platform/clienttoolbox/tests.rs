//! Unit tests of the ClientToolbox connector against its strict emulator.

use super::*;
use crate::platform::clienttoolbox::sandbox::{CtSandbox, CtSandboxOptions, CtUser};
use crate::platform::kind::RoleValue;
use crate::platform::test_support::{
    account, assert_no_change_sends_nothing, assert_secret_hidden, assert_unavailable, change, deactivated,
    malformed_detail, quick, spoilt_listing, started, Call, Leak,
};
use crate::sandbox::faults::{Fault, FaultRule};
use secrecy::SecretString;
use serde_yaml::{Mapping, Value};
use url::Url;

/// Distinctive, so a leak anywhere is found by a plain substring search.
const KEY: &str = "ct-LEAKCHECK-91c2e7aa04";
const USER_KEY: &str = "ct-USERKEY-LEAK-5d0b";
const USER_PASSWORD: &str = "pw-LEAK-p4sf8nvrdr8vhsd98";

fn settings_for(sandbox: &CtSandbox, key: &str, page_size: u32) -> ClientToolboxSettings {
    let key = SecretString::from(key.to_string());
    let mut s = ClientToolboxSettings::new("ct", sandbox.base_url(), key, sandbox.owner(), sandbox.account_id());
    quick(&mut s.connection);
    s.page_size = page_size;
    s
}

async fn start(options: CtSandboxOptions, page_size: u32) -> (CtSandbox, ClientToolboxConnector) {
    let connect = |sandbox: &CtSandbox| ClientToolboxConnector::new(settings_for(sandbox, KEY, page_size));
    started(options.with_owner_key(KEY), connect, ClientToolboxConnector::with_retry).await
}

/// The owner plus `n` cashiers `p0`..; `p0` carries a key, a password and a PIN.
fn people(n: usize) -> CtSandboxOptions {
    let cashiers = (0..n).map(|i| {
        let mut user = CtUser::new(&format!("p{i}"), "Given", &format!("Family{i}"), "K");
        if i == 0 {
            user = user.with_api_key(USER_KEY);
            user.password = Some(USER_PASSWORD.into());
        }
        user
    });
    CtSandboxOptions::default().with_users(cashiers)
}

fn desired(name: &str, role: Option<&str>) -> DesiredAccount {
    DesiredAccount {
        person_id: name.into(),
        label: format!("{name}@acme.example").into(),
        key: normalize_key(name),
        fields: crate::model::Fields::from([
            (USER_NAME_FIELD.to_string(), name.to_string()),
            ("user_first_name".to_string(), "Alex".to_string()),
            ("user_last_name".to_string(), "Chen".to_string()),
        ]),
        role: role.map(Into::into),
    }
}

fn xml_body(body: String) -> Fault {
    Fault::answer(200, body)
}

fn error_body(message: &str) -> Fault {
    xml_body(format!("<response status=\"error\"><error>{message}</error></response>"))
}

fn page_body(total: u64, names: &[&str]) -> Fault {
    let users: String = names
        .iter()
        .map(|n| {
            format!(
                "<user><user_id>{n}</user_id><user_role>K</user_role><user_allowed_campaigns status=\"none\"/></user>"
            )
        })
        .collect();
    xml_body(format!(
        "<response status=\"success\"><pagination><total>{total}</total></pagination><users>{users}</users></response>"
    ))
}

#[tokio::test]
async fn listing_pages_by_offset_and_length_through_every_user() {
    let (sandbox, ct) = start(people(7), 3).await;
    let accounts = ct.list().await.unwrap();
    assert_eq!(sandbox.list_calls(), 3, "8 users in pages of 3");
    let mut names: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    names.sort();
    assert_eq!(names, ["john1970", "p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    let offsets: Vec<String> = sandbox.requests().iter().map(|r| r.fields["offset"].clone()).collect();
    assert_eq!(offsets, ["0", "3", "6"]);
    for request in sandbox.requests() {
        let f = &request.fields;
        assert_eq!((f["API"].as_str(), f["type"].as_str(), f["output"].as_str()), ("1.6", "users_list", "XML"));
        assert_eq!((f["user_id"].as_str(), f["account_id"].as_str()), ("john1970", "greatwidgets"));
        assert_eq!((f["length"].as_str(), f["sortField"].as_str(), f["sortOrder"].as_str()), ("3", "user_name", "ASC"));
        assert!(!request.key_in_form && !f.contains_key("user_api_key"), "the key travels as a header only");
    }
    let p3 = accounts.iter().find(|a| a.id == "p3").unwrap();
    assert_eq!((p3.role.as_deref(), p3.status), (Some("K"), AccountStatus::Active));
    assert_eq!(p3.fields["user_last_name"], "Family3");
    assert_eq!((p3.fields["language"].as_str(), p3.fields["timezone"].as_str()), ("EN", "15"));
    assert_eq!(p3.fields[ALLOWED_CAMPAIGNS_FIELD], "all");
}

#[tokio::test]
async fn an_empty_listing_reads_as_no_users_only_when_the_total_says_so() {
    let (sandbox, ct) = start(people(0), 10).await;
    sandbox.faults().script(FaultRule::on("list", page_body(0, &[])));
    assert!(ct.list().await.unwrap().is_empty());
    assert!(spoilt_listing(&ct, sandbox.faults(), page_body(2, &[]), 1)
        .await
        .contains("0 users where 1 to 2 were due"));
}

#[tokio::test]
async fn create_sends_the_derived_name_a_fresh_password_and_no_campaigns_by_default() {
    let (sandbox, ct) = start(people(1), 100).await;
    let created = ct.create(&desired("Alex_Chen", Some("K"))).await.unwrap();
    let request = sandbox.last_request("user_new").unwrap();
    assert_eq!(
        request.own_fields(),
        ["allowed_campaigns", "user_first_name", "user_last_name", "user_name", "user_new_password", "user_role"]
    );
    assert_eq!(request.fields["API"], "1.1");
    assert_eq!(request.fields["allowed_campaigns"], "none");
    let stored = sandbox.user("alex_chen").unwrap();
    let password = stored.password.clone().unwrap();
    assert_eq!(password.len(), PASSWORD_LEN);
    assert!(password.chars().any(|c| c.is_ascii_digit()) && password.chars().any(|c| c.is_ascii_uppercase()));
    assert_eq!((stored.user_name.as_str(), stored.role.as_str()), ("Alex_Chen", "K"));
    let listed = account(&ct, "alex_chen").await;
    for field in ["user_name", "user_first_name", "user_last_name", "allowed_campaigns"] {
        assert_eq!(listed.fields[field], created.fields[field], "{field}");
    }
    assert_eq!(
        (listed.id.as_str(), listed.key.as_str(), listed.role.as_deref()),
        ("Alex_Chen", "alex_chen", Some("K"))
    );
    assert!(!format!("{created:?}{listed:?}").contains(&password), "the password was kept");
    ct.create(&desired("Bo", Some("K"))).await.unwrap();
    assert_ne!(sandbox.user("bo").unwrap().password.unwrap(), password, "every password is fresh");
}

#[tokio::test]
async fn a_role_rules_campaigns_and_optional_fields_are_sent_by_their_form_names() {
    let (sandbox, ct) = start(people(0), 100).await;
    let mut d = desired("ana", Some("A"));
    d.fields.insert(ALLOWED_CAMPAIGNS_FIELD.into(), "2345678901234567,1234567890123456".into());
    d.fields.insert("language".into(), "FR".into());
    d.fields.insert("timezone".into(), "12".into());
    d.fields.insert("user_custom1".into(), "Paris".into());
    ct.create(&d).await.unwrap();
    let fields = sandbox.last_request("user_new").unwrap().fields;
    assert_eq!(fields["allowed_campaigns"], "1234567890123456,2345678901234567");
    assert_eq!((fields["language_selector"].as_str(), fields["timezone_selector"].as_str()), ("FR", "12"));
    let listed = account(&ct, "ana").await;
    assert_eq!(listed.fields["user_custom1"], "Paris", "read back from user_addtl_info");
    assert_eq!(listed.fields[ALLOWED_CAMPAIGNS_FIELD], "1234567890123456,2345678901234567");
}

#[tokio::test]
async fn a_derived_name_outside_the_rule_is_refused_and_never_sent() {
    let (sandbox, ct) = start(people(0), 100).await;
    for bad in ["jean.luc", "", "a_name_longer_than_twenty", "zoë"] {
        let mut d = desired("x", Some("K"));
        d.key = normalize_key(bad);
        d.fields.insert(USER_NAME_FIELD.into(), bad.into());
        match ct.create(&d).await {
            Err(PlatformError::Unsupported { message, .. }) => {
                assert!(message.contains("not a Client Toolbox user name") && message.contains("not sent"), "{message}")
            }
            other => panic!("{bad:?}: expected Unsupported, got {other:?}"),
        }
    }
    let mut mismatched = desired("alex", Some("K"));
    mismatched.key = "alex_chen".into();
    assert!(matches!(ct.create(&mismatched).await, Err(PlatformError::Unsupported { .. })));
    for role in [None, Some("k"), Some("KA")] {
        assert!(matches!(ct.create(&desired("ok", role)).await, Err(PlatformError::Unsupported { .. })));
    }
    assert_eq!(sandbox.write_calls(), 0);
}

#[tokio::test]
async fn a_name_in_use_even_by_a_deleted_user_is_rejected_on_that_record() {
    let options = people(1).with_user(CtUser::new("gone_user", "Old", "Timer", "K").deleted());
    let (sandbox, ct) = start(options, 100).await;
    for name in ["gone_user", "P0"] {
        match ct.create(&desired(name, Some("K"))).await {
            Err(PlatformError::Rejected { operation, message, .. }) => {
                assert_eq!(operation, "create");
                assert!(message.contains("already in use") && message.contains(name), "{message}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
    assert!(ct.create(&desired("fresh", Some("K"))).await.is_ok(), "the next record goes on");
    assert_eq!(sandbox.users().len(), 4);
}

#[tokio::test]
async fn update_sends_only_the_changed_fields() {
    let (sandbox, ct) = start(people(2), 100).await;
    let p1 = account(&ct, "p1").await;
    ct.update(&p1, &[change("user_last_name", "Okafor")]).await.unwrap();
    let request = sandbox.last_request("user_update").unwrap();
    assert_eq!(request.own_fields(), ["user_last_name", "user_name"]);
    assert_eq!((request.fields["user_name"].as_str(), request.fields["API"].as_str()), ("p1", "1.1"));
    ct.update(&p1, &[change(ROLE_FIELD, "A"), change(ALLOWED_CAMPAIGNS_FIELD, "none"), change("language", "DE")])
        .await
        .unwrap();
    let request = sandbox.last_request("user_update").unwrap();
    assert_eq!(request.own_fields(), ["allowed_campaigns", "language_selector", "user_name", "user_role"]);
    let stored = sandbox.user("p1").unwrap();
    assert_eq!(
        (
            stored.last_name.as_str(),
            stored.role.as_str(),
            stored.allowed_campaigns.as_str(),
            stored.first_name.as_str()
        ),
        ("Okafor", "A", "none", "Given")
    );
    assert_no_change_sends_nothing(&ct, &p1, || sandbox.write_calls()).await;
}

#[tokio::test]
async fn updates_refuse_what_cannot_be_written() {
    let (sandbox, ct) = start(people(1), 100).await;
    let p0 = account(&ct, "p0").await;
    let cleared = FieldChange { field: "user_first_name".into(), before: Some("Given".into()), after: None };
    let bad = [
        change(USER_NAME_FIELD, "p0_new"),
        change("email", "a@b.c"),
        change("status", "inactive"),
        change(ROLE_FIELD, "Cashier"),
        change(ALLOWED_CAMPAIGNS_FIELD, "1,,2"),
        cleared,
    ];
    for change in bad {
        let outcome = ct.update(&p0, std::slice::from_ref(&change)).await;
        assert!(matches!(outcome, Err(PlatformError::Unsupported { .. })), "{change:?}: {outcome:?}");
    }
    assert_eq!(sandbox.write_calls(), 0);
}

#[tokio::test]
async fn removal_is_a_soft_user_delete_never_permanent_and_cannot_be_undone() {
    let (sandbox, ct) = start(people(2), 100).await;
    let p1 = deactivated(&ct, "p1").await;
    let request = sandbox.last_request("user_delete").unwrap();
    assert_eq!(request.own_fields(), ["user_name"], "no action=permanent");
    assert!(sandbox.permanent_deletes().is_empty());
    assert!(sandbox.user("p1").unwrap().deleted, "soft-deleted, still there");
    assert!(ct.list().await.unwrap().iter().all(|a| a.id != "p1"), "a deleted user no longer lists");
    let writes = sandbox.write_calls();
    match ct.reactivate(&p1, &[]).await {
        Err(PlatformError::Unsupported { message, .. }) => assert!(message.contains("cannot restore"), "{message}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(sandbox.write_calls(), writes);
    assert!(matches!(ct.create(&desired("p1", Some("K"))).await, Err(PlatformError::Rejected { .. })));
    let traits = ct.traits();
    assert_eq!((traits.key_field, traits.can_reactivate, traits.recreate_removed), ("user_name", false, false));
}

#[tokio::test]
async fn refused_credentials_and_rights_are_auth_errors() {
    let options = people(1).with_user(CtUser::new("clerk", "C", "K", "K").with_api_key("clerk-key"));
    let (sandbox, _) = start(options, 100).await;
    let wrong_key = ClientToolboxConnector::new(settings_for(&sandbox, "not-the-key", 100)).unwrap();
    let mut clerk = settings_for(&sandbox, "clerk-key", 100);
    clerk.caller_user_id = "clerk".into();
    let clerk = ClientToolboxConnector::new(clerk).unwrap();
    let mut elsewhere = settings_for(&sandbox, KEY, 100);
    elsewhere.account_id = "otherwidgets".into();
    let elsewhere = ClientToolboxConnector::new(elsewhere).unwrap();
    for ct in [&wrong_key, &clerk, &elsewhere] {
        assert!(matches!(ct.list().await, Err(PlatformError::Auth { .. })), "{:?}", ct.list().await);
        assert!(matches!(ct.create(&desired("x", Some("K"))).await, Err(PlatformError::Auth { .. })));
    }
    assert!(sandbox.user("x").is_none());
}

#[tokio::test]
async fn a_wrong_api_version_fails_the_listing_and_rejects_the_write() {
    let (sandbox, _) = start(people(1), 100).await;
    let mut settings = settings_for(&sandbox, KEY, 100);
    settings.list_api_version = "1.5".into();
    settings.write_api_version = "1.6".into();
    let ct = ClientToolboxConnector::new(settings).unwrap();
    assert!(malformed_detail(ct.list().await).contains("not supported for users_list"));
    match ct.create(&desired("x", Some("K"))).await {
        Err(PlatformError::Rejected { message, .. }) => assert!(message.contains("use 1.1"), "{message}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_status_with_http_200_is_an_error_on_that_call() {
    let (sandbox, ct) = start(people(3), 2).await;
    sandbox.faults().script(FaultRule::on("create", error_body("Too many users on this plan")));
    match ct.create(&desired("x", Some("K"))).await {
        Err(PlatformError::Rejected { message, .. }) => assert_eq!(message, "Too many users on this plan"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    let detail = spoilt_listing(&ct, sandbox.faults(), error_body("Report server busy"), 2).await;
    assert!(detail.contains("users page at offset 2") && detail.contains("Report server busy"), "{detail}");
}

#[tokio::test]
async fn the_vendors_malformed_sample_fails_the_listing_never_no_users() {
    let (sandbox, ct) = start(people(3), 100).await;
    sandbox.set_malformed_language(true);
    let detail = malformed_detail(ct.list().await);
    assert!(detail.contains("users page at offset 0") && detail.contains("not well-formed"), "{detail}");
    sandbox.set_malformed_language(false);
    assert_eq!(ct.list().await.unwrap().len(), 4);
}

#[tokio::test]
async fn garbage_truncated_or_shifting_pages_are_malformed_naming_the_page() {
    let (sandbox, ct) = start(people(5), 2).await;
    assert!(spoilt_listing(&ct, sandbox.faults(), Fault::Garbage, 2).await.contains("users page at offset 2"));
    assert_eq!(sandbox.list_calls(), 2, "no page is skipped past the garbage");
    // A page one user short is not a short listing: the next page starts at the lost user.
    sandbox.faults().script(FaultRule::on("list", Fault::Truncate).nth(1));
    let calls = sandbox.list_calls();
    assert_eq!(ct.list().await.unwrap().len(), 6, "the user cut from page 1 is read on page 2");
    assert_eq!(sandbox.list_calls() - calls, 4, "pages at offsets 0, 1, 3, 5");
    assert!(spoilt_listing(&ct, sandbox.faults(), page_body(6, &[]), 2)
        .await
        .contains("0 users where 1 to 2 were due"));
    assert!(spoilt_listing(&ct, sandbox.faults(), page_body(7, &["z1", "z2"]), 2)
        .await
        .contains("the total changed from 6 to 7"));
    assert!(spoilt_listing(&ct, sandbox.faults(), page_body(6, &["john1970", "p0"]), 2).await.contains("listed twice"));
    let cut = Fault::answer(200, "<response status=\"success\"><pagination>");
    assert!(spoilt_listing(&ct, sandbox.faults(), cut, 1).await.contains("not well-formed"));
}

#[tokio::test]
async fn a_429_is_retried_and_a_persistent_503_is_a_status_error() {
    let (sandbox, ct) = start(people(2), 100).await;
    sandbox.faults().script(FaultRule::on("list", Fault::too_many(1)));
    assert_eq!(ct.list().await.unwrap().len(), 3);
    assert_eq!(sandbox.list_calls(), 2);
    sandbox.faults().script(FaultRule::on("update", Fault::status(503)).always());
    let p0 = account(&ct, "p0").await;
    assert_unavailable(ct.update(&p0, &[change("user_last_name", "X")]).await);
}

/// Every kind of error, the accounts and the connector printed: no key, password or PIN.
#[tokio::test]
async fn secrets_appear_in_no_account_error_or_debug_output() {
    let (sandbox, ct) = start(people(2), 1).await;
    let settings = settings_for(&sandbox, KEY, 1);
    let accounts = ct.list().await.unwrap();
    let refused = vec![
        ct.create(&desired("p0", Some("K"))).await.unwrap_err(),
        ct.create(&desired("bad.name", Some("K"))).await.unwrap_err(),
    ];
    // The platform echoing the key back must not carry it further.
    let echo = FaultRule::on("update", error_body(&format!("Bad request from key {KEY}")));
    let leak = Leak::new("p0", echo, change("user_last_name", "X"), "delete", Call::List);
    let wrong = ClientToolboxConnector::new(settings_for(&sandbox, &format!("{KEY}-old"), 1)).unwrap();
    let errors = leak.errors(sandbox, [&ct, &wrong], refused).await;
    assert_secret_hidden(KEY, &errors, &ct, &settings);
    let printed = format!("{accounts:?}{}", serde_json::to_string(&accounts).unwrap());
    for secret in [KEY, USER_KEY, USER_PASSWORD, "1234", "user_PIN", "user_api_key", "user_password"] {
        assert!(!printed.contains(secret), "{secret} kept in {printed}");
    }
}

#[test]
fn base_urls_must_be_https_except_on_loopback() {
    let key = || SecretString::from("k".to_string());
    let build = |url: &str| {
        ClientToolboxConnector::new(ClientToolboxSettings::new("ct", Url::parse(url).unwrap(), key(), "u", "a"))
    };
    assert!(build(SPEC.default_base_url.unwrap()).is_ok());
    assert!(build("http://127.0.0.1:8080/").is_ok());
    for bad in ["http://api.clienttoolbox.com/", "https://api.clienttoolbox.com/?user_api_key=oops"] {
        assert!(matches!(build(bad), Err(PlatformError::Unsupported { .. })), "{bad}");
    }
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

fn mapping(text: &str) -> Mapping {
    yaml(text).as_mapping().cloned().unwrap_or_default()
}

#[test]
fn role_rules_take_one_letter_and_campaigns_defaulting_to_none() {
    let campaigns = |r: &RoleValue| r.fields[ALLOWED_CAMPAIGNS_FIELD].clone();
    let plain = role_value(&yaml("K"), &Mapping::new()).unwrap();
    assert_eq!((plain.role.as_str(), campaigns(&plain).as_str()), ("K", "none"));
    let all = role_value(&yaml("A"), &mapping("allowed_campaigns: all")).unwrap();
    assert_eq!(campaigns(&all), "all");
    let some = role_value(&yaml("K"), &mapping("allowed_campaigns: [2345678901234567, \"1234567890123456\"]")).unwrap();
    assert_eq!(campaigns(&some), "1234567890123456,2345678901234567");
    for bad_role in ["k", "Cashier", "[A]", "1"] {
        assert!(role_value(&yaml(bad_role), &Mapping::new()).is_err(), "{bad_role}");
    }
    for bad in ["allowed_campaigns: some", "allowed_campaigns: []", "allowed_campaigns: [\"1,2\"]", "other: 1"] {
        assert!(role_value(&yaml("K"), &mapping(bad)).is_err(), "{bad}");
    }
}

#[test]
fn options_need_the_caller_and_account_and_check_versions() {
    assert!(check_options(&mapping("caller_user_id: john1970\naccount_id: greatwidgets")).is_empty());
    let missing = check_options(&mapping("account_id: greatwidgets"));
    assert!(missing[0].1.contains("caller_user_id"), "{missing:?}");
    let unknown = check_options(&mapping("caller_user_id: j\naccount_id: a\nuser_api_key: x"));
    assert!(unknown[0].1.contains("unknown field"), "{unknown:?}");
    let bad = check_options(&mapping(
        "caller_user_id: john 1970\naccount_id: a\nlist_api_version: v2\nwrite_api_version: '1.1'\ncustom1_list_element: '<x>'",
    ));
    let keys: Vec<&str> = bad.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["caller_user_id", "list_api_version", "custom1_list_element"]);
}

#[test]
fn the_default_match_key_and_user_name_template_agree_and_obey_the_rule() {
    let user_name = SPEC.default_fields.iter().find(|(f, _)| *f == USER_NAME_FIELD).unwrap().1;
    assert_eq!(user_name, SPEC.default_match_key);
    let template = crate::template::Template::parse(user_name).unwrap();
    for email in ["Jean-Luc.Picard.the.captain@ent.example", "zoë.o'brien@x.example", "a+b@x", "ok_1@x"] {
        let person = crate::model::Person::test("x").with_email(email);
        let name = template.render(&person.scim_view());
        assert!(is_valid_user_name(&name), "{email} → {name:?}");
    }
}

#[test]
fn passwords_are_long_mixed_and_different() {
    let a = generate_password();
    let b = generate_password();
    let (a, b) = (a.expose_secret(), b.expose_secret());
    assert_ne!(a, b);
    assert_eq!(a.len(), PASSWORD_LEN);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(a.chars().any(|c| c.is_ascii_lowercase()) && a.chars().any(|c| c.is_ascii_uppercase()));
}
