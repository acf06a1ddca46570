//! The person schema check: unknown names, suggestions, types refused at load.

use serde_json::json;

use crate::filter::tests::assert_refusal;
use crate::filter::Filter;

fn assert_refused(text: &str, position: usize, needle: &str) {
    assert_refusal(Filter::parse_person, text, position, needle)
}

#[test]
fn a_typo_is_refused_with_the_nearest_name() {
    assert_refused(r#"not (groups.dispaly eq "Contractors")"#, 5, "did you mean groups.display?");
    assert_refused(r#"usrName eq "x""#, 0, "did you mean userName?");
    assert_refused(r#"title pr and name.givenNme pr"#, 13, "did you mean name.givenName?");
    assert_refused(
        r#"department eq "x""#,
        0,
        "did you mean urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department?",
    );
    assert_refused(r#"emails[tpye eq "work"]"#, 7, "did you mean type?");
    assert_refused(r#"emails[type eq "work"].vale pr"#, 23, "did you mean value?");
    assert_refused("profileUrl pr", 0, "not an attribute of the person schema");
}

#[test]
fn other_schemas_do_not_describe_a_person() {
    assert_refused(
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x""#,
        0,
        "not a schema of the person",
    );
    assert!(Filter::parse_person(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x""#).is_ok());
    assert!(Filter::parse_person(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#)
        .is_ok());
}

#[test]
fn every_attribute_of_the_view_is_known() {
    for path in [
        "id",
        "externalId",
        "userName",
        "name",
        "name.givenName",
        "name.familyName",
        "name.middleName",
        "displayName",
        "nickName",
        "title",
        "userType",
        "locale",
        "active",
        "emails",
        "emails.value",
        "emails.type",
        "emails.primary",
        "email",
        "phoneNumbers.value",
        "groups.value",
        "groups.display",
        "groups.type",
        "schemas",
        "meta.created",
        "meta.lastModified",
        "meta.resourceType",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    ] {
        let text = format!("{path} pr");
        assert!(Filter::parse_person(&text).is_ok(), "{text}");
    }
}

#[test]
fn booleans_allow_only_eq_ne_and_pr() {
    assert_refused(r#"active gt "x""#, 0, "is a boolean");
    assert_refused(r#"active eq "true""#, 0, "is a boolean");
    assert_refused(r#"emails[primary co "t"]"#, 7, "is a boolean");
    assert!(Filter::parse_person("active eq true and active ne false and active pr").is_ok());
}

#[test]
fn strings_need_quoted_values_and_complex_attributes_a_sub_attribute() {
    assert_refused("title eq 1", 0, "write the value in double quotes");
    assert_refused(r#"name eq "x""#, 0, "is complex");
    assert_refused(r#"title[value eq "x"]"#, 0, "is not complex");
}

#[test]
fn date_times_must_be_date_times() {
    assert_refused(r#"meta.lastModified gt "yesterday""#, 0, "is a dateTime");
    assert!(Filter::parse_person(r#"meta.lastModified sw "2024""#).is_ok());
}

#[test]
fn date_times_compare_chronologically() {
    let user = json!({"meta": {"lastModified": "2024-03-15T12:00:00.250000Z", "created": "2024-03-15T14:00:00+02:00"}});
    let m = |text: &str| Filter::parse_person(text).map(|f| f.matches(&user)).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(m(r#"meta.lastModified gt "2024-03-15T12:00:00Z""#));
    assert!(m(r#"meta.lastModified lt "2024-03-15T12:00:00.5Z""#));
    assert!(m(r#"meta.created eq "2024-03-15T12:00:00Z""#), "14:00+02:00 is 12:00Z");
    assert!(m(r#"meta.created lt "2024-03-15T13:00:00Z""#));
    assert!(!m(r#"meta.created ne "2024-03-15T12:00:00.000Z""#));
    // Untyped, the same filter compares text.
    let untyped = Filter::parse(r#"meta.lastModified gt "2024-03-15T12:00:00Z""#).unwrap();
    assert!(!untyped.matches(&user));
}

#[test]
fn ids_compare_exactly() {
    let user = json!({"id": "AbC", "externalId": "EMP-0011", "userName": "Bob"});
    let m = |text: &str| Filter::parse_person(text).map(|f| f.matches(&user)).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(!m(r#"externalId eq "emp-0011""#));
    assert!(m(r#"externalId eq "EMP-0011""#));
    assert!(m(r#"externalId ne "emp-0011""#));
    assert!(!m(r#"id sw "ab""#));
    assert!(m(r#"id co "bC""#));
    assert!(m(r#"userName eq "BOB""#));
}
