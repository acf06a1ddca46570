//! One person asked for by id, external id, user name or e-mail (`rosterd reconcile --person`),
//! and the read that finds them: a filtered read where the source can do one, else the
//! whole roster read and the person picked out of it.

use crate::model::{Person, Roster};

/// Who to look for: matched against the source id and external id exactly, and the user
/// name and e-mail addresses without regard to case (as match keys are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonQuery {
    text: String,
}

impl PersonQuery {
    /// A query for `text` (trimmed); `None` when it is empty.
    pub fn new(text: &str) -> Option<PersonQuery> {
        let text = text.trim();
        (!text.is_empty()).then(|| PersonQuery { text: text.to_string() })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the query reads as an e-mail or user name rather than an id.
    pub fn looks_like_email(&self) -> bool {
        self.text.contains('@')
    }

    pub fn matches(&self, person: &Person) -> bool {
        let q = self.text.as_str();
        person.id == q
            || person.external_id.as_deref() == Some(q)
            || person.user_name.eq_ignore_ascii_case(q)
            || person.emails.iter().any(|e| e.value.eq_ignore_ascii_case(q))
    }

    /// The SCIM filter that asks the source for this person alone: `userName eq` for an
    /// e-mail-like query, `id eq` otherwise. Quotes and backslashes are escaped.
    pub fn scim_filter(&self) -> String {
        let escaped = self.text.replace('\\', "\\\\").replace('"', "\\\"");
        match self.looks_like_email() {
            true => format!("userName eq \"{escaped}\""),
            false => format!("id eq \"{escaped}\""),
        }
    }

    /// Keep only the people of `roster` this query matches; completeness is kept as read.
    pub fn pick(&self, roster: Roster) -> Roster {
        let Roster { people, complete, incomplete_reason } = roster;
        let people = people.into_iter().filter(|p| self.matches(p)).collect();
        Roster { people, complete, incomplete_reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Email;

    fn person() -> Person {
        let mut p = Person::test("42");
        p.external_id = Some("ext-42".into());
        p.user_name = "Jo.Doe@Example.com".into();
        p.emails = vec![Email { value: "jo@example.com".into(), kind: None, primary: true }];
        p
    }

    #[test]
    fn matches_id_external_id_user_name_and_email() {
        for q in ["42", "ext-42", "jo.doe@example.COM", "JO@example.com"] {
            assert!(PersonQuery::new(q).unwrap().matches(&person()), "{q}");
        }
        assert!(!PersonQuery::new("4").unwrap().matches(&person()));
        assert!(PersonQuery::new("  ").is_none());
    }

    #[test]
    fn scim_filter_escapes_and_picks_the_attribute() {
        assert_eq!(PersonQuery::new("a\"b@x").unwrap().scim_filter(), r#"userName eq "a\"b@x""#);
        assert_eq!(PersonQuery::new("2819c223").unwrap().scim_filter(), r#"id eq "2819c223""#);
    }
}
