//! The filter parser: tokens to the syntax tree, with errors that say what was expected.

use serde_json::Value;

use super::ast::{AttrPath, CompareOp, Expr, Pos, Test};
use super::lex::{Tok, Token};
use super::{quote, FilterError, Result, MAX_DEPTH, OPERATORS};

// ---------------------------------------------------------------------------
// Parser: filter = or; or = and *("or" and); and = unary *("and" unary);
//         unary = "not" "(" or ")" / "(" or ")" / attrExp / valuePath
// ---------------------------------------------------------------------------

pub(super) struct Parser {
    tokens: Vec<Token>,
    idx: usize,
    depth: usize,
    /// RFC 7644 does not allow a value path inside another value path's filter.
    in_value_filter: bool,
    end: Token,
}

impl Parser {
    pub(super) fn new(tokens: Vec<Token>, input_chars: usize) -> Self {
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

    pub(super) fn parse_filter(mut self) -> Result<Expr> {
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
        self.parse_chain("or", Self::parse_and, Expr::Or)
    }

    fn parse_and(&mut self) -> Result<Expr> {
        self.parse_chain("and", Self::parse_unary, Expr::And)
    }

    /// `operand *(keyword operand)`, gathered into one flat list (see [`Expr`]).
    fn parse_chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Expr>,
        wrap: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr> {
        let mut items = vec![operand(self)?];
        while self.peek_keyword(keyword) {
            self.advance();
            items.push(operand(self)?);
        }
        Ok(collapse(items, wrap))
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
