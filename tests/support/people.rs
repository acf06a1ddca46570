//! Builders for the people of a test roster, so a test says what it means
//! (`Person::test(3).inactive().in_group("Finance")`), and the one roster writer.

/// One person of a roster file: p{n} with given name G{n}, family name F{n}, e-mail
/// p{n}@acme.example, active, in no group, unless a builder says otherwise.
#[derive(Debug, Clone)]
pub struct Person {
    n: usize,
    id: String,
    domain: String,
    given: String,
    family: String,
    active: bool,
    groups: Vec<String>,
}

impl Person {
    pub fn test(n: usize) -> Person {
        Person {
            n,
            id: n.to_string(),
            domain: "acme.example".into(),
            given: format!("G{n}"),
            family: format!("F{n}"),
            active: true,
            groups: Vec::new(),
        }
    }

    /// Inactive at the source: a leaver.
    pub fn inactive(self) -> Person {
        self.active(false)
    }

    pub fn active(mut self, active: bool) -> Person {
        self.active = active;
        self
    }

    pub fn in_group(mut self, group: &str) -> Person {
        self.groups.push(group.into());
        self
    }

    /// User name and e-mail at `domain` instead of acme.example.
    pub fn at(mut self, domain: &str) -> Person {
        self.domain = domain.into();
        self
    }

    /// The source id `{prefix}{n}` instead of `{n}`.
    pub fn id_prefix(mut self, prefix: &str) -> Person {
        self.id = format!("{prefix}{}", self.n);
        self
    }

    /// Given name `{prefix}{n}` (e.g. `Renamed7`).
    pub fn given(mut self, prefix: &str) -> Person {
        self.given = format!("{prefix}{}", self.n);
        self
    }

    /// Family name `{prefix}{n}` (e.g. `New7`).
    pub fn family(mut self, prefix: &str) -> Person {
        self.family = format!("{prefix}{}", self.n);
        self
    }

    pub fn email(&self) -> String {
        format!("p{}@{}", self.n, self.domain)
    }

    /// This person as one line of a roster file.
    pub fn yaml(&self) -> String {
        let (n, id, email) = (self.n, &self.id, self.email());
        let groups = match self.groups.is_empty() {
            true => String::new(),
            false => format!(", groups: {:?}", self.groups),
        };
        format!(
            "  - {{ id: \"{id}\", user_name: p{n}@{}, given_name: {}, family_name: {}, email: {email}, active: {}{groups} }}\n",
            self.domain, self.given, self.family, self.active
        )
    }
}

/// People 1..=n with default looks, to be changed with `map`.
pub fn people(n: usize) -> impl Iterator<Item = Person> {
    (1..=n).map(Person::test)
}

/// A complete roster file of these people.
pub fn roster(people: impl IntoIterator<Item = Person>) -> String {
    let mut out = String::from("complete: true\npeople:\n");
    for person in people {
        out.push_str(&person.yaml());
    }
    out
}
