//! The person schema: every attribute a scope or role filter may name, with its type.
//!
//! A filter naming an attribute the person view never carries would read it as absent for
//! everyone, so `not (groups.dispaly eq "X")` would silently admit the whole roster. Filters
//! for people are therefore checked against this schema when the config loads, and the
//! check records each attribute's type for typed comparison (dateTime, caseExact, boolean).

use serde_json::Value;

use super::{AttrPath, AttrType, CompareOp, Expr, FilterError, Kind, Test};
use crate::model::ENTERPRISE_URN;

/// The core User schema (RFC 7643 §4.1), whose attributes need no URN prefix.
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

struct Attr {
    name: &'static str,
    kind: Kind,
    case_exact: bool,
    subs: &'static [Attr],
}

const fn text(name: &'static str) -> Attr {
    Attr { name, kind: Kind::String, case_exact: false, subs: &[] }
}

const fn exact(name: &'static str) -> Attr {
    Attr { name, kind: Kind::String, case_exact: true, subs: &[] }
}

const fn boolean(name: &'static str) -> Attr {
    Attr { name, kind: Kind::Boolean, case_exact: false, subs: &[] }
}

const fn time(name: &'static str) -> Attr {
    Attr { name, kind: Kind::DateTime, case_exact: false, subs: &[] }
}

const fn complex(name: &'static str, subs: &'static [Attr]) -> Attr {
    Attr { name, kind: Kind::Complex, case_exact: false, subs }
}

const CONTACT: &[Attr] = &[text("value"), text("type"), boolean("primary")];

/// What the person view carries of the core User schema (README "Person schema").
const CORE: &[Attr] = &[
    exact("id"),
    exact("externalId"),
    text("userName"),
    complex("name", &[text("givenName"), text("familyName"), text("middleName")]),
    text("displayName"),
    text("nickName"),
    text("title"),
    text("userType"),
    text("locale"),
    boolean("active"),
    complex("emails", CONTACT),
    // rosterd's shorthand: the primary email's value, else the first one's.
    text("email"),
    complex("phoneNumbers", CONTACT),
    // `value` is the group's id, and ids are caseExact (RFC 7643 §3.1).
    complex("groups", &[exact("value"), text("display"), text("type")]),
    text("schemas"),
    complex("meta", &[exact("resourceType"), time("created"), time("lastModified")]),
];

/// What the person view carries of the enterprise extension (RFC 7643 §4.3).
const ENTERPRISE: &[Attr] = &[
    text("employeeNumber"),
    text("costCenter"),
    text("organization"),
    text("division"),
    text("department"),
    complex("manager", &[exact("value")]),
];

/// Checks every attribute path of `expr` against the person schema and records its type.
pub(super) fn annotate(expr: &mut Expr) -> Result<(), FilterError> {
    match expr {
        Expr::Or(items) | Expr::And(items) => items.iter_mut().try_for_each(annotate),
        Expr::Not(inner) => annotate(inner),
        Expr::Attr { path, test } => {
            let attr = lookup(path)?;
            check_test(attr, path, test)?;
            path.ty = Some(type_of(attr));
            Ok(())
        }
        Expr::ValuePath { path, filter, sub } => {
            let attr = lookup(path)?;
            if attr.kind != Kind::Complex {
                let message = format!("{} is not complex: [...] filters only complex attributes", shown(path));
                return Err(FilterError::new(path.pos.0, message));
            }
            path.ty = Some(type_of(attr));
            annotate_within(attr, filter)?;
            if let Some((sub_path, test)) = sub {
                let sub_attr = lookup_sub(attr, sub_path)?;
                check_test(sub_attr, sub_path, test)?;
                sub_path.ty = Some(type_of(sub_attr));
            }
            Ok(())
        }
    }
}

/// The filter inside `attr[...]` names `attr`'s sub-attributes.
fn annotate_within(attr: &'static Attr, expr: &mut Expr) -> Result<(), FilterError> {
    match expr {
        Expr::Or(items) | Expr::And(items) => items.iter_mut().try_for_each(|e| annotate_within(attr, e)),
        Expr::Not(inner) => annotate_within(attr, inner),
        Expr::Attr { path, test } => {
            let sub = lookup_sub(attr, path)?;
            check_test(sub, path, test)?;
            path.ty = Some(type_of(sub));
            Ok(())
        }
        // The parser refuses a value path inside another one.
        Expr::ValuePath { path, .. } => Err(FilterError::new(path.pos.0, "value filters cannot be nested")),
    }
}

fn type_of(attr: &Attr) -> AttrType {
    AttrType { kind: attr.kind, case_exact: attr.case_exact }
}

fn find<'s>(list: &'s [Attr], name: &str) -> Option<&'s Attr> {
    list.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

fn lookup(path: &AttrPath) -> Result<&'static Attr, FilterError> {
    let schema = match path.schema.as_deref() {
        None => CORE,
        Some(urn) if urn.eq_ignore_ascii_case(USER_URN) => CORE,
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_URN) => ENTERPRISE,
        Some(urn) => {
            let message = format!(
                "{} is not a schema of the person (a User): use {USER_URN} or {ENTERPRISE_URN}, or no prefix for core attributes",
                super::quote(urn)
            );
            return Err(FilterError::new(path.pos.0, message));
        }
    };
    let mut names = path.names.iter();
    let top = names.next().and_then(|n| find(schema, n));
    let attr = match (top, names.next()) {
        (Some(top), None) => Some(top),
        (Some(top), Some(sub)) => find(top.subs, sub),
        (None, _) => None,
    };
    attr.ok_or_else(|| unknown(path, None))
}

fn lookup_sub(parent: &'static Attr, path: &AttrPath) -> Result<&'static Attr, FilterError> {
    let found = match (path.schema.as_ref(), path.names.as_slice()) {
        (None, [name]) => find(parent.subs, name),
        _ => None,
    };
    found.ok_or_else(|| unknown(path, Some(parent)))
}

/// Refuses tests the attribute's type can never pass, rather than matching nobody.
fn check_test(attr: &Attr, path: &AttrPath, test: &mut Test) -> Result<(), FilterError> {
    let Test::Compare(op, operand) = test else {
        return Ok(());
    };
    let (op, pos, name) = (*op, path.pos.0, shown(path));
    let problem = match (attr.kind, &*operand) {
        (_, Value::Null) => None,
        (Kind::Complex, _) => Some(format!(
            "{name} is complex: compare one of its sub-attributes ({}) or test it with pr",
            attr.subs.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
        )),
        (Kind::Boolean, Value::Bool(_)) if matches!(op, CompareOp::Eq | CompareOp::Ne) => None,
        (Kind::Boolean, _) => Some(format!(
            "{name} is a boolean: only eq true, eq false, ne and pr apply (RFC 7644 §3.4.2.2), not \"{}\" {operand}",
            op.keyword()
        )),
        (_, Value::String(_)) => None,
        (_, other) => Some(format!("{name} is a string: write the value in double quotes, not {other}")),
    };
    if let Some(message) = problem {
        return Err(FilterError::new(pos, message));
    }
    if attr.kind == Kind::DateTime && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
        if let Value::String(text) = &*operand {
            let at = super::parse_time(text).ok_or_else(|| {
                FilterError::new(
                    pos,
                    format!(
                        "{name} is a dateTime: {} is not one (write e.g. \"2024-03-15T12:00:00Z\")",
                        super::quote(text)
                    ),
                )
            })?;
            *test = Test::CompareTime(op, at);
        }
    }
    Ok(())
}

/// The path as written (lower-cased), for messages.
fn shown(path: &AttrPath) -> String {
    match &path.schema {
        Some(urn) => format!("{urn}:{}", path.names.join(".")),
        None => path.names.join("."),
    }
}

/// Every name a filter may use, as the README writes them.
fn known(parent: Option<&Attr>) -> Vec<String> {
    if let Some(parent) = parent {
        return parent.subs.iter().map(|s| s.name.to_owned()).collect();
    }
    let mut out = Vec::new();
    for (prefix, list) in [("", CORE), (ENTERPRISE_URN, ENTERPRISE)] {
        let full = |name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}:{name}") };
        for attr in list {
            out.push(full(attr.name));
            out.extend(attr.subs.iter().map(|s| full(&format!("{}.{}", attr.name, s.name))));
        }
    }
    out
}

fn unknown(path: &AttrPath, parent: Option<&Attr>) -> FilterError {
    let written = shown(path);
    let candidates = known(parent);
    let mut message = match parent {
        Some(p) => format!("{} is not a sub-attribute of {}", super::quote(&written), p.name),
        None => format!("{} is not an attribute of the person schema", super::quote(&written)),
    };
    if let Some(best) = nearest(&written, &candidates) {
        message.push_str(&format!(" (did you mean {best}?)"));
    }
    message.push_str("; the README's \"Person schema\" lists every attribute a filter can use");
    FilterError::new(path.pos.0, message)
}

/// The known name closest to `written`: by edit distance, or by its last part for an
/// extension attribute written without its URN.
fn nearest<'c>(written: &str, candidates: &'c [String]) -> Option<&'c str> {
    let tail = |c: &str| c.rsplit(':').next().unwrap_or(c).to_ascii_lowercase();
    if let Some(c) = candidates.iter().find(|c| c.contains(':') && tail(c) == written) {
        return Some(c);
    }
    let (best, distance) =
        candidates.iter().map(|c| (c, distance(written, &c.to_ascii_lowercase()))).min_by_key(|(_, d)| *d)?;
    (distance <= 2.max(written.chars().count() / 3)).then_some(best.as_str())
}

/// Levenshtein distance, with a swap of two neighbours counting one (`dispaly`).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Row i starts at i (deleting i characters); the first row counts up to b's length.
    let mut rows: Vec<Vec<usize>> = (0..=a.len()).map(|i| vec![i; b.len() + 1]).collect();
    if let Some(first) = rows.first_mut() {
        first.iter_mut().enumerate().for_each(|(j, cell)| *cell = j);
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests;
