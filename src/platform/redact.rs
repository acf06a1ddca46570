//! The one redactor every connector and the SCIM source use: it removes a credential from
//! server text in every form the credential takes on the wire, *before* anything is cut short.
//!
//! Why a matcher and not `str::replace`: a server may echo a credential raw, percent-encoded
//! (upper or lower hex, or only some bytes of it, `+` for a space), JSON-escaped (`\/`,
//! `\u002b`), or as the base64 of an HTTP Basic `user:password`. Each secret (and each base64
//! form) is matched byte by byte, where every byte may be written in any of those encodings.
//! And why before the cut: a secret straddling a 200-character cut used to keep its first
//! part, which the redaction of the whole secret no longer recognised.

use std::collections::HashSet;

use secrecy::{ExposeSecret, SecretString};

/// What a redacted credential is replaced with.
pub const REDACTED: &str = "[redacted]";

/// How many characters of a server's answer an error message quotes.
pub const SNIPPET_CHARS: usize = 200;

/// Removes known secrets from text. `Debug` shows how many it holds, never what.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Each secret, and the base64 forms of Basic credentials, longest first so the
    /// longest form is taken when forms overlap.
    needles: Vec<SecretString>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor that removes nothing (a connector built without a credential).
    pub fn none() -> Redactor {
        Redactor::default()
    }

    /// Also remove `secret` (an API key, a token, a password). Empty secrets are ignored.
    pub fn with(mut self, secret: &SecretString) -> Redactor {
        self.add(secret.expose_secret().as_bytes());
        self
    }

    /// Also remove an HTTP Basic credential: the password and `user:password` in base64,
    /// standard and URL-safe (padding optional).
    pub fn with_basic(mut self, username: &str, password: &SecretString) -> Redactor {
        let pair = format!("{username}:{}", password.expose_secret());
        self.add(password.expose_secret().as_bytes());
        for alphabet in [STANDARD, URL_SAFE] {
            let encoded = base64(pair.as_bytes(), alphabet);
            self.add(encoded.as_bytes());
            self.add(encoded.trim_end_matches('=').as_bytes());
        }
        self
    }

    fn add(&mut self, needle: &[u8]) {
        if needle.is_empty() || self.needles.iter().any(|n| n.expose_secret().as_bytes() == needle) {
            return;
        }
        self.needles.push(SecretString::from(String::from_utf8_lossy(needle).into_owned()));
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.expose_secret().len()));
    }

    /// `text` with every secret, in any wire form, replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        self.redact_cut(text, usize::MAX)
    }

    /// The first `max_chars` characters of `text` once redacted, and `…` when there was
    /// more. The redaction runs first, so a cut never splits a secret.
    pub fn redact_cut(&self, text: &str, max_chars: usize) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
        let (mut at, mut chars) = (0, 0);
        while at < bytes.len() {
            if chars >= max_chars {
                out.push('…');
                break;
            }
            if let Some(end) = self.match_any(bytes, at) {
                out.push_str(REDACTED);
                chars += REDACTED.len();
                at = end;
                continue;
            }
            // `at` is always on a character boundary: matches start and end on ASCII or whole characters.
            let Some(c) = text.get(at..).and_then(|rest| rest.chars().next()) else { break };
            out.push(c);
            chars += 1;
            at += c.len_utf8();
        }
        out
    }

    /// The start of a server's answer for an error message: redacted, then cut to 200 characters.
    pub fn snippet(&self, body: &[u8]) -> String {
        self.redact_cut(&String::from_utf8_lossy(body), SNIPPET_CHARS)
    }

    /// Where the first secret written at `at` ends, if one is.
    fn match_any(&self, text: &[u8], at: usize) -> Option<usize> {
        self.needles.iter().find_map(|n| match_at(text, at, n.expose_secret().as_bytes()))
    }
}

/// Does `needle` start at `text[at]`, each of its bytes written raw or encoded? Returns the
/// end. A search over (text position, needle position), each pair visited once, since a
/// `%` or `\` may be the secret's own byte or the start of an escape.
fn match_at(text: &[u8], at: usize, needle: &[u8]) -> Option<usize> {
    let first = *text.get(at)?;
    if Some(&first) != needle.first() && !matches!(first, b'%' | b'\\' | b'+') {
        return None;
    }
    let mut todo = vec![(at, 0usize)];
    let mut seen = HashSet::new();
    while let Some((p, j)) = todo.pop() {
        if j == needle.len() {
            return Some(p);
        }
        if !seen.insert((p, j)) {
            continue;
        }
        for (len, decoded) in units(text, p) {
            if needle[j..].starts_with(decoded.as_bytes()) {
                todo.push((p + len, j + decoded.len()));
            }
        }
    }
    None
}

/// The readings of the text at `p`: its raw byte, and what an escape starting there means
/// (percent-encoding, form `+`, a JSON escape). Each is (bytes of text used, bytes meant).
fn units(text: &[u8], p: usize) -> Vec<(usize, Decoded)> {
    let Some(&b) = text.get(p) else { return Vec::new() };
    let mut out = vec![(1, Decoded::byte(b))];
    match b {
        b'+' => out.push((1, Decoded::byte(b' '))),
        b'%' => {
            if let Some(v) = text.get(p + 1..p + 3).and_then(hex_value) {
                out.push((3, Decoded::byte(v as u8)));
            }
        }
        b'\\' => out.extend(json_escape(text, p)),
        _ => {}
    }
    out
}

/// A JSON escape at `p` (which holds `\`): `\"`, `\\`, `\/`, `\n` ... or `\uXXXX` (a
/// surrogate pair included), as the UTF-8 bytes it stands for.
fn json_escape(text: &[u8], p: usize) -> Option<(usize, Decoded)> {
    let simple = match text.get(p + 1)? {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 8,
        b'f' => 12,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => return unicode_escape(text, p),
        _ => return None,
    };
    Some((2, Decoded::byte(simple)))
}

fn unicode_escape(text: &[u8], p: usize) -> Option<(usize, Decoded)> {
    let high = hex_value(text.get(p + 2..p + 6)?)?;
    let (code, len) = match high {
        0xD800..=0xDBFF => {
            let low =
                text.get(p + 6..p + 8).filter(|s| s == b"\\u").and(text.get(p + 8..p + 12)).and_then(hex_value)?;
            (0x10000 + ((high - 0xD800) << 10) + low.checked_sub(0xDC00)?, 12)
        }
        _ => (high, 6),
    };
    let c = char::from_u32(code)?;
    Some((len, Decoded::char(c)))
}

fn hex_value(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits).ok().and_then(|s| u32::from_str_radix(s, 16).ok())
}

/// The bytes one unit of text stands for (at most 4: one UTF-8 character).
struct Decoded {
    bytes: [u8; 4],
    len: usize,
}

impl Decoded {
    fn byte(b: u8) -> Decoded {
        Decoded { bytes: [b, 0, 0, 0], len: 1 }
    }

    fn char(c: char) -> Decoded {
        let mut bytes = [0; 4];
        let len = c.encode_utf8(&mut bytes).len();
        Decoded { bytes, len }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn len(&self) -> usize {
        self.len
    }
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with `=` padding, only to recognise an echoed HTTP Basic credential.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            let sextet = (n >> (18 - 6 * i)) & 63;
            out.push(if i <= chunk.len() { char::from(alphabet[sextet as usize]) } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests;
