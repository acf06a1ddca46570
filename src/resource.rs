//! `Node`: the read-only shape of a SCIM resource that filters and templates walk.
//!
//! Scope filters, role rules and field templates run for every person of the roster on
//! every platform. Building each person's SCIM view as a `serde_json::Value` first cost
//! some twenty allocations a person, most of a million-person plan's time. Walking a
//! trait instead lets the same evaluator read a JSON resource (the SCIM emulator, tests)
//! or a `Person` in place (`model::PersonNode`) with no allocation at all.

use serde_json::{Number, Value};

/// A leaf value of a resource.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Str(&'a str),
    Num(&'a Number),
}

/// One value inside a SCIM resource: an object, an array or a scalar. Object keys match
/// case-insensitively, as SCIM attribute names do.
pub trait Node<'a>: Copy {
    /// The value when it is a leaf; `None` for objects and arrays.
    fn scalar(self) -> Option<Scalar<'a>>;

    fn is_array(self) -> bool;

    /// For an array, each element in order; nothing for other values.
    fn each_element(self, f: &mut dyn FnMut(Self));

    /// For an object, each child whose key equals `name` ignoring ASCII case; nothing for
    /// other values.
    fn each_child(self, name: &str, f: &mut dyn FnMut(Self));

    /// For an object, the child under exactly `name`, else the first whose key equals it
    /// ignoring ASCII case.
    fn child(self, name: &str) -> Option<Self>;

    /// For an array, its first element.
    fn first_element(self) -> Option<Self>;

    /// Present in SCIM's sense (`pr`): not null, `""` or `[]`, and for an object, holding
    /// something present (RFC 7644 §3.4.2.2: "a non-empty node for complex attributes").
    fn is_present(self) -> bool;
}

impl<'a> Node<'a> for &'a Value {
    fn scalar(self) -> Option<Scalar<'a>> {
        match self {
            Value::Null => Some(Scalar::Null),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::String(s) => Some(Scalar::Str(s)),
            Value::Number(n) => Some(Scalar::Num(n)),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    fn is_array(self) -> bool {
        self.is_array()
    }

    fn each_element(self, f: &mut dyn FnMut(Self)) {
        if let Value::Array(items) = self {
            items.iter().for_each(f);
        }
    }

    fn each_child(self, name: &str, f: &mut dyn FnMut(Self)) {
        if let Value::Object(map) = self {
            map.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).for_each(|(_, v)| f(v));
        }
    }

    fn child(self, name: &str) -> Option<Self> {
        let map = self.as_object()?;
        map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
    }

    fn first_element(self) -> Option<Self> {
        self.as_array()?.first()
    }

    fn is_present(self) -> bool {
        match self {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Object(map) => map.values().any(|v| v.is_present()),
            Value::Bool(_) | Value::Number(_) => true,
        }
    }
}
