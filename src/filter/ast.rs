//! The filter's syntax tree: what a parsed filter is, before and after the schema check.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// `and`/`or` hold flat lists rather than nested pairs, so a long chain of terms stays
/// shallow and evaluating or dropping it never recurses deeply.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `attr pr` or `attr op value`.
    Attr {
        path: AttrPath,
        test: Test,
    },
    /// `attr[filter]`, optionally followed by `.sub op value` / `.sub pr`.
    ValuePath {
        path: AttrPath,
        filter: Box<Expr>,
        sub: Option<(AttrPath, Test)>,
    },
}

/// Names and schema are stored lowercased because SCIM matches them case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AttrPath {
    pub(super) schema: Option<String>,
    pub(super) names: Vec<String>,
    /// Where the path starts in the filter text, for schema errors.
    pub(super) pos: Pos,
    /// The attribute's type, once checked against the person schema.
    pub(super) ty: Option<AttrType>,
}

/// A character offset that takes no part in comparing filters: the same filter written
/// with other spacing is the same filter.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pos(pub(super) usize);

impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}

/// What the person schema says of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AttrType {
    pub(super) kind: Kind,
    /// RFC 7643 `caseExact`: strings compare exactly (`id`, `externalId`).
    pub(super) case_exact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    String,
    Boolean,
    DateTime,
    Complex,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Test {
    Present,
    Compare(CompareOp, Value),
    /// A comparison with a `dateTime` attribute, its operand parsed once.
    CompareTime(CompareOp, DateTime<FixedOffset>),
}

/// An RFC 3339 `dateTime` (RFC 7643 §2.3.5), as an instant with its offset.
pub(super) fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub(super) fn from_keyword(word: &str) -> Option<Self> {
        let op = match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        };
        Some(op)
    }

    pub(super) fn keyword(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}
