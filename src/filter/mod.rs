//! SCIM 2.0 filter expressions (RFC 7644 §3.4.2.2): parsed once, evaluated locally against a user resource.
//!
//! rosterd's scoping and role rules live in an operator-edited YAML config, so parse errors
//! carry a 0-based character position and say what was expected and what was found.
//!
//! Scope and role filters are parsed with [`Filter::parse_person`], which also checks every
//! attribute path against the person schema (`schema`) and records its type, so that
//! `dateTime` attributes compare chronologically, `caseExact` ones exactly, and booleans
//! refuse ordering. [`Filter::parse`] alone is untyped (for JSON resources of any shape).
//!
//! Evaluation semantics (RFC 7644 leaves several of these to the service provider):
//! - Attribute names and JSON keys match case-insensitively; string comparisons are
//!   case-insensitive too (SCIM's `caseExact: false` default) except on `caseExact` attributes.
//! - A path that crosses a JSON array (e.g. `groups.display`) yields every element, and a
//!   comparison matches when ANY of those values matches.
//! - `ne` is the exact negation of `eq`: it is true when NO value equals the operand. So an
//!   absent attribute satisfies `ne`, and `groups.display ne "Sales"` excludes a member of
//!   Sales even when they also belong to other groups (what a role rule author means).
//! - Every other comparison is false when the attribute is absent or has another JSON type
//!   (`"42"` does not equal `42`); `not (...)` inverts the result.
//! - `pr` means present: the attribute exists and is not null, `""`, `[]` or `{}`.
//!   `attr eq null` is true when the attribute is absent or null (an empty array is absent;
//!   `""` is a value, not null) and `attr ne null` when it has a non-null value.
//! - `gt ge lt le` order numbers numerically, typed `dateTime`s chronologically (fractions
//!   and offsets), and other strings lexicographically (after lowercasing).
//! - A URN-prefixed path (`urn:...:User:attr`) resolves inside the object stored under that
//!   URN key, which is where SCIM puts extension attributes; the core User schema's URN
//!   (`urn:ietf:params:scim:schemas:core:2.0:User`) resolves at the top level.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::resource::Node;

mod ast;
mod eval;
mod lex;
mod parse;
mod schema;

use ast::{parse_time, AttrPath, AttrType, CompareOp, Expr, Kind, Test};
use eval::eval;
use lex::lex;
use parse::Parser;
pub use schema::USER_URN;

/// Nesting cap for `(...)`, `not (...)` and `[...]`, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 64;
/// Listed in error messages so the operator sees the whole vocabulary at once.
const OPERATORS: &str = "eq ne co sw ew pr gt ge lt le";
/// Quoted input in messages is cut to this many characters to keep errors readable.
const SNIPPET_CHARS: usize = 40;

/// A parsed SCIM filter together with the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    text: String,
    expr: Expr,
}

/// Why a filter failed to parse, at a 0-based character offset into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct FilterError {
    /// 0-based character (not byte) offset into the input.
    pub position: usize,
    pub message: String,
}

impl FilterError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        FilterError { position, message: message.into() }
    }
}

type Result<T> = std::result::Result<T, FilterError>;

/// JSON-quotes `text` for a message, shortened so a huge input cannot bloat the error.
fn quote(text: &str) -> String {
    let mut shown: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        shown.push('…');
    }
    Value::String(shown).to_string()
}

impl Filter {
    pub fn parse(input: &str) -> Result<Filter> {
        let tokens = lex(input)?;
        let expr = Parser::new(tokens, input.chars().count()).parse_filter()?;
        Ok(Filter { text: input.to_owned(), expr })
    }

    /// Parses a scope or role filter: every attribute path must name an attribute of the
    /// person schema (README "Person schema"), and comparisons follow its types.
    pub fn parse_person(input: &str) -> Result<Filter> {
        let mut filter = Filter::parse(input)?;
        schema::annotate(&mut filter.expr)?;
        Ok(filter)
    }

    /// True when the SCIM resource (a JSON object shaped like a SCIM User, or a person
    /// read in place) matches.
    pub fn matches<'a>(&self, resource: impl Node<'a>) -> bool {
        eval(&self.expr, resource)
    }

    /// The original text, for display.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Filter> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests;
