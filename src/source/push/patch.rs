//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove`, with or without a path, as
//! Entra ID and Okta send them (op names in any case, a path-less op whose object keys are
//! themselves paths such as `name.givenName` or the enterprise URN).

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::path::{self, AttrTarget, Target};
use super::resource::Kind;
use super::schema::ENTERPRISE_URN;
use crate::platform::scim::wire::PATCH_URN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// The operations of a PatchOp request, applied in order to `body` (a stored resource's
/// body); the caller checks and cuts the result to the schema.
pub fn apply(kind: Kind, body: &mut Map<String, Value>, request: &Map<String, Value>) -> Result<(), ScimError> {
    let named = get(request, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_URN))));
    if !named {
        return Err(ScimError::Syntax(format!("schemas must hold {PATCH_URN}")));
    }
    let ops = get(request, "Operations").and_then(Value::as_array);
    let ops =
        ops.filter(|o| !o.is_empty()).ok_or_else(|| ScimError::Syntax("Operations must be a non-empty list".into()))?;
    for (i, operation) in ops.iter().enumerate() {
        let Value::Object(operation) = operation else {
            return Err(ScimError::Syntax(format!("Operations[{i}] must be an object")));
        };
        one(kind, body, operation).map_err(|e| at_op(i, e))?;
    }
    Ok(())
}

/// A key of a JSON object, case-insensitively (RFC 7643 §2.1).
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

fn at_op(i: usize, e: ScimError) -> ScimError {
    match e {
        ScimError::Path(m) => ScimError::Path(format!("Operations[{i}]: {m}")),
        ScimError::Value(m) => ScimError::Value(format!("Operations[{i}]: {m}")),
        ScimError::NoTarget(m) => ScimError::NoTarget(format!("Operations[{i}]: {m}")),
        ScimError::Syntax(m) => ScimError::Syntax(format!("Operations[{i}]: {m}")),
        other => other,
    }
}

fn one(kind: Kind, body: &mut Map<String, Value>, operation: &Map<String, Value>) -> Result<(), ScimError> {
    let name = get(operation, "op").and_then(Value::as_str).unwrap_or_default();
    let op = match name.to_ascii_lowercase().as_str() {
        "add" => Op::Add,
        "replace" => Op::Replace,
        "remove" => Op::Remove,
        _ => return Err(ScimError::Syntax(format!("op {name:?} is not add, replace or remove"))),
    };
    let value = get(operation, "value").cloned().unwrap_or(Value::Null);
    match get(operation, "path").and_then(Value::as_str).filter(|p| !p.trim().is_empty()) {
        Some(p) => on_target(body, op, path::parse(kind, p)?, value),
        None if op == Op::Remove => Err(ScimError::NoTarget("remove needs a path".into())),
        None => {
            // No path: the value is an object whose keys are attributes, or paths (Entra ID).
            let Value::Object(map) = value else {
                return Err(ScimError::Value(format!("{name} without a path needs an object value")));
            };
            for (key, v) in map {
                on_target(body, op, path::parse(kind, &key)?, v)?;
            }
            Ok(())
        }
    }
}

fn on_target(body: &mut Map<String, Value>, op: Op, target: Target, value: Value) -> Result<(), ScimError> {
    let t = match target {
        Target::Extension => return on_extension(body, op, value),
        Target::Unknown => return Ok(()),
        Target::Attr(t) => t,
    };
    if op != Op::Remove && value.is_null() {
        return Err(ScimError::Value(format!("{} needs a value", t.attr.name)));
    }
    match t.extension {
        true => with_object(body, ENTERPRISE_URN, |ext| on_plain(ext, op, &t, value)),
        false => on_plain(body, op, &t, value),
    }
}

fn on_plain(container: &mut Map<String, Value>, op: Op, t: &AttrTarget, value: Value) -> Result<(), ScimError> {
    match (&t.filter, t.sub) {
        (Some(_), _) => on_selected(container, op, t, value),
        (None, Some(sub)) => on_sub(container, op, t, sub.name, value),
        (None, None) => on_attr(container, op, t, value),
    }
}

/// Run `f` on the object under `key`, made when absent (or not an object).
fn with_object<R>(map: &mut Map<String, Value>, key: &str, f: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
    let mut inner = match map.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let out = f(&mut inner);
    map.insert(key.to_string(), Value::Object(inner));
    out
}

fn on_extension(body: &mut Map<String, Value>, op: Op, value: Value) -> Result<(), ScimError> {
    match (op, value) {
        (Op::Remove, _) => {
            body.remove(ENTERPRISE_URN);
        }
        (_, Value::Object(map)) => with_object(body, ENTERPRISE_URN, |ext| ext.extend(map)),
        _ => return Err(ScimError::Value(format!("{ENTERPRISE_URN} needs an object value"))),
    }
    Ok(())
}

fn as_list(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (members,
/// emails), or when equal in whole.
fn same(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn on_attr(container: &mut Map<String, Value>, op: Op, t: &AttrTarget, value: Value) -> Result<(), ScimError> {
    let name = t.attr.name;
    match op {
        Op::Remove if t.attr.multi && !value.is_null() => {
            // Entra ID removes members as `path: members` with the members in `value`.
            let gone = as_list(value);
            if let Some(Value::Array(items)) = container.get_mut(name) {
                items.retain(|item| !gone.iter().any(|g| same(item, g)));
            }
        }
        Op::Remove => {
            container.remove(name);
        }
        Op::Add if t.attr.multi => {
            let list = container.entry(name.to_string()).or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Value::Array(items) = list {
                for new in as_list(value) {
                    match items.iter_mut().find(|i| same(i, &new)) {
                        Some(existing) => *existing = new,
                        None => items.push(new),
                    }
                }
            }
        }
        _ if t.attr.kind == super::schema::Kind::Complex && !t.attr.multi => match value {
            Value::Object(map) => with_object(container, name, |object| object.extend(map)),
            // Checked (or read as `{"value": ...}`) when the result is cut to the schema.
            other => {
                container.insert(name.to_string(), other);
            }
        },
        _ => {
            container.insert(name.to_string(), value);
        }
    }
    Ok(())
}

/// `attr.sub` without a filter: in a complex attribute, or in every element of a multi-valued one.
fn on_sub(
    container: &mut Map<String, Value>,
    op: Op,
    t: &AttrTarget,
    sub: &str,
    value: Value,
) -> Result<(), ScimError> {
    let name = t.attr.name;
    if !t.attr.multi {
        with_object(container, name, |object| match op {
            Op::Remove => object.remove(sub),
            _ => object.insert(sub.to_string(), value),
        });
        return Ok(());
    }
    let Some(Value::Array(items)) = container.get_mut(name) else {
        return match op {
            Op::Remove => Ok(()),
            _ => Err(ScimError::NoTarget(format!("{name} has no values to set {sub} on"))),
        };
    };
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        match op {
            Op::Remove => item.remove(sub),
            _ => item.insert(sub.to_string(), value.clone()),
        };
    }
    Ok(())
}

/// `attr[filter]` or `attr[filter].sub`: on the elements the filter selects. A remove that
/// selects nothing is done already; an add or replace that selects nothing adds the element
/// when the filter is a plain `attr eq "value"` (what Entra ID's `emails[type eq "work"].value`
/// means), else it is `noTarget`.
fn on_selected(container: &mut Map<String, Value>, op: Op, t: &AttrTarget, value: Value) -> Result<(), ScimError> {
    let (name, selector) = (t.attr.name, t.filter.as_ref());
    let list = container.entry(name.to_string()).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let Value::Array(items) = list else { return Ok(()) };
    let hits: Vec<usize> = (0..items.len())
        .filter(|&i| selector.is_some_and(|s| items.get(i).is_some_and(|v| s.filter.matches(v))))
        .collect();
    if op == Op::Remove {
        match t.sub {
            Some(sub) => {
                for (_, item) in items.iter_mut().enumerate().filter(|(i, _)| hits.contains(i)) {
                    if let Value::Object(o) = item {
                        o.remove(sub.name);
                    }
                }
            }
            None => {
                let kept = std::mem::take(items).into_iter().enumerate().filter(|(i, _)| !hits.contains(i));
                *items = kept.map(|(_, v)| v).collect();
            }
        }
    } else if hits.is_empty() {
        let Some((attr, equals)) = selector.and_then(|s| s.equals.as_ref()) else {
            return Err(ScimError::NoTarget(format!("no value of {name} matches the filter")));
        };
        let mut element = Map::new();
        element.insert(attr.name.to_string(), json!(equals));
        set_element(&mut element, op, t, value)?;
        items.push(Value::Object(element));
    } else {
        for &i in &hits {
            if let Some(Value::Object(element)) = items.get_mut(i) {
                set_element(element, op, t, value.clone())?;
            }
        }
    }
    if items.is_empty() {
        container.remove(name);
    }
    Ok(())
}

fn set_element(element: &mut Map<String, Value>, op: Op, t: &AttrTarget, value: Value) -> Result<(), ScimError> {
    match (t.sub, value) {
        (Some(sub), v) => {
            element.insert(sub.name.to_string(), v);
        }
        (None, Value::Object(map)) if op == Op::Add => element.extend(map),
        (None, Value::Object(map)) => *element = map,
        (None, _) => return Err(ScimError::Value(format!("{} needs an object value", t.attr.name))),
    }
    Ok(())
}
