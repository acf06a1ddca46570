//! PATCH paths (RFC 7644 §3.5.2): `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`,
//! each optionally behind a schema URN (`urn:…:enterprise:2.0:User:department`), or a
//! bare extension URN naming the whole extension.

use super::error::ScimError;
use super::resource::Kind;
use super::schema::{self, Attr, ENTERPRISE_URN};
use crate::filter::Filter;

/// Where an operation applies.
#[derive(Debug)]
pub enum Target {
    /// The whole enterprise extension object.
    Extension,
    Attr(Box<AttrTarget>),
    /// An attribute this service provider does not keep (an identity provider's mapping may
    /// send more than the schema holds): ignored, as a POST's unknown attributes are.
    Unknown,
}

#[derive(Debug)]
pub struct AttrTarget {
    /// Inside the enterprise extension rather than at the top level.
    pub extension: bool,
    pub attr: &'static Attr,
    /// `[filter]`: the elements of a multi-valued attribute it selects.
    pub filter: Option<Selector>,
    pub sub: Option<&'static Attr>,
}

/// A value filter, with the `attr eq "value"` it reads as when it is that simple (an
/// Entra ID `emails[type eq "work"].value` may add the element it does not find).
#[derive(Debug)]
pub struct Selector {
    pub filter: Filter,
    pub equals: Option<(&'static Attr, String)>,
}

/// The attributes common to every resource that a PATCH may set.
const EXTERNAL_ID: Attr = Attr {
    name: "externalId",
    kind: schema::Kind::String,
    multi: false,
    required: false,
    read_only: false,
    unique: false,
    sub: &[],
    values: &[],
};

pub fn parse(kind: Kind, path: &str) -> Result<Target, ScimError> {
    let bad = |why: &str| ScimError::Path(format!("path {path:?}: {why}"));
    let path = path.trim();
    let (extension, rest) = match strip_urn(path, ENTERPRISE_URN).filter(|_| kind == Kind::User) {
        Some("") => return Ok(Target::Extension),
        Some(rest) => (true, rest.strip_prefix(':').ok_or_else(|| bad("expected ':' after the schema URN"))?),
        None => (
            false,
            strip_urn(path, kind.urn())
                .map_or(Some(path), |r| r.strip_prefix(':'))
                .ok_or_else(|| bad("expected ':' after the schema URN"))?,
        ),
    };
    if !extension && rest.get(..4).is_some_and(|head| head.eq_ignore_ascii_case("urn:")) {
        return Ok(Target::Unknown);
    }
    let attrs = if extension { schema::ENTERPRISE } else { kind.attrs() };
    let name_end = rest.find(['[', '.']).unwrap_or(rest.len());
    let (name, mut tail) = rest.split_at(name_end);
    let attr = match schema::find(attrs, name) {
        Some(a) => a,
        None if !extension && name.eq_ignore_ascii_case("externalId") => &EXTERNAL_ID,
        None if ["id", "meta", "schemas"].iter().any(|r| r.eq_ignore_ascii_case(name)) => {
            return Err(ScimError::Mutability(format!("path {path:?}: {name} is set by the service provider")));
        }
        None => return Ok(Target::Unknown),
    };
    if attr.read_only {
        return Err(ScimError::Mutability(format!("path {path:?}: {} is read-only", attr.name)));
    }
    let mut filter = None;
    if let Some(inner) = tail.strip_prefix('[') {
        let close = inner.rfind(']').ok_or_else(|| bad("no closing ']'"))?;
        if !attr.multi {
            return Err(bad("a [filter] needs a multi-valued attribute"));
        }
        let (text, after) = inner.split_at(close);
        filter = Some(selector(attr, text).map_err(|e| bad(&e))?);
        tail = after.strip_prefix(']').unwrap_or(after);
    }
    let sub = match tail.strip_prefix('.') {
        Some(sub) => match schema::find(attr.sub, sub) {
            Some(sub) => Some(sub),
            None => return Ok(Target::Unknown),
        },
        None if tail.is_empty() => None,
        None => return Err(bad("unexpected text after the attribute")),
    };
    Ok(Target::Attr(Box::new(AttrTarget { extension, attr, filter, sub })))
}

/// The rest of `path` after `urn` (case-insensitively), when it starts with it.
fn strip_urn<'a>(path: &'a str, urn: &str) -> Option<&'a str> {
    let head = path.get(..urn.len())?;
    head.eq_ignore_ascii_case(urn).then(|| &path[urn.len()..])
}

fn selector(attr: &'static Attr, text: &str) -> Result<Selector, String> {
    let filter = Filter::parse(text).map_err(|e| format!("filter {e}"))?;
    let equals = simple_eq(text).and_then(|(name, value)| Some((schema::find(attr.sub, name)?, value)));
    Ok(Selector { filter, equals })
}

/// `name eq "value"` as its two parts.
fn simple_eq(text: &str) -> Option<(&str, String)> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let (name, op, literal) = (parts.next()?, parts.next()?, parts.next()?);
    let value: String = serde_json::from_str(literal.trim()).ok()?;
    op.eq_ignore_ascii_case("eq").then_some((name, value))
}
