//! Field templates: `"{name.givenName} {name.familyName}"`, `"{email|localpart|word|max:20}"`,
//! rendered against a person's SCIM view to compute platform fields and match keys.

use compact_str::CompactString;

use crate::resource::{Node, Scalar};

/// A parsed template: literal text and placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Value { path: Vec<String>, transforms: Vec<Transform> },
}

/// Transforms applied left to right after a placeholder's value is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Transform {
    Lower,
    Upper,
    Trim,
    /// The part of an email before `@`.
    LocalPart,
    /// Every character outside `[A-Za-z0-9_]` becomes `_` (Client Toolbox user names).
    Word,
    /// At most N characters.
    Max(usize),
}

/// What is wrong with a template, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?} at position {position}: {message}")]
pub struct TemplateError {
    pub template: String,
    pub position: usize,
    pub message: String,
}

/// What is wrong at one place in a template; [`Template::parse`] adds the template text and
/// the position to make a [`TemplateError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Fault {
    #[error("unclosed '{{'")]
    Unclosed,
    #[error("'}}' without '{{'")]
    StrayClose,
    #[error("empty placeholder; write an attribute path such as {{email}} or {{name.givenName}}")]
    EmptyPlaceholder,
    #[error("unknown transform {0:?} (known: lower, upper, trim, localpart, word, max:N)")]
    UnknownTransform(String),
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let err = |position: usize, fault: Fault| TemplateError {
            template: source.to_string(),
            position,
            message: fault.to_string(),
        };
        let mut parts = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or_else(|| err(offset + open, Fault::Unclosed))? + open;
            let inner = &rest[open + 1..close];
            parts.push(parse_placeholder(inner).map_err(|m| err(offset + open, m))?);
            offset += close + 1;
            rest = &rest[close + 1..];
        }
        if rest.contains('}') {
            return Err(err(offset + rest.find('}').unwrap_or(0), Fault::StrayClose));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { source: source.to_string(), parts })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Render against a SCIM resource (a JSON view or a person read in place). A
    /// placeholder whose value is absent renders empty.
    pub fn render<'a>(&self, view: impl Node<'a>) -> String {
        let mut out = String::new();
        self.render_into(&mut out, view);
        out
    }

    /// `render` into an inline string: a field of up to 24 bytes costs no allocation,
    /// which is most fields of most people.
    pub fn render_compact<'a>(&self, view: impl Node<'a>) -> CompactString {
        let mut out = CompactString::default();
        self.render_into(&mut out, view);
        out
    }

    fn render_into<'a>(&self, out: &mut impl Push, view: impl Node<'a>) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Value { path, transforms } if transforms.is_empty() => push_lookup(out, view, path),
                Part::Value { path, transforms } => {
                    let mut v = String::new();
                    push_lookup(&mut v, view, path);
                    for t in transforms {
                        v = t.apply(v);
                    }
                    out.push_str(&v);
                }
            }
        }
    }
}

fn parse_placeholder(inner: &str) -> Result<Part, Fault> {
    let mut pieces = inner.split('|');
    let path_text = pieces.next().unwrap_or_default().trim();
    if path_text.is_empty() {
        return Err(Fault::EmptyPlaceholder);
    }
    let transforms = pieces.map(Transform::parse).collect::<Result<Vec<_>, _>>()?;
    Ok(Part::Value { path: split_path(path_text), transforms })
}

/// `urn:...:User:department` → [urn..User, department]; `name.givenName` → [name, givenName].
fn split_path(path: &str) -> Vec<String> {
    if let Some(idx) = path.rfind(':') {
        let (urn, attr) = (&path[..idx], &path[idx + 1..]);
        let mut out = vec![urn.to_string()];
        out.extend(attr.split('.').map(str::to_string));
        return out;
    }
    path.split('.').map(str::to_string).collect()
}

impl Transform {
    fn parse(text: &str) -> Result<Transform, Fault> {
        let text = text.trim();
        Ok(match text {
            "lower" => Transform::Lower,
            "upper" => Transform::Upper,
            "trim" => Transform::Trim,
            "localpart" => Transform::LocalPart,
            "word" => Transform::Word,
            _ => match text.strip_prefix("max:").map(str::parse::<usize>) {
                Some(Ok(n)) if n > 0 => Transform::Max(n),
                _ => return Err(Fault::UnknownTransform(text.to_string())),
            },
        })
    }

    fn apply(&self, v: String) -> String {
        match self {
            Transform::Lower => v.to_lowercase(),
            Transform::Upper => v.to_uppercase(),
            Transform::Trim => v.trim().to_string(),
            Transform::LocalPart => v.split('@').next().unwrap_or_default().to_string(),
            Transform::Word => v.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect(),
            Transform::Max(n) => v.chars().take(*n).collect(),
        }
    }
}

/// Text that can be appended to: a `String` or a `CompactString`.
trait Push {
    fn push_str(&mut self, text: &str);
}

impl Push for String {
    fn push_str(&mut self, text: &str) {
        String::push_str(self, text);
    }
}

impl Push for CompactString {
    fn push_str(&mut self, text: &str) {
        CompactString::push_str(self, text);
    }
}

/// Follow a path through objects with case-insensitive keys (arrays yield their first
/// element) and append the value found, if it is a string, number or boolean.
fn push_lookup<'a>(out: &mut impl Push, view: impl Node<'a>, path: &[String]) {
    let mut cur = view;
    for seg in path {
        if cur.is_array() {
            let Some(first) = cur.first_element() else { return };
            cur = first;
        }
        let Some(next) = cur.child(seg) else { return };
        cur = next;
    }
    match cur.scalar() {
        Some(Scalar::Str(s)) => out.push_str(s),
        Some(Scalar::Num(n)) => out.push_str(&n.to_string()),
        Some(Scalar::Bool(b)) => out.push_str(if b { "true" } else { "false" }),
        Some(Scalar::Null) | None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Person;

    fn render(t: &str, p: &Person) -> String {
        Template::parse(t).unwrap().render(&p.scim_view())
    }

    #[test]
    fn renders_paths_case_insensitively() {
        let p = Person::test("ana");
        assert_eq!(render("{name.GIVENNAME} {name.familyName}", &p), "Givenana Familyana");
        assert_eq!(render("{email}", &p), "ana@example.com");
    }

    #[test]
    fn client_toolbox_default_user_name() {
        let p = Person::test("x").with_email("Jean-Luc.Picard.the.captain@ent.example");
        assert_eq!(render("{email|localpart|word|max:20}", &p), "Jean_Luc_Picard_the_");
    }

    #[test]
    fn enterprise_urn_paths_resolve() {
        let mut p = Person::test("a");
        p.department = Some("Finance".into());
        assert_eq!(render("{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department}", &p), "Finance");
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(Template::parse("ab {email").unwrap_err().position, 3);
        assert!(Template::parse("{email|shout}").unwrap_err().message.contains("unknown transform"));
        assert!(Template::parse("{}").is_err());
        // The messages are the ones operators have always seen (config errors quote them).
        assert_eq!(Template::parse("a}").unwrap_err().to_string(), "template \"a}\" at position 1: '}' without '{'");
        assert_eq!(Template::parse("{x").unwrap_err().message, "unclosed '{'");
        assert_eq!(
            Template::parse("{ }").unwrap_err().message,
            "empty placeholder; write an attribute path such as {email} or {name.givenName}"
        );
        assert_eq!(
            Template::parse("{a|max:0}").unwrap_err().message,
            "unknown transform \"max:0\" (known: lower, upper, trim, localpart, word, max:N)"
        );
    }
}
