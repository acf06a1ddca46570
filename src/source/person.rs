//! One person asked for by id, external id, user name or e-mail (`rosterd reconcile --person`),
//! and the read that finds them: a filtered read where the source can do one, else the
//! whole roster read and the person picked out of it.

use std::collections::{BTreeMap, BTreeSet};

use super::{Source, SourceError};
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

/// Up to this many people are read one by one (a filtered read each, where the source has
/// one); more are picked from one read of the whole roster, which is then fewer calls.
pub const READ_ONE_BY_ONE: usize = 8;

/// The people with these source ids, read one by one or picked from one whole read
/// ([`READ_ONE_BY_ONE`]), and the ids not found. Incomplete when a read was.
pub async fn read_by_ids<S: Source + ?Sized>(source: &S, ids: &[String]) -> Result<(Roster, Vec<String>), SourceError> {
    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut reads = Vec::new();
    if wanted.len() > READ_ONE_BY_ONE {
        reads.push(source.read().await?);
    } else {
        for query in wanted.iter().filter_map(|id| PersonQuery::new(id)) {
            reads.push(source.read_person(&query).await?);
        }
    }
    // By source id exactly: a pushed id is the source's id, never a user name.
    Ok(gather(reads, &wanted, |p| wanted.get(p.id.as_str()).map(|id| id.to_string())))
}

/// The people of `reads` that `key` gives a wanted id for (the first read of each wins),
/// and the wanted ids none of them matched.
pub fn gather(
    reads: Vec<Roster>,
    wanted: &BTreeSet<&str>,
    key: impl Fn(&Person) -> Option<String>,
) -> (Roster, Vec<String>) {
    let mut found: BTreeMap<String, Person> = BTreeMap::new();
    let mut incomplete = None;
    for read in reads {
        if !read.complete {
            incomplete.get_or_insert(read.incomplete_reason.unwrap_or_else(|| "reason unknown".into()));
        }
        for p in read.people {
            if let Some(id) = key(&p) {
                found.entry(id).or_insert(p);
            }
        }
    }
    let unknown = wanted.iter().filter(|id| !found.contains_key(**id)).map(|id| id.to_string()).collect();
    let roster =
        Roster { people: found.into_values().collect(), complete: incomplete.is_none(), incomplete_reason: incomplete };
    (roster, unknown)
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
