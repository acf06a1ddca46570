//! Filter evaluation against a resource: path resolution and value comparison.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::{Number, Value};
use smallvec::SmallVec;

use super::ast::{parse_time, AttrPath, AttrType, CompareOp, Expr, Test};
use super::USER_URN;
use crate::resource::{Node, Scalar};

pub(super) fn eval<'a, N: Node<'a>>(expr: &Expr, node: N) -> bool {
    match expr {
        Expr::Or(items) => items.iter().any(|e| eval(e, node)),
        Expr::And(items) => items.iter().all(|e| eval(e, node)),
        Expr::Not(inner) => !eval(inner, node),
        Expr::Attr { path, test } => test_values(&resolve(node, path), test, path.ty),
        Expr::ValuePath { path, filter, sub } => eval_value_path(node, path, filter, sub.as_ref()),
    }
}

/// Values met on a path: a handful at most for a person, so they live on the stack.
type Found<N> = SmallVec<[N; 4]>;

/// The inner filter is evaluated per element, so `emails[type eq "work" and primary eq true]`
/// needs one element satisfying both (unlike `emails.type eq ... and emails.primary eq ...`).
fn eval_value_path<'a, N: Node<'a>>(node: N, path: &AttrPath, filter: &Expr, sub: Option<&(AttrPath, Test)>) -> bool {
    let mut elements = resolve(node, path).into_iter().filter(|element| eval(filter, *element));
    match sub {
        None => elements.next().is_some(),
        Some((sub, test)) => {
            let values: Found<N> = elements.flat_map(|e| walk(Found::from_elem(e, 1), &sub.names)).collect();
            test_values(&values, test, sub.ty)
        }
    }
}

/// All values at `path`, with arrays flattened so multi-valued attributes yield each element.
fn resolve<'a, N: Node<'a>>(node: N, path: &AttrPath) -> Found<N> {
    let start = match &path.schema {
        None => Some(node),
        Some(urn) => schema_root(node, urn),
    };
    walk(start.into_iter().collect(), &path.names)
}

/// Extension attributes live under their URN key; the core User's at the top level. No
/// other core schema (a Group's, say) describes a User, so its paths resolve to nothing.
fn schema_root<'a, N: Node<'a>>(node: N, urn: &str) -> Option<N> {
    if urn.eq_ignore_ascii_case(USER_URN) {
        return Some(node);
    }
    let mut nested = None;
    node.each_child(urn, &mut |child| {
        nested.get_or_insert(child);
    });
    nested
}

fn walk<'a, N: Node<'a>>(mut current: Found<N>, names: &[String]) -> Found<N> {
    for name in names {
        let mut next = Found::new();
        for node in current {
            node.each_child(name, &mut |child| {
                if child.is_array() {
                    child.each_element(&mut |item| next.push(item));
                } else {
                    next.push(child);
                }
            });
        }
        current = next;
    }
    current
}

fn test_values<'a, N: Node<'a>>(values: &[N], test: &Test, ty: Option<AttrType>) -> bool {
    let any = |pred: &dyn Fn(N) -> bool| values.iter().any(|v| pred(*v));
    let exact = ty.is_some_and(|t| t.case_exact);
    match test {
        Test::Present => any(&|v| v.is_present()),
        // Absent, null and an empty array alike have no value; `""` is a value.
        Test::Compare(CompareOp::Eq, Value::Null) => !any(&is_value),
        Test::Compare(CompareOp::Ne, Value::Null) => any(&is_value),
        Test::Compare(CompareOp::Ne, operand) => !any(&|v| compare(CompareOp::Eq, v, operand, exact)),
        Test::Compare(op, operand) => any(&|v| compare(*op, v, operand, exact)),
        Test::CompareTime(CompareOp::Ne, at) => !any(&|v| compare_time(CompareOp::Eq, v, at)),
        Test::CompareTime(op, at) => any(&|v| compare_time(*op, v, at)),
    }
}

/// Anything but null; the walk has already flattened arrays into their elements.
fn is_value<'a, N: Node<'a>>(node: N) -> bool {
    !matches!(node.scalar(), Some(Scalar::Null))
}

/// Chronological, so fractions of a second and offsets count; a value that is not a
/// `dateTime` matches nothing.
fn compare_time<'a, N: Node<'a>>(op: CompareOp, actual: N, at: &DateTime<FixedOffset>) -> bool {
    match actual.scalar() {
        Some(Scalar::Str(text)) => parse_time(text).is_some_and(|t| ordering_matches(op, t.cmp(at))),
        _ => false,
    }
}

/// Mismatched JSON types never match; booleans only support equality.
fn compare<'a, N: Node<'a>>(op: CompareOp, actual: N, operand: &Value, exact: bool) -> bool {
    match (actual.scalar(), operand) {
        (Some(Scalar::Str(a)), Value::String(b)) if exact => compare_exact(op, a, b),
        (Some(Scalar::Str(a)), Value::String(b)) => compare_strings(op, a, b),
        (Some(Scalar::Num(a)), Value::Number(b)) => compare_numbers(a, b).is_some_and(|ord| ordering_matches(op, ord)),
        (Some(Scalar::Bool(a)), Value::Bool(b)) => op == CompareOp::Eq && a == *b,
        _ => false,
    }
}

fn compare_strings(op: CompareOp, actual: &str, operand: &str) -> bool {
    // The common case, ASCII on both sides, compares without allocating: scope and role
    // filters run for every person of the roster on every platform.
    if actual.is_ascii() && operand.is_ascii() && !matches!(op, CompareOp::Co) {
        let (a, b) = (actual.as_bytes(), operand.as_bytes());
        let lower = |s: &[u8]| s.iter().map(u8::to_ascii_lowercase).collect::<Vec<u8>>();
        return match op {
            CompareOp::Sw => a.len() >= b.len() && a[..b.len()].eq_ignore_ascii_case(b),
            CompareOp::Ew => a.len() >= b.len() && a[a.len() - b.len()..].eq_ignore_ascii_case(b),
            CompareOp::Eq => a.eq_ignore_ascii_case(b),
            CompareOp::Ne => !a.eq_ignore_ascii_case(b),
            _ => ordering_matches(op, lower(a).cmp(&lower(b))),
        };
    }
    let (a, b) = (actual.to_lowercase(), operand.to_lowercase());
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => ordering_matches(op, a.cmp(&b)),
    }
}

/// `caseExact` attributes: byte for byte.
fn compare_exact(op: CompareOp, actual: &str, operand: &str) -> bool {
    match op {
        CompareOp::Co => actual.contains(operand),
        CompareOp::Sw => actual.starts_with(operand),
        CompareOp::Ew => actual.ends_with(operand),
        _ => ordering_matches(op, actual.cmp(operand)),
    }
}

/// Integers compare exactly (so large IDs are not rounded through f64); otherwise as f64.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let as_int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn ordering_matches(op: CompareOp, ord: Ordering) -> bool {
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
