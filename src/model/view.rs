//! `Person::scim_view`: a person as the JSON SCIM User resource filters and templates see,
//! holding only what the source sent (an absent attribute has no key at all).
//!
//! `PersonNode` reads a person in place with exactly these keys and values; a property
//! test holds the two to the same answers.

use serde_json::{Map, Value};

use super::{Email, Person, ENTERPRISE_URN};

fn put(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), Value::from(v));
    }
}

/// `""` in a non-optional name field means the source sent no such name.
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn put_object(map: &mut Map<String, Value>, key: &str, object: Map<String, Value>) {
    if !object.is_empty() {
        map.insert(key.to_owned(), Value::Object(object));
    }
}

fn contacts(list: &[Email]) -> Value {
    let each = |e: &Email| {
        let mut m = Map::new();
        put(&mut m, "value", non_empty(&e.value));
        put(&mut m, "type", e.kind.as_deref());
        m.insert("primary".into(), Value::Bool(e.primary));
        Value::Object(m)
    };
    Value::Array(list.iter().map(each).collect())
}

pub(super) fn build(p: &Person) -> Value {
    let x = p.extras();
    let mut user = Map::new();
    put(&mut user, "id", Some(&p.id));
    put(&mut user, "externalId", p.external_id.as_deref());
    put(&mut user, "userName", Some(&p.user_name));
    let mut name = Map::new();
    put(&mut name, "givenName", p.sent_given_name());
    put(&mut name, "familyName", p.sent_family_name());
    put(&mut name, "middleName", x.middle_name.as_deref());
    put_object(&mut user, "name", name);
    put(&mut user, "displayName", p.display_name.as_deref());
    put(&mut user, "nickName", x.nick_name.as_deref());
    put(&mut user, "title", p.title.as_deref());
    put(&mut user, "userType", x.user_type.as_deref());
    put(&mut user, "locale", x.locale.as_deref());
    if !p.active_unsent {
        user.insert("active".into(), Value::Bool(p.active));
    }
    if !p.emails.is_empty() {
        user.insert("emails".into(), contacts(&p.emails));
    }
    put(&mut user, "email", p.email());
    if !x.phone_numbers.is_empty() {
        user.insert("phoneNumbers".into(), contacts(&x.phone_numbers));
    }
    if !p.groups.is_empty() {
        let groups = p.groups.iter().enumerate().map(|(i, g)| {
            let mut m = Map::new();
            put(&mut m, "value", g.value());
            put(&mut m, "display", non_empty(g.display()));
            put(&mut m, "type", x.group_types.get(i).and_then(|t| t.as_deref()));
            Value::Object(m)
        });
        user.insert("groups".into(), Value::Array(groups.collect()));
    }
    if !x.schemas.is_empty() {
        user.insert("schemas".into(), x.schemas.iter().map(|s| Value::from(s.as_str())).collect());
    }
    let mut meta = Map::new();
    put(&mut meta, "resourceType", x.resource_type.as_deref());
    put(&mut meta, "created", x.created.as_deref());
    put(&mut meta, "lastModified", p.last_modified.as_deref());
    put_object(&mut user, "meta", meta);
    let mut enterprise = Map::new();
    put(&mut enterprise, "employeeNumber", p.employee_number.as_deref());
    put(&mut enterprise, "costCenter", x.cost_center.as_deref());
    put(&mut enterprise, "organization", p.organization.as_deref());
    put(&mut enterprise, "division", x.division.as_deref());
    put(&mut enterprise, "department", p.department.as_deref());
    if let Some(manager) = &p.manager {
        let mut m = Map::new();
        m.insert("value".into(), Value::from(manager.as_str()));
        enterprise.insert("manager".into(), Value::Object(m));
    }
    put_object(&mut user, ENTERPRISE_URN, enterprise);
    Value::Object(user)
}
