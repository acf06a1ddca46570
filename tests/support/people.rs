//! Builders for the people of a test roster, so a test says what it means
//! (`Person::test(3).inactive().in_group("Finance")`), and the one roster writer.

/// One person of a roster file: p{n} with given name G{n}, family name F{n}, e-mail
/// p{n}@acme.example, active, in no group, unless a builder says otherwise.
#[derive(Debug, Clone)]
pub struct Person {
    /// What the names are made of: `p{tag}`, `G{tag}`, `F{tag}`.
    tag: String,
    id: String,
    user_name: String,
    email: String,
    given: String,
    family: String,
    active: bool,
    groups: Vec<String>,
}

impl Person {
    pub fn test(n: usize) -> Person {
        Person::with_email(&n.to_string(), &format!("p{n}@acme.example"))
    }

    /// Source id `id`, user name and e-mail `email`, given name G{id}, family name F{id}.
    pub fn with_email(id: &str, email: &str) -> Person {
        Person {
            tag: id.into(),
            id: id.into(),
            user_name: email.into(),
            email: email.into(),
            given: format!("G{id}"),
            family: format!("F{id}"),
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
        self.user_name = format!("p{}@{domain}", self.tag);
        self.email = self.user_name.clone();
        self
    }

    /// The source id `{prefix}{n}` instead of `{n}`.
    pub fn id_prefix(mut self, prefix: &str) -> Person {
        self.id = format!("{prefix}{}", self.tag);
        self
    }

    /// Given name `{prefix}{n}` (e.g. `Renamed7`).
    pub fn given(mut self, prefix: &str) -> Person {
        self.given = format!("{prefix}{}", self.tag);
        self
    }

    /// Family name `{prefix}{n}` (e.g. `New7`).
    pub fn family(mut self, prefix: &str) -> Person {
        self.family = format!("{prefix}{}", self.tag);
        self
    }

    pub fn email(&self) -> &str {
        &self.email
    }

    /// This person as one line of a roster file.
    pub fn yaml(&self) -> String {
        let groups = match self.groups.is_empty() {
            true => String::new(),
            false => format!(", groups: {:?}", self.groups),
        };
        format!(
            "  - {{ id: {:?}, user_name: {:?}, given_name: {}, family_name: {}, email: {:?}, active: {}{groups} }}\n",
            self.id, self.user_name, self.given, self.family, self.email, self.active
        )
    }
}

/// People 1..=n with default looks, to be changed with `map`.
pub fn people(n: usize) -> impl Iterator<Item = Person> {
    (1..=n).map(Person::test)
}

/// A complete roster file of these people.
pub fn roster(people: impl IntoIterator<Item = Person>) -> String {
    roster_marked(true, people)
}

/// A roster file of these people, marked complete or not (an incomplete roster removes no one).
pub fn roster_marked(complete: bool, people: impl IntoIterator<Item = Person>) -> String {
    let lines: String = people.into_iter().map(|p| p.yaml()).collect();
    match lines.is_empty() {
        true => format!("complete: {complete}\npeople: []\n"),
        false => format!("complete: {complete}\npeople:\n{lines}"),
    }
}
