//! SCIM filter text: parsing never panics, a parsed filter re-parses from its display form to
//! an equal value, and evaluating it against a user never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rosterd::filter::Filter;
use serde_json::{json, Value};

fn user() -> &'static Value {
    static USER: OnceLock<Value> = OnceLock::new();
    USER.get_or_init(|| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "2819c223", "userName": "bjensen@example.com", "active": true, "age": 42, "score": 1.5e3,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "b@home.example"}],
            "groups": [{"display": "Sales", "value": "g1"}, {"display": "Finance", "value": "g2"}],
            "meta": {"lastModified": "2024-05-01T10:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops", "manager": {"value": "m"}},
            "nothing": null, "empty": "", "list": [], "obj": {}
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(filter) = Filter::parse(text) {
        let again = Filter::parse(&filter.to_string()).expect("a parsed filter's display form must parse");
        assert_eq!(again, filter);
        let _ = filter.matches(user());
        let _ = filter.matches(&Value::Null);
    }
    // The person schema check and typed evaluation must not panic either.
    if let Ok(filter) = Filter::parse_person(text) {
        let _ = filter.matches(user());
    }
});
