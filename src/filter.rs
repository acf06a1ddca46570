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

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use serde_json::{Number, Value};
use smallvec::SmallVec;

use crate::resource::{Node, Scalar};

mod schema;
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

// ---------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------

/// `and`/`or` hold flat lists rather than nested pairs, so a long chain of terms stays
/// shallow and evaluating or dropping it never recurses deeply.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
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
struct AttrPath {
    schema: Option<String>,
    names: Vec<String>,
    /// Where the path starts in the filter text, for schema errors.
    pos: Pos,
    /// The attribute's type, once checked against the person schema.
    ty: Option<AttrType>,
}

/// A character offset that takes no part in comparing filters: the same filter written
/// with other spacing is the same filter.
#[derive(Debug, Clone, Copy)]
struct Pos(usize);

impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}

/// What the person schema says of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AttrType {
    kind: Kind,
    /// RFC 7643 `caseExact`: strings compare exactly (`id`, `externalId`).
    case_exact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Boolean,
    DateTime,
    Complex,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Present,
    Compare(CompareOp, Value),
    /// A comparison with a `dateTime` attribute, its operand parsed once.
    CompareTime(CompareOp, DateTime<FixedOffset>),
}

/// An RFC 3339 `dateTime` (RFC 7643 §2.3.5), as an instant with its offset.
fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CompareOp {
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
    fn from_keyword(word: &str) -> Option<Self> {
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

    fn keyword(self) -> &'static str {
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

// ---------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// Any run of non-delimiter characters: keywords, operators and attribute paths.
    /// The parser decides what it must be, so errors can say what was expected there.
    Word(String),
    Str(String),
    Num(Number),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// 0-based character offset of the token's first character.
    pos: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Positions are character offsets, so the lexer works on a char vector.
fn lex(input: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (tok, next) = match c {
            '(' => (Tok::LParen, i + 1),
            ')' => (Tok::RParen, i + 1),
            '[' => (Tok::LBracket, i + 1),
            ']' => (Tok::RBracket, i + 1),
            '"' => lex_string(&chars, i)?,
            c if c == '-' || c.is_ascii_digit() => lex_number(&chars, i)?,
            _ => {
                let end = run_end(&chars, i);
                (Tok::Word(collect(&chars, i, end)), end)
            }
        };
        tokens.push(Token { tok, pos: i });
        i = next;
    }
    tokens.push(Token { tok: Tok::End, pos: chars.len() });
    Ok(tokens)
}

/// End (exclusive) of the run of non-delimiter characters starting at `start`.
fn run_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    while chars.get(end).is_some_and(|&c| !is_delimiter(c)) {
        end += 1;
    }
    end
}

fn collect(chars: &[char], from: usize, to: usize) -> String {
    chars.get(from..to).unwrap_or(&[]).iter().collect()
}

/// Numbers use JSON syntax; the whole run is taken so `12ab` is reported as one bad number.
fn lex_number(chars: &[char], start: usize) -> Result<(Tok, usize)> {
    let end = run_end(chars, start);
    let text = collect(chars, start, end);
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Number(n)) => Ok((Tok::Num(n), end)),
        _ => {
            Err(FilterError::new(start, format!("invalid number {} (numbers look like 42, -7 or 3.5e2)", quote(&text))))
        }
    }
}

/// Decodes a JSON string literal starting at the opening quote.
fn lex_string(chars: &[char], start: usize) -> Result<(Tok, usize)> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(FilterError::new(start, "unterminated string: this \" has no closing \"")),
            Some('"') => return Ok((Tok::Str(out), i + 1)),
            Some('\\') => i = lex_escape(chars, i, &mut out)?,
            Some(&c) if c < '\u{20}' => {
                return Err(FilterError::new(
                    i,
                    format!(
                        "control character {c:?} in a string: write it as an escape (\\n, \\t or \\u{:04x})",
                        u32::from(c)
                    ),
                ))
            }
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Decodes the escape at `at` (a backslash) into `out`; returns the index after it.
fn lex_escape(chars: &[char], at: usize, out: &mut String) -> Result<usize> {
    let decoded = match chars.get(at + 1) {
        Some('"') => '"',
        Some('\\') => '\\',
        Some('/') => '/',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('u') => return lex_unicode_escape(chars, at, out),
        Some(c) => {
            return Err(FilterError::new(
                at,
                format!("invalid escape \\{c} in string (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"),
            ))
        }
        None => return Err(FilterError::new(at, "unterminated string: it ends with a lone \\")),
    };
    out.push(decoded);
    Ok(at + 2)
}

/// `\uXXXX`, including UTF-16 surrogate pairs as JSON writes characters outside the BMP.
fn lex_unicode_escape(chars: &[char], at: usize, out: &mut String) -> Result<usize> {
    let bad = |what: &str| FilterError::new(at, format!("invalid \\u escape in string: {what}"));
    let high = hex4(chars, at + 2).ok_or_else(|| bad("expected 4 hex digits after \\u"))?;
    if !(0xD800..0xDC00).contains(&high) {
        let c = char::from_u32(high).ok_or_else(|| bad("unpaired surrogate"))?;
        out.push(c);
        return Ok(at + 6);
    }
    let has_low = chars.get(at + 6) == Some(&'\\') && chars.get(at + 7) == Some(&'u');
    let low = has_low
        .then(|| hex4(chars, at + 8))
        .flatten()
        .filter(|low| (0xDC00..0xE000).contains(low))
        .ok_or_else(|| bad("unpaired surrogate"))?;
    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    let c = char::from_u32(code).ok_or_else(|| bad("unpaired surrogate"))?;
    out.push(c);
    Ok(at + 12)
}

fn hex4(chars: &[char], at: usize) -> Option<u32> {
    let digits = chars.get(at..at + 4)?;
    digits.iter().try_fold(0u32, |acc, c| Some(acc * 16 + c.to_digit(16)?))
}

// ---------------------------------------------------------------------------
// Parser: filter = or; or = and *("or" and); and = unary *("and" unary);
//         unary = "not" "(" or ")" / "(" or ")" / attrExp / valuePath
// ---------------------------------------------------------------------------

struct Parser {
    tokens: Vec<Token>,
    idx: usize,
    depth: usize,
    /// RFC 7644 does not allow a value path inside another value path's filter.
    in_value_filter: bool,
    end: Token,
}

impl Parser {
    fn new(tokens: Vec<Token>, input_chars: usize) -> Self {
        Parser { tokens, idx: 0, depth: 0, in_value_filter: false, end: Token { tok: Tok::End, pos: input_chars } }
    }

    fn peek(&self) -> &Token {
        self.tokens.get(self.idx).unwrap_or(&self.end)
    }

    fn advance(&mut self) {
        self.idx += 1;
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn parse_filter(mut self) -> Result<Expr> {
        if self.peek().tok == Tok::End {
            return Err(FilterError::new(0, "empty filter"));
        }
        let expr = self.parse_or()?;
        let token = self.peek();
        match token.tok {
            Tok::End => Ok(expr),
            Tok::RParen => Err(FilterError::new(token.pos, "unbalanced parenthesis: this \")\" has no matching \"(\"")),
            Tok::RBracket => Err(FilterError::new(token.pos, "unbalanced bracket: this \"]\" has no matching \"[\"")),
            _ => Err(expected("\"and\", \"or\" or the end of the filter", token)),
        }
    }

    fn parse_or(&mut self) -> Result<Expr> {
        let mut items = vec![self.parse_and()?];
        while self.peek_keyword("or") {
            self.advance();
            items.push(self.parse_and()?);
        }
        Ok(collapse(items, Expr::Or))
    }

    fn parse_and(&mut self) -> Result<Expr> {
        let mut items = vec![self.parse_unary()?];
        while self.peek_keyword("and") {
            self.advance();
            items.push(self.parse_unary()?);
        }
        Ok(collapse(items, Expr::And))
    }

    fn parse_unary(&mut self) -> Result<Expr> {
        let token = self.peek().clone();
        match &token.tok {
            Tok::LParen => self.parse_group(token.pos),
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => self.parse_not(),
            Tok::Word(w) if !is_logical(w) => {
                self.advance();
                self.parse_attr_expr(w, token.pos)
            }
            _ => Err(expected("an attribute path, \"(\" or \"not\"", &token)),
        }
    }

    /// Parses `( or )` with the current token being the `(` at `open`.
    fn parse_group(&mut self, open: usize) -> Result<Expr> {
        self.advance();
        self.enter(open)?;
        let expr = self.parse_or()?;
        self.close(&Tok::RParen, open)?;
        self.depth -= 1;
        Ok(expr)
    }

    fn parse_not(&mut self) -> Result<Expr> {
        self.advance();
        let token = self.peek().clone();
        if token.tok != Tok::LParen {
            return Err(expected("\"(\" after \"not\" (write: not (expression))", &token));
        }
        Ok(Expr::Not(Box::new(self.parse_group(token.pos)?)))
    }

    fn enter(&mut self, open: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::new(
                open,
                format!("filter is nested too deeply (more than {MAX_DEPTH} levels of \"(\", \"not (\" and \"[\")"),
            ));
        }
        Ok(())
    }

    /// Expects `closer`; at the end of input the error points at the unclosed opener.
    fn close(&mut self, closer: &Tok, open: usize) -> Result<()> {
        let token = self.peek();
        if token.tok == *closer {
            self.advance();
            return Ok(());
        }
        let (kind, opener, closer) = match closer {
            Tok::RBracket => ("bracket", "[", "]"),
            _ => ("parenthesis", "(", ")"),
        };
        if token.tok == Tok::End {
            return Err(FilterError::new(open, format!("unbalanced {kind}: this \"{opener}\" is never closed")));
        }
        Err(expected(&format!("\"and\", \"or\" or \"{closer}\""), token))
    }

    fn parse_attr_expr(&mut self, word: &str, pos: usize) -> Result<Expr> {
        let path = parse_attr_path(word, pos)?;
        if self.peek().tok == Tok::LBracket {
            return self.parse_value_path(path);
        }
        let test = self.parse_test()?;
        Ok(Expr::Attr { path, test })
    }

    /// `attr[filter]` with optional `.sub test`; the current token is the `[`.
    fn parse_value_path(&mut self, path: AttrPath) -> Result<Expr> {
        let open = self.peek().pos;
        if self.in_value_filter {
            return Err(FilterError::new(
                open,
                "value filters cannot be nested: \"[\" is not allowed inside another [...]",
            ));
        }
        self.advance();
        self.enter(open)?;
        self.in_value_filter = true;
        let filter = self.parse_or()?;
        self.in_value_filter = false;
        self.close(&Tok::RBracket, open)?;
        self.depth -= 1;
        let sub = self.parse_value_path_sub()?;
        Ok(Expr::ValuePath { path, filter: Box::new(filter), sub })
    }

    /// The optional `.sub pr` / `.sub op value` after a value filter's `]`.
    fn parse_value_path_sub(&mut self) -> Result<Option<(AttrPath, Test)>> {
        let token = self.peek().clone();
        let Tok::Word(word) = &token.tok else {
            return Ok(None);
        };
        let Some(rest) = word.strip_prefix('.') else {
            return Ok(None);
        };
        self.advance();
        let names = parse_names(rest, token.pos + 1, word, 1)?;
        let test = self.parse_test()?;
        let path = AttrPath { schema: None, names, pos: Pos(token.pos + 1), ty: None };
        Ok(Some((path, test)))
    }

    fn parse_test(&mut self) -> Result<Test> {
        let token = self.peek().clone();
        let word = match &token.tok {
            Tok::Word(w) => w.as_str(),
            _ => "",
        };
        if word.eq_ignore_ascii_case("pr") {
            self.advance();
            return Ok(Test::Present);
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            return Err(operator_error(&token));
        };
        self.advance();
        let value = self.parse_value(op)?;
        Ok(Test::Compare(op, value))
    }

    fn parse_value(&mut self, op: CompareOp) -> Result<Value> {
        let token = self.peek().clone();
        let value = match &token.tok {
            Tok::Str(s) => Value::String(s.clone()),
            Tok::Num(n) => Value::Number(n.clone()),
            Tok::Word(w) => keyword_literal(w).ok_or_else(|| value_error(op, &token))?,
            _ => return Err(value_error(op, &token)),
        };
        check_operand(op, &value, token.pos)?;
        self.advance();
        Ok(value)
    }
}

/// A one-item `and`/`or` is just its item; this keeps the AST canonical.
fn collapse(mut items: Vec<Expr>, wrap: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    wrap(items)
}

/// `and`, `or` and `not` are reserved: treating them as attribute names would turn
/// typos like `a pr and and b pr` into confusing errors.
fn is_logical(word: &str) -> bool {
    ["and", "or", "not"].iter().any(|k| word.eq_ignore_ascii_case(k))
}

fn keyword_literal(word: &str) -> Option<Value> {
    match word.to_ascii_lowercase().as_str() {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        _ => None,
    }
}

/// Rejects operand types the operator can never match, rather than silently matching nothing.
fn check_operand(op: CompareOp, value: &Value, pos: usize) -> Result<()> {
    let kw = op.keyword();
    match (op, value) {
        (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, Value::String(_)) => Ok(()),
        (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, other) => {
            Err(FilterError::new(pos, format!("\"{kw}\" needs a quoted string value, found {other}")))
        }
        (CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le, Value::Bool(_) | Value::Null) => {
            Err(FilterError::new(pos, format!("\"{kw}\" compares only strings and numbers, found {value}")))
        }
        _ => Ok(()),
    }
}

fn operator_error(token: &Token) -> FilterError {
    let mut message = format!("expected a comparison operator ({OPERATORS}), found {}", describe(&token.tok));
    if let Tok::Word(w) = &token.tok {
        if w.chars().all(|c| "=!<>~".contains(c)) {
            message.push_str(" (SCIM writes operators as words, e.g. eq instead of =)");
        }
    }
    FilterError::new(token.pos, message)
}

fn value_error(op: CompareOp, token: &Token) -> FilterError {
    let mut message = format!(
        "expected a value after \"{}\" (a \"quoted string\", a number, true, false or null), found {}",
        op.keyword(),
        describe(&token.tok)
    );
    if matches!(token.tok, Tok::Word(_)) {
        message.push_str(" (text values must be in double quotes)");
    }
    FilterError::new(token.pos, message)
}

fn expected(what: &str, token: &Token) -> FilterError {
    FilterError::new(token.pos, format!("expected {what}, found {}", describe(&token.tok)))
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::LParen => "\"(\"".to_owned(),
        Tok::RParen => "\")\"".to_owned(),
        Tok::LBracket => "\"[\"".to_owned(),
        Tok::RBracket => "\"]\"".to_owned(),
        Tok::Word(w) => quote(w),
        Tok::Str(s) => format!("the string {}", quote(s)),
        Tok::Num(n) => format!("the number {n}"),
        Tok::End => "the end of the filter".to_owned(),
    }
}

/// JSON-quotes `text` for a message, shortened so a huge input cannot bloat the error.
fn quote(text: &str) -> String {
    let mut shown: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        shown.push('…');
    }
    Value::String(shown).to_string()
}

// ---------------------------------------------------------------------------
// Attribute paths: [urn ":"] name *("." name)
// ---------------------------------------------------------------------------

/// The URN prefix ends at the last `:`, since URNs themselves contain `:` and `.`
/// (`urn:...:enterprise:2.0:User:department`).
fn parse_attr_path(word: &str, pos: usize) -> Result<AttrPath> {
    let Some((schema, rest)) = word.rsplit_once(':') else {
        return Ok(AttrPath { schema: None, names: parse_names(word, pos, word, 2)?, pos: Pos(pos), ty: None });
    };
    let is_urn = word.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
    if !is_urn {
        return Err(FilterError::new(
            pos,
            format!(
                "invalid attribute path {}: \":\" is only allowed in a schema URN prefix (urn:...:attribute)",
                quote(word)
            ),
        ));
    }
    let names = parse_names(rest, pos + schema.chars().count() + 1, word, 2)?;
    Ok(AttrPath { schema: Some(schema.to_ascii_lowercase()), names, pos: Pos(pos), ty: None })
}

/// Splits `text` (found at `pos` within `word`) on dots and validates each name; RFC 7644's
/// `attrPath = [URI ":"] ATTRNAME *1subAttr` allows at most `max` names.
fn parse_names(text: &str, pos: usize, word: &str, max: usize) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut offset = pos;
    for name in text.split('.') {
        if names.len() == max {
            let message = format!(
                "too many \".\" in {}: a path is an attribute and at most one sub-attribute (name.givenName)",
                quote(word)
            );
            return Err(FilterError::new(offset - 1, message));
        }
        check_name(name, offset, word)?;
        names.push(name.to_ascii_lowercase());
        offset += name.chars().count() + 1;
    }
    Ok(names)
}

/// RFC 7644 ATTRNAME: a letter, then letters, digits, `-` or `_`; and `$ref` (RFC 7643 §2.3.7).
fn check_name(name: &str, pos: usize, word: &str) -> Result<()> {
    if name == "$ref" {
        return Ok(());
    }
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(FilterError::new(pos, format!("expected an attribute name in {}", quote(word)))),
        Some(c) if c.is_ascii_alphabetic() => {}
        Some(c) => return Err(bad_name_char(c, pos, word)),
    }
    for (i, c) in chars.enumerate() {
        if !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
            return Err(bad_name_char(c, pos + i + 1, word));
        }
    }
    Ok(())
}

fn bad_name_char(c: char, pos: usize, word: &str) -> FilterError {
    let mut message = format!(
        "invalid character {c:?} in attribute path {}; expected an attribute name (a letter, then letters, digits, - and _)",
        quote(word)
    );
    if "=!<>~".contains(c) {
        message.push_str(" (SCIM writes operators as words, e.g. eq instead of =)");
    }
    FilterError::new(pos, message)
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

fn eval<'a, N: Node<'a>>(expr: &Expr, node: N) -> bool {
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

#[cfg(test)]
mod tests {
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

    fn err(filter: &str) -> FilterError {
        match Filter::parse(filter) {
            Ok(f) => panic!("{filter:?} parsed unexpectedly: {f:?}"),
            Err(e) => e,
        }
    }

    fn assert_err(filter: &str, position: usize, needle: &str) {
        let e = err(filter);
        assert_eq!(e.position, position, "{filter:?}: {e}");
        assert!(e.message.contains(needle), "{filter:?}: {e}");
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
        assert!(m(r#"userName eq "bjensen@acme.com""#));
        assert!(m(r#"userName eq "BJensen@ACME.com""#));
        assert!(!m(r#"userName eq "bjensen""#));
    }

    #[test]
    fn attribute_names_and_json_keys_are_case_insensitive() {
        assert!(m(r#"USERNAME eq "bjensen@acme.com""#));
        assert!(m(r#"Name.GIVENNAME eq "barbara""#));
        let f = Filter::parse(r#"userName eq "x""#).unwrap();
        assert!(f.matches(&json!({"USERNAME": "X"})));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert!(m(r#"userName EQ "bjensen@acme.com" AND active Eq TRUE"#));
        assert!(m("NOT (title Pr) Or loginCount GT 1"));
        assert!(m("manager eq NULL"));
    }

    #[test]
    fn ne_is_the_negation_of_eq() {
        assert!(m(r#"title ne "Manager""#));
        assert!(!m(r#"title ne "tour guide""#));
        // Absent attribute: ne is true.
        assert!(m(r#"costCenter ne "4130""#));
        // Multi-valued: a Sales member is excluded even though they are also in Marketing.
        assert!(!m(r#"groups.display ne "Sales""#));
        assert!(m(r#"groups.display ne "HR""#));
    }

    #[test]
    fn co_sw_ew() {
        assert!(m(r#"displayName co "BS JEN""#));
        assert!(!m(r#"displayName co "smith""#));
        assert!(m(r#"displayName sw "babs""#));
        assert!(!m(r#"displayName sw "jensen""#));
        assert!(m(r#"userName ew "@ACME.com""#));
        assert!(!m(r#"userName ew "@acme.org""#));
    }

    #[test]
    fn ordering_on_numbers() {
        assert!(m("loginCount gt 41"));
        assert!(!m("loginCount gt 42"));
        assert!(m("loginCount ge 42"));
        assert!(m("loginCount lt 42.5"));
        assert!(!m("loginCount lt 42"));
        assert!(m("loginCount le 42"));
        assert!(m("loginCount eq 42.0"));
        assert!(m("score gt 3.25 and score lt 3.75 and score ge -1e3"));
        assert!(m("bigId eq 18446744073709551615 and bigId gt 18446744073709551614"));
    }

    #[test]
    fn ordering_on_strings_and_timestamps() {
        assert!(m(r#"meta.lastModified gt "2024-01-01T00:00:00Z""#));
        assert!(!m(r#"meta.lastModified gt "2024-06-01T00:00:00Z""#));
        assert!(m(r#"meta.lastModified le "2024-05-01t10:00:00z""#));
        assert!(m(r#"title lt "Z" and title ge "TOUR""#));
    }

    #[test]
    fn booleans_support_eq_and_ne() {
        assert!(m("active eq true"));
        assert!(!m("active eq false"));
        assert!(m("active ne false"));
        assert_err("active gt true", 10, "\"gt\" compares only strings and numbers");
    }

    #[test]
    fn type_mismatch_never_matches() {
        assert!(!m(r#"loginCount eq "42""#));
        assert!(!m(r#"active eq "true""#));
        assert!(!m("title eq 1"));
        assert!(!m("loginCount gt \"1\""));
    }

    #[test]
    fn present() {
        assert!(m("title pr"));
        assert!(m("emails pr"));
        assert!(m("name pr"));
        assert!(!m("nickName pr"), "empty string");
        assert!(!m("phoneNumbers pr"), "empty array");
        assert!(!m("addresses pr"), "empty object");
        assert!(!m("manager pr"), "null");
        assert!(!m("costCenter pr"), "missing");
    }

    #[test]
    fn eq_null_means_absent() {
        assert!(m("manager eq null"));
        assert!(m("costCenter eq null"));
        assert!(!m("title eq null"));
        assert!(m("title ne null"));
        assert!(!m("manager ne null"));
    }

    #[test]
    fn missing_attributes() {
        assert!(!m(r#"costCenter eq "x""#));
        assert!(!m(r#"costCenter co "x""#));
        assert!(!m("costCenter gt 1"));
        assert!(!m("name.middleName sw \"a\""));
        assert!(m(r#"not (costCenter eq "x")"#));
        assert!(m(r#"costCenter.sub ne "x""#));
    }

    #[test]
    fn multi_valued_attributes_match_any_element() {
        assert!(m(r#"groups.display eq "Sales""#));
        assert!(m(r#"groups.display eq "marketing""#));
        assert!(!m(r#"groups.display eq "HR""#));
        assert!(m(r#"emails.value ew "@jensen.org""#));
        assert!(m(r#"schemas eq "urn:ietf:params:scim:schemas:core:2.0:User""#));
    }

    #[test]
    fn and_binds_tighter_than_or() {
        // false or (true and true) => true; (false or true) and false would differ below.
        assert!(m(r#"title eq "x" or active eq true and loginCount eq 42"#));
        assert!(m(r#"active eq true or title eq "x" and loginCount eq 0"#));
        let f = Filter::parse("a pr or b pr and c pr").unwrap();
        assert_eq!(render(&f.expr), "a pr or (b pr and c pr)");
    }

    #[test]
    fn parentheses_override_precedence() {
        assert!(!m(r#"(active eq true or title eq "x") and loginCount eq 0"#));
        assert!(m(r#"(((active eq true)))"#));
        let f = Filter::parse("(a pr or b pr) and c pr").unwrap();
        assert_eq!(render(&f.expr), "(a pr or b pr) and c pr");
    }

    #[test]
    fn not_inverts_and_binds_its_group() {
        assert!(m("not (nickName pr)"));
        assert!(!m("not (title pr)"));
        assert!(m("not(title pr) or active eq true"));
        assert!(m("not (not (title pr))"));
        assert!(!m("not (title pr and active eq true)"));
    }

    #[test]
    fn value_path_with_sub_attribute() {
        assert!(m(r#"emails[type eq "work"].value ew "@acme.com""#));
        assert!(!m(r#"emails[type eq "home"].value ew "@acme.com""#));
        assert!(m(r#"emails[type eq "home"].VALUE pr"#));
        assert!(!m(r#"emails[type eq "other"].value pr"#));
    }

    #[test]
    fn value_path_alone_and_per_element_semantics() {
        assert!(m(r#"emails[type eq "work"]"#));
        assert!(m(r#"emails[type eq "work" and primary eq true]"#));
        // Both conditions must hold on the same element ...
        assert!(!m(r#"emails[type eq "home" and primary eq true]"#));
        // ... unlike two independent paths.
        assert!(m(r#"emails.type eq "home" and emails.primary eq true"#));
        assert!(m(r#"emails[not (type eq "work")] and groups[display sw "mark"]"#));
        assert!(!m(r#"phoneNumbers[type eq "work"]"#));
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
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]"#));
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

    #[test]
    fn error_bad_escapes() {
        assert_err(r#"title eq "a\qb""#, 11, "invalid escape \\q");
        assert_err(r#"title eq "\u12""#, 10, "4 hex digits");
        assert_err(r#"title eq "\ud83d""#, 10, "unpaired surrogate");
        assert_err(r#"title eq "\ude00""#, 10, "unpaired surrogate");
    }

    #[test]
    fn error_trailing_garbage() {
        assert_err(r#"title pr active"#, 9, r#"expected "and", "or" or the end of the filter, found "active""#);
        assert_err(r#"title eq "a" "b""#, 13, "found the string \"b\"");
        assert_err(r#"emails[type eq "work"] eq "x""#, 23, "found \"eq\"");
    }

    #[test]
    fn error_unbalanced_parentheses() {
        assert_err("(title pr", 0, "unbalanced parenthesis: this \"(\" is never closed");
        assert_err("not (title pr and (a pr)", 4, "unbalanced parenthesis");
        assert_err("title pr)", 8, "unbalanced parenthesis: this \")\" has no matching \"(\"");
        assert_err("(title pr b pr)", 10, r#"expected "and", "or" or ")", found "b""#);
        assert_err("()", 1, "expected an attribute path");
    }

    #[test]
    fn error_unbalanced_brackets() {
        assert_err(r#"emails[type eq "work""#, 6, "unbalanced bracket");
        assert_err(r#"title pr]"#, 8, "unbalanced bracket");
        assert_err(r#"emails[type eq "work")"#, 21, r#"expected "and", "or" or "]""#);
    }

    #[test]
    fn error_empty() {
        assert_eq!(err("").to_string(), "at position 0: empty filter");
        assert_err(" \n\t ", 0, "empty filter");
    }

    #[test]
    fn error_missing_operands() {
        assert_err("title pr and", 12, "expected an attribute path, \"(\" or \"not\", found the end");
        assert_err("or title pr", 0, "found \"or\"");
        assert_err("title pr and and a pr", 13, "found \"and\"");
        assert_err("not title pr", 4, "expected \"(\" after \"not\"");
    }

    #[test]
    fn error_bad_values() {
        assert_err("title eq Tour", 9, "text values must be in double quotes");
        assert_err("title eq", 8, "expected a value after \"eq\"");
        assert_err("loginCount co 4", 14, "\"co\" needs a quoted string value, found 4");
        assert_err("title lt null", 9, "compares only strings and numbers");
        assert_err("loginCount gt 12ab", 14, "invalid number \"12ab\"");
        assert_err("loginCount gt 01", 14, "invalid number");
        assert_err("loginCount gt 1e999", 14, "invalid number");
    }

    #[test]
    fn error_bad_attribute_paths() {
        assert_err("foo:bar pr", 0, "only allowed in a schema URN prefix");
        assert_err("urn:x:y: pr", 8, "expected an attribute name");
        assert_err("name..x pr", 5, "expected an attribute name");
        assert_err("1name pr", 0, "invalid number");
        assert_err("na#me pr", 2, "invalid character '#'");
        assert_err(r#"emails[type eq "w"]value pr"#, 19, "found \"value\"");
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
        assert!(!m("nickName eq null"), "\"\" is a value");
        assert!(m("nickName ne null"));
        assert!(m("phoneNumbers eq null"), "an empty array has no value");
        assert!(m("manager eq null and costCenter eq null"));
        assert!(!m("name eq null"));
        assert!(m("name.middleName eq null"));
    }

    #[test]
    fn only_the_users_own_schemas_resolve() {
        assert!(!m(r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "Babs Jensen""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:displayName eq "Babs Jensen""#));
    }

    #[test]
    fn error_nested_value_filter() {
        assert_err(r#"emails[x[y pr]]"#, 8, "value filters cannot be nested");
    }

    #[test]
    fn error_positions_count_characters_not_bytes() {
        // "é" is two bytes but one character.
        assert_err(r#"title eq "é" foo"#, 13, "found \"foo\"");
        assert_err("ümlaut pr", 0, "invalid character 'ü'");
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
}
