//! Filter parsing, evaluation and error-message tests, with property tests of the parser.

use super::*;
use proptest::prelude::*;
use serde_json::json;

fn user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223",
        "userName": "bjensen@acme.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "nickName": "",
        "active": true,
        "loginCount": 42,
        "score": 3.5,
        "bigId": 18446744073709551615u64,
        "emails": [
            {"value": "bjensen@acme.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "addresses": {},
        "groups": [
            {"value": "g1", "display": "Sales"},
            {"value": "g2", "display": "Marketing"}
        ],
        "manager": null,
        "meta": {"lastModified": "2024-05-01T10:00:00Z", "resourceType": "User"},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Finance",
            "employeeNumber": "701984",
            "manager": {"value": "26118915", "displayName": "John Smith"}
        }
    })
}

fn m(filter: &str) -> bool {
    match Filter::parse(filter) {
        Ok(f) => f.matches(&user()),
        Err(e) => panic!("{filter:?} failed to parse: {e}"),
    }
}

/// The error `parse` gives for `filter` (the schema check's tests share it).
pub(super) fn refusal(parse: fn(&str) -> Result<Filter>, filter: &str) -> FilterError {
    match parse(filter) {
        Ok(f) => panic!("{filter:?} parsed unexpectedly: {f:?}"),
        Err(e) => e,
    }
}

/// `parse` refuses `filter` at `position` with a message containing `needle`.
pub(super) fn assert_refusal(parse: fn(&str) -> Result<Filter>, filter: &str, position: usize, needle: &str) {
    let e = refusal(parse, filter);
    assert_eq!(e.position, position, "{filter:?}: {e}");
    assert!(e.message.contains(needle), "{filter:?}: {e}");
}

/// Each filter matches the test user (`true`) or does not (`false`).
fn expect(cases: &[(&str, bool)]) {
    for (filter, matches) in cases {
        assert_eq!(m(filter), *matches, "{filter:?}");
    }
}

fn err(filter: &str) -> FilterError {
    refusal(Filter::parse, filter)
}

fn assert_err(filter: &str, position: usize, needle: &str) {
    assert_refusal(Filter::parse, filter, position, needle)
}

/// Canonical text for an AST; parsing it must give the same AST back.
fn render(expr: &Expr) -> String {
    let child = |e: &Expr| match e {
        Expr::Or(_) | Expr::And(_) => format!("({})", render(e)),
        _ => render(e),
    };
    match expr {
        Expr::Or(items) => items.iter().map(child).collect::<Vec<_>>().join(" or "),
        Expr::And(items) => items.iter().map(child).collect::<Vec<_>>().join(" and "),
        Expr::Not(inner) => format!("not ({})", render(inner)),
        Expr::Attr { path, test } => format!("{} {}", render_path(path), render_test(test)),
        Expr::ValuePath { path, filter, sub } => {
            let mut out = format!("{}[{}]", render_path(path), render(filter));
            if let Some((sub, test)) = sub {
                out.push_str(&format!(".{} {}", sub.names.join("."), render_test(test)));
            }
            out
        }
    }
}

fn render_path(path: &AttrPath) -> String {
    match &path.schema {
        Some(urn) => format!("{urn}:{}", path.names.join(".")),
        None => path.names.join("."),
    }
}

fn render_test(test: &Test) -> String {
    match test {
        Test::Present => "pr".to_owned(),
        Test::Compare(op, value) => format!("{} {value}", op.keyword()),
        Test::CompareTime(op, at) => format!("{} \"{}\"", op.keyword(), at.to_rfc3339()),
    }
}

#[test]
fn eq_compares_strings_case_insensitively() {
    expect(&[
        (r#"userName eq "bjensen@acme.com""#, true),
        (r#"userName eq "BJensen@ACME.com""#, true),
        (r#"userName eq "bjensen""#, false),
    ]);
}

#[test]
fn attribute_names_and_json_keys_are_case_insensitive() {
    expect(&[(r#"USERNAME eq "bjensen@acme.com""#, true), (r#"Name.GIVENNAME eq "barbara""#, true)]);
    let f = Filter::parse(r#"userName eq "x""#).unwrap();
    assert!(f.matches(&json!({"USERNAME": "X"})));
}

#[test]
fn keywords_are_case_insensitive() {
    expect(&[
        (r#"userName EQ "bjensen@acme.com" AND active Eq TRUE"#, true),
        ("NOT (title Pr) Or loginCount GT 1", true),
        ("manager eq NULL", true),
    ]);
}

#[test]
fn ne_is_the_negation_of_eq() {
    expect(&[(r#"title ne "Manager""#, true), (r#"title ne "tour guide""#, false)]);
    // Absent attribute: ne is true.
    assert!(m(r#"costCenter ne "4130""#));
    // Multi-valued: a Sales member is excluded even though they are also in Marketing.
    expect(&[(r#"groups.display ne "Sales""#, false), (r#"groups.display ne "HR""#, true)]);
}

#[test]
fn co_sw_ew() {
    expect(&[
        (r#"displayName co "BS JEN""#, true),
        (r#"displayName co "smith""#, false),
        (r#"displayName sw "babs""#, true),
        (r#"displayName sw "jensen""#, false),
        (r#"userName ew "@ACME.com""#, true),
        (r#"userName ew "@acme.org""#, false),
    ]);
}

#[test]
fn ordering_on_numbers() {
    expect(&[
        ("loginCount gt 41", true),
        ("loginCount gt 42", false),
        ("loginCount ge 42", true),
        ("loginCount lt 42.5", true),
        ("loginCount lt 42", false),
        ("loginCount le 42", true),
        ("loginCount eq 42.0", true),
        ("score gt 3.25 and score lt 3.75 and score ge -1e3", true),
        ("bigId eq 18446744073709551615 and bigId gt 18446744073709551614", true),
    ]);
}

#[test]
fn ordering_on_strings_and_timestamps() {
    expect(&[
        (r#"meta.lastModified gt "2024-01-01T00:00:00Z""#, true),
        (r#"meta.lastModified gt "2024-06-01T00:00:00Z""#, false),
        (r#"meta.lastModified le "2024-05-01t10:00:00z""#, true),
        (r#"title lt "Z" and title ge "TOUR""#, true),
    ]);
}

#[test]
fn booleans_support_eq_and_ne() {
    expect(&[("active eq true", true), ("active eq false", false), ("active ne false", true)]);
    assert_err("active gt true", 10, "\"gt\" compares only strings and numbers");
}

#[test]
fn type_mismatch_never_matches() {
    expect(&[
        (r#"loginCount eq "42""#, false),
        (r#"active eq "true""#, false),
        ("title eq 1", false),
        ("loginCount gt \"1\"", false),
    ]);
}

#[test]
fn present() {
    expect(&[
        ("title pr", true),
        ("emails pr", true),
        ("name pr", true),
        ("nickName pr", false),     // empty string
        ("phoneNumbers pr", false), // empty array
        ("addresses pr", false),    // empty object
        ("manager pr", false),      // null
        ("costCenter pr", false),   // missing
    ]);
}

#[test]
fn eq_null_means_absent() {
    expect(&[
        ("manager eq null", true),
        ("costCenter eq null", true),
        ("title eq null", false),
        ("title ne null", true),
        ("manager ne null", false),
    ]);
}

#[test]
fn missing_attributes() {
    expect(&[
        (r#"costCenter eq "x""#, false),
        (r#"costCenter co "x""#, false),
        ("costCenter gt 1", false),
        ("name.middleName sw \"a\"", false),
        (r#"not (costCenter eq "x")"#, true),
        (r#"costCenter.sub ne "x""#, true),
    ]);
}

#[test]
fn multi_valued_attributes_match_any_element() {
    expect(&[
        (r#"groups.display eq "Sales""#, true),
        (r#"groups.display eq "marketing""#, true),
        (r#"groups.display eq "HR""#, false),
        (r#"emails.value ew "@jensen.org""#, true),
        (r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:User""#, true),
    ]);
}

#[test]
fn and_binds_tighter_than_or() {
    // false or (true and true) => true; (false or true) and false would differ below.
    expect(&[
        (r#"title eq "x" or active eq true and loginCount eq 42"#, true),
        (r#"active eq true or title eq "x" and loginCount eq 0"#, true),
    ]);
    let f = Filter::parse("a pr or b pr and c pr").unwrap();
    assert_eq!(render(&f.expr), "a pr or (b pr and c pr)");
}

#[test]
fn parentheses_override_precedence() {
    expect(&[(r#"(active eq true or title eq "x") and loginCount eq 0"#, false), (r#"(((active eq true)))"#, true)]);
    let f = Filter::parse("(a pr or b pr) and c pr").unwrap();
    assert_eq!(render(&f.expr), "(a pr or b pr) and c pr");
}

#[test]
fn not_inverts_and_binds_its_group() {
    expect(&[
        ("not (nickName pr)", true),
        ("not (title pr)", false),
        ("not(title pr) or active eq true", true),
        ("not (not (title pr))", true),
        ("not (title pr and active eq true)", false),
    ]);
}

#[test]
fn value_path_with_sub_attribute() {
    expect(&[
        (r#"emails[type eq "work"].value ew "@acme.com""#, true),
        (r#"emails[type eq "home"].value ew "@acme.com""#, false),
        (r#"emails[type eq "home"].VALUE pr"#, true),
        (r#"emails[type eq "other"].value pr"#, false),
    ]);
}

#[test]
fn value_path_alone_and_per_element_semantics() {
    expect(&[(r#"emails[type eq "work"]"#, true), (r#"emails[type eq "work" and primary eq true]"#, true)]);
    // Both conditions must hold on the same element ...
    assert!(!m(r#"emails[type eq "home" and primary eq true]"#));
    // ... unlike two independent paths.
    expect(&[
        (r#"emails.type eq "home" and emails.primary eq true"#, true),
        (r#"emails[not (type eq "work")] and groups[display sw "mark"]"#, true),
        (r#"phoneNumbers[type eq "work"]"#, false),
    ]);
}

#[test]
fn urn_paths() {
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    assert!(m(&format!(r#"{ent}:department eq "Finance""#)));
    assert!(m(&format!(r#"{ent}:manager.displayName co "smith""#)));
    assert!(m(&format!(r#"{}:DEPARTMENT eq "finance""#, ent.to_uppercase())));
    assert!(!m(&format!(r#"{ent}:department eq "Sales""#)));
    // An extension attribute is not looked for at the top level.
    assert!(!m(&format!(r#"{ent}:userName pr"#)));
    // Core schema attributes live at the top level.
    expect(&[
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen""#, true),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]"#, true),
    ]);
    let f = Filter::parse(&format!("{ent}:department pr")).unwrap();
    assert!(!f.matches(&json!({"department": "Finance"})));
}

#[test]
fn string_escapes_and_unicode() {
    let f = Filter::parse(r#"title eq "say \"hi\" \\ \/ \u00e9 \ud83d\ude00""#).unwrap();
    assert!(f.matches(&json!({"title": "say \"hi\" \\ / é 😀"})));
    // JSON strings (RFC 8259 §7) do not hold raw control characters.
    assert_err("title eq \"tab\there\"", 13, "control character '\\t'");
    assert!(Filter::parse(r#"title eq "tab\there""#).is_ok());
}

#[test]
fn display_as_str_and_from_str() {
    let text = r#"  groups.display eq "Sales" and active eq true "#;
    let f: Filter = text.parse().unwrap();
    assert_eq!(f.as_str(), text);
    assert_eq!(f.to_string(), text);
    assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    assert!(f.matches(&user()));
}

#[test]
fn long_and_chain_does_not_recurse() {
    let text = vec!["title pr"; 20_000].join(" and ");
    let f = Filter::parse(&text).unwrap();
    assert!(f.matches(&user()));
    let text = vec!["nickName pr"; 20_000].join(" or ");
    assert!(!Filter::parse(&text).unwrap().matches(&user()));
}

#[test]
fn error_unknown_operator() {
    let e = err(r#"name.familyName equals "x""#);
    assert_eq!(
        e.to_string(),
        r#"at position 16: expected a comparison operator (eq ne co sw ew pr gt ge lt le), found "equals""#
    );
    assert_err(r#"userName = "x""#, 9, "eq instead of =");
    assert_err(r#"userName=="x""#, 8, "eq instead of =");
    assert_err("title", 5, "found the end of the filter");
}

#[test]
fn error_unterminated_string() {
    let e = err(r#"title eq "Tour"#);
    assert_eq!(e.position, 9);
    assert_eq!(e.to_string(), r#"at position 9: unterminated string: this " has no closing ""#);
    assert_err(r#"title eq "abc\"#, 13, "lone \\");
}

/// Filters the parser refuses: where (a character position) and a piece of why.
const REFUSALS: &[(&str, usize, &str)] = &[
    // escapes
    (r#"title eq "a\qb""#, 11, "invalid escape \\q"),
    (r#"title eq "\u12""#, 10, "4 hex digits"),
    (r#"title eq "\ud83d""#, 10, "unpaired surrogate"),
    (r#"title eq "\ude00""#, 10, "unpaired surrogate"),
    // text after a whole filter
    (r#"title pr active"#, 9, r#"expected "and", "or" or the end of the filter, found "active""#),
    (r#"title eq "a" "b""#, 13, "found the string \"b\""),
    (r#"emails[type eq "work"] eq "x""#, 23, "found \"eq\""),
    // parentheses
    ("(title pr", 0, "unbalanced parenthesis: this \"(\" is never closed"),
    ("not (title pr and (a pr)", 4, "unbalanced parenthesis"),
    ("title pr)", 8, "unbalanced parenthesis: this \")\" has no matching \"(\""),
    ("(title pr b pr)", 10, r#"expected "and", "or" or ")", found "b""#),
    ("()", 1, "expected an attribute path"),
    // brackets
    (r#"emails[type eq "work""#, 6, "unbalanced bracket"),
    (r#"title pr]"#, 8, "unbalanced bracket"),
    (r#"emails[type eq "work")"#, 21, r#"expected "and", "or" or "]""#),
    // missing operands
    ("title pr and", 12, "expected an attribute path, \"(\" or \"not\", found the end"),
    ("or title pr", 0, "found \"or\""),
    ("title pr and and a pr", 13, "found \"and\""),
    ("not title pr", 4, "expected \"(\" after \"not\""),
    // values
    ("title eq Tour", 9, "text values must be in double quotes"),
    ("title eq", 8, "expected a value after \"eq\""),
    ("loginCount co 4", 14, "\"co\" needs a quoted string value, found 4"),
    ("title lt null", 9, "compares only strings and numbers"),
    ("loginCount gt 12ab", 14, "invalid number \"12ab\""),
    ("loginCount gt 01", 14, "invalid number"),
    ("loginCount gt 1e999", 14, "invalid number"),
    // attribute paths
    ("foo:bar pr", 0, "only allowed in a schema URN prefix"),
    ("urn:x:y: pr", 8, "expected an attribute name"),
    ("name..x pr", 5, "expected an attribute name"),
    ("1name pr", 0, "invalid number"),
    ("na#me pr", 2, "invalid character '#'"),
    (r#"emails[type eq "w"]value pr"#, 19, "found \"value\""),
    // value filters do not nest
    (r#"emails[x[y pr]]"#, 8, "value filters cannot be nested"),
    // positions count characters, not bytes ("é" is two bytes)
    (r#"title eq "é" foo"#, 13, "found \"foo\""),
    ("ümlaut pr", 0, "invalid character 'ü'"),
];

#[test]
fn refusals_say_where_and_why() {
    for (filter, position, needle) in REFUSALS {
        assert_err(filter, *position, needle);
    }
}

#[test]
fn error_empty() {
    assert_eq!(err("").to_string(), "at position 0: empty filter");
    assert_err(" \n\t ", 0, "empty filter");
}

#[test]
fn names_follow_the_rfc_grammar() {
    assert_err("_title pr", 0, "invalid character '_'");
    assert_err("$title pr", 0, "invalid character '$'");
    assert_err("ti$tle pr", 2, "invalid character '$'");
    assert_err("name.givenName.first pr", 14, "at most one sub-attribute");
    assert_err(r#"emails[type eq "w"].value.x pr"#, 25, "at most one sub-attribute");
    assert!(Filter::parse("groups.$ref pr and a-b_1 pr").is_ok());
}

#[test]
fn null_is_absent_null_or_empty_but_not_the_empty_string() {
    expect(&[
        ("nickName eq null", false), // "" is a value
        ("nickName ne null", true),
        ("phoneNumbers eq null", true), // an empty array has no value
        ("manager eq null and costCenter eq null", true),
        ("name eq null", false),
        ("name.middleName eq null", true),
    ]);
}

#[test]
fn only_the_users_own_schemas_resolve() {
    expect(&[
        (r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Babs Jensen""#, false),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:displayName eq "Babs Jensen""#, true),
    ]);
}

#[test]
fn error_nesting_depth() {
    let ok = format!("{}title pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(m(&ok));
    let deep = format!("{}title pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    assert_err(&deep, MAX_DEPTH, "nested too deeply");
    let nots = "not (".repeat(MAX_DEPTH + 1);
    assert_err(&nots, 4 + 5 * MAX_DEPTH, "nested too deeply");
    // Far past the cap: must be an error, not a stack overflow.
    assert_err(&"(".repeat(200_000), MAX_DEPTH, "nested too deeply");
}

#[test]
fn long_words_are_shortened_in_messages() {
    let e = err(&format!("title {}", "x".repeat(10_000)));
    assert!(e.message.len() < 200, "{}", e.message);
}

const SOUP: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    " ",
    "not",
    "and",
    "or",
    "AND",
    "eq",
    "ne",
    "co",
    "sw",
    "ew",
    "pr",
    "gt",
    "ge",
    "lt",
    "le",
    "title",
    "emails",
    "groups.display",
    ".value",
    "type",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "\"work\"",
    "\"Sales\"",
    "\"",
    "\"\\u00e9\"",
    "\"\\ud83d",
    "\\",
    "42",
    "-1.5e3",
    "01",
    "true",
    "false",
    "null",
    "=",
    "é",
    ":",
    ".",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(SOUP), 0..30).prop_map(|parts| parts.join(" "))
}

fn leaf() -> impl Strategy<Value = String> {
    let path = prop::sample::select(vec![
        "title",
        "userName",
        "groups.display",
        "emails.value",
        "loginCount",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    ]);
    let string = any::<String>().prop_map(|s| Value::String(s).to_string());
    let value = prop_oneof![
        string.clone(),
        any::<i64>().prop_map(|n| n.to_string()),
        (-1e9f64..1e9).prop_map(|n| Value::from(n).to_string()),
    ];
    // co/sw/ew take only strings; the others take strings or numbers.
    let string_op = prop::sample::select(vec!["co", "sw", "ew"]);
    let any_op = prop::sample::select(vec!["eq", "ne", "gt", "ge", "lt", "le"]);
    prop_oneof![
        (path.clone(), string_op, string).prop_map(|(p, o, v)| format!("{p} {o} {v}")),
        (path.clone(), any_op, value).prop_map(|(p, o, v)| format!("{p} {o} {v}")),
        path.prop_map(|p| format!("{p} pr")),
        Just(r#"emails[type eq "work" and primary eq true].value ew "@acme.com""#.to_owned()),
        Just("active eq false".to_owned()),
    ]
}

fn valid_filter() -> impl Strategy<Value = String> {
    leaf().prop_recursive(6, 32, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

/// Parsing never panics; whatever parses round-trips and evaluates without panicking.
fn check_any(text: &str) {
    if let Ok(f) = Filter::parse(text) {
        assert_eq!(Filter::parse(&f.to_string()).as_ref(), Ok(&f));
        let canonical = render(&f.expr);
        let reparsed = Filter::parse(&canonical);
        assert_eq!(reparsed.map(|g| g.expr), Ok(f.expr.clone()), "{canonical}");
        let _ = f.matches(&user());
    }
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_strings(text in any::<String>()) {
        check_any(&text);
    }

    #[test]
    fn parse_never_panics_on_token_soup(text in soup()) {
        check_any(&text);
    }

    #[test]
    fn valid_filters_parse_and_round_trip(text in valid_filter()) {
        let f = Filter::parse(&text);
        prop_assert!(f.is_ok(), "{text:?}: {f:?}");
        check_any(&text);
    }
}
