//! The filter lexer: characters to tokens (words, strings, numbers, brackets), with positions.

use serde_json::{Number, Value};

use super::{quote, FilterError, Result};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    /// 0-based character offset of the token's first character.
    pub(super) pos: usize,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Positions are character offsets, so the lexer works on a char vector.
pub(super) fn lex(input: &str) -> Result<Vec<Token>> {
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
