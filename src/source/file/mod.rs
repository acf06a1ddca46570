//! A roster file as the identity source: YAML (which says itself whether it is complete) or CSV.
//!
//! The format comes from the extension (`.yaml`, `.yml`, `.csv`). A file is read whole and
//! checked whole: any wrong line is an error naming the file and the line or record, never
//! a roster with that person quietly missing (which would read as a leaver).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use compact_str::CompactString;
use serde::Deserialize;

use super::{Source, SourceError};
use crate::model::{empty_names, Email, Group, Person, Roster};

/// Where the roster file is, and (for CSV, which cannot say it) whether it is complete.
#[derive(Debug, Clone)]
pub struct FileSettings {
    pub path: PathBuf,
    /// Required for CSV. For YAML the file's own `complete:` wins; a different value here is an error.
    pub complete: Option<bool>,
}

/// A roster file as the identity source.
#[derive(Debug)]
pub struct FileSource {
    settings: FileSettings,
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Csv,
}

#[async_trait]
impl Source for FileSource {
    async fn read(&self) -> Result<Roster, SourceError> {
        let text = tokio::fs::read_to_string(&self.settings.path)
            .await
            .map_err(|e| SourceError::Io { path: self.settings.path.display().to_string(), detail: e.to_string() })?;
        self.parse(&text)
    }

    fn describe(&self) -> String {
        format!("roster file {}", self.settings.path.display())
    }
}

impl FileSource {
    /// Check the settings: the extension must name a known format, and CSV needs `complete`.
    pub fn new(settings: FileSettings) -> Result<Self, SourceError> {
        let format = format_of(&settings.path)?;
        if format == Format::Csv && settings.complete.is_none() {
            let message = format!(
                "{}: a CSV roster cannot say whether it is complete: set complete: true (or false) in the file source settings",
                settings.path.display()
            );
            return Err(SourceError::Settings { message });
        }
        Ok(FileSource { settings, format })
    }

    /// Parse the text of the roster file (what `read` does after reading it).
    pub fn parse(&self, text: &str) -> Result<Roster, SourceError> {
        // Spreadsheet tools often start a UTF-8 file with a byte-order mark.
        let text = text.trim_start_matches('\u{feff}');
        match self.format {
            Format::Yaml => self.parse_yaml(text),
            Format::Csv => self.parse_csv(text),
        }
    }

    /// A place in the file, for messages: `roster.csv line 4`.
    fn at(&self, place: Option<String>) -> String {
        match place {
            Some(place) => format!("{} {place}", self.settings.path.display()),
            None => self.settings.path.display().to_string(),
        }
    }

    fn error(&self, place: Option<String>, message: impl Into<String>) -> SourceError {
        SourceError::File { at: self.at(place), message: message.into() }
    }
}

fn format_of(path: &Path) -> Result<Format, SourceError> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("yaml" | "yml") => Ok(Format::Yaml),
        Some("csv") => Ok(Format::Csv),
        _ => Err(SourceError::Settings {
            message: format!("{}: a roster file must end in .yaml, .yml or .csv", path.display()),
        }),
    }
}

fn roster(people: Vec<Person>, complete: bool) -> Roster {
    if complete {
        Roster::complete(people)
    } else {
        Roster::incomplete(people, "the roster file says it is not complete")
    }
}

// ---------------------------------------------------------------------------------------
// YAML

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlRoster {
    /// Required: the file must say whether it lists everyone, as only then may access be removed.
    complete: bool,
    people: Vec<YamlPerson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlPerson {
    id: CompactString,
    external_id: Option<CompactString>,
    user_name: CompactString,
    given_name: Option<CompactString>,
    family_name: Option<CompactString>,
    display_name: Option<CompactString>,
    /// Shorthand for one primary email.
    email: Option<CompactString>,
    emails: Option<Vec<YamlEmail>>,
    active: Option<bool>,
    /// Group names, or `{ value: <id>, display: <name> }` for a filter to match by id.
    #[serde(default)]
    groups: Vec<Group>,
    title: Option<CompactString>,
    employee_number: Option<CompactString>,
    department: Option<CompactString>,
    organization: Option<CompactString>,
    manager: Option<CompactString>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlEmail {
    value: CompactString,
    #[serde(default, rename = "type")]
    kind: Option<CompactString>,
    #[serde(default)]
    primary: bool,
}

impl FileSource {
    fn parse_yaml(&self, text: &str) -> Result<Roster, SourceError> {
        let file: YamlRoster = serde_yaml::from_str(text).map_err(|e| {
            let line = e.location().map(|l| format!("line {}", l.line()));
            // The message ends with "at line L column C": the line is already in front.
            let message = e.to_string();
            let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m);
            self.error(line, message)
        })?;
        if let Some(said) = self.settings.complete.filter(|c| *c != file.complete) {
            let message = format!(
                "the file says complete: {} but the settings say complete: {said}; make them agree, or leave complete out of the settings",
                file.complete
            );
            return Err(self.error(None, message));
        }
        let mut seen: HashMap<CompactString, usize> = HashMap::new();
        let mut people = Vec::with_capacity(file.people.len());
        for (i, entry) in file.people.into_iter().enumerate() {
            let place = Some(format!("people[{i}]"));
            let person = entry.into_person().map_err(|m| self.error(place.clone(), m))?;
            if let Some(first) = seen.insert(person.id.clone(), i) {
                return Err(self.error(place, format!("id \"{}\" repeats the id of people[{first}]", person.id)));
            }
            people.push(person);
        }
        Ok(roster(people, file.complete))
    }
}

impl YamlPerson {
    fn into_person(self) -> Result<Person, String> {
        let id = non_empty(&self.id).ok_or("id is empty")?;
        let user_name = non_empty(&self.user_name).ok_or_else(|| format!("id \"{id}\": user_name is empty"))?;
        let emails = match (self.email, self.emails) {
            (Some(_), Some(_)) => return Err(format!("id \"{id}\": give email or emails, not both")),
            (Some(email), None) => vec![Email { value: email, kind: None, primary: true }],
            (None, Some(list)) => {
                list.into_iter().map(|e| Email { value: e.value, kind: e.kind, primary: e.primary }).collect()
            }
            (None, None) => Vec::new(),
        };
        Ok(Person {
            id,
            external_id: self.external_id,
            user_name,
            empty_names: empty_names(self.given_name.as_deref(), self.family_name.as_deref()),
            given_name: self.given_name.unwrap_or_default(),
            family_name: self.family_name.unwrap_or_default(),
            display_name: self.display_name,
            emails,
            active: self.active.unwrap_or(true),
            active_unsent: self.active.is_none(),
            groups: self.groups,
            title: self.title,
            employee_number: self.employee_number,
            department: self.department,
            organization: self.organization,
            manager: self.manager,
            last_modified: None,
            extras: None,
        })
    }
}

fn non_empty(value: &str) -> Option<CompactString> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.into())
}

// ---------------------------------------------------------------------------------------
// CSV

/// The columns a CSV roster may have; `id` and `user_name` are required.
const CSV_COLUMNS: [&str; 12] = [
    "id",
    "user_name",
    "given_name",
    "family_name",
    "email",
    "active",
    "groups",
    "title",
    "department",
    "employee_number",
    "organization",
    "manager",
];

/// Where each known column is in the header row.
struct Columns(HashMap<&'static str, usize>);

impl FileSource {
    fn parse_csv(&self, text: &str) -> Result<Roster, SourceError> {
        let complete = self.settings.complete.unwrap_or(false);
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| self.csv_error(&e))?.clone();
        let columns = Columns::new(&headers).map_err(|m| self.error(Some("line 1".into()), m))?;
        let mut seen: HashMap<CompactString, u64> = HashMap::new();
        let mut people = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| self.csv_error(&e))?;
            let line = record.position().map_or(0, csv::Position::line);
            let place = Some(format!("line {line}"));
            let person = columns.person(&record).map_err(|m| self.error(place.clone(), m))?;
            if let Some(first) = seen.insert(person.id.clone(), line) {
                return Err(self.error(place, format!("id \"{}\" repeats the id on line {first}", person.id)));
            }
            people.push(person);
        }
        Ok(roster(people, complete))
    }

    fn csv_error(&self, e: &csv::Error) -> SourceError {
        let place = e.position().map(|p| format!("line {}", p.line()));
        self.error(place, e.to_string())
    }
}

impl Columns {
    fn new(headers: &csv::StringRecord) -> Result<Self, String> {
        let mut at = HashMap::new();
        let mut unknown = Vec::new();
        for (i, name) in headers.iter().enumerate() {
            match CSV_COLUMNS.iter().find(|c| **c == name) {
                Some(known) if at.insert(*known, i).is_some() => return Err(format!("column {name} appears twice")),
                Some(_) => {}
                None => unknown.push(format!("\"{name}\"")),
            }
        }
        if !unknown.is_empty() {
            return Err(format!("unknown column(s) {}; the columns are {}", unknown.join(", "), CSV_COLUMNS.join(",")));
        }
        let missing: Vec<&str> = ["id", "user_name"].into_iter().filter(|c| !at.contains_key(c)).collect();
        if !missing.is_empty() {
            return Err(format!("missing required column(s) {}", missing.join(", ")));
        }
        Ok(Columns(at))
    }

    /// A non-empty cell of a column, if the file has the column.
    fn get<'r>(&self, record: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        let i = *self.0.get(column)?;
        record.get(i).filter(|v| !v.is_empty())
    }

    fn text(&self, record: &csv::StringRecord, column: &str) -> Option<CompactString> {
        self.get(record, column).map(CompactString::from)
    }

    fn person(&self, record: &csv::StringRecord) -> Result<Person, String> {
        let id = self.text(record, "id").ok_or("id is empty")?;
        let user_name = self.text(record, "user_name").ok_or_else(|| format!("id \"{id}\": user_name is empty"))?;
        let sent = match self.get(record, "active") {
            None => None,
            Some(v) => {
                Some(parse_bool(v).ok_or_else(|| format!("id \"{id}\": active must be true or false, not \"{v}\""))?)
            }
        };
        let groups = self.get(record, "groups").map_or_else(Vec::new, split_groups);
        let emails = self.text(record, "email").map(|value| Email { value, kind: None, primary: true });
        Ok(Person {
            id,
            user_name,
            given_name: self.text(record, "given_name").unwrap_or_default(),
            family_name: self.text(record, "family_name").unwrap_or_default(),
            emails: emails.into_iter().collect(),
            active: sent.unwrap_or(true),
            active_unsent: sent.is_none(),
            groups,
            title: self.text(record, "title"),
            employee_number: self.text(record, "employee_number"),
            department: self.text(record, "department"),
            organization: self.text(record, "organization"),
            manager: self.text(record, "manager"),
            ..Person::default()
        })
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// `Sales; Finance` → `["Sales", "Finance"]`.
fn split_groups(cell: &str) -> Vec<Group> {
    cell.split(';').map(str::trim).filter(|g| !g.is_empty()).map(Group::named).collect()
}

#[cfg(test)]
mod tests;
