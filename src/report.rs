//! The access report: who has access where, with role and status; accounts with no
//! person in the roster (orphans); accounts rosterd does not manage; inactive people who
//! still have active accounts. A pure function over what a run reads.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use compact_str::CompactString;
use serde::Serialize;

use crate::model::{normalize_key, Account, AccountStatus, Person, INVITE_STATUS_FIELD};

/// The invitation status of an account never signed in to (FileSpin's word).
pub const INVITE_REQUESTED: &str = "REQUESTED";
use crate::records::Link;

/// One account on one platform, as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub platform: String,
    pub account_id: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub status: AccountStatus,
    /// The roster person this account belongs to (by link, else by match key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// rosterd created or adopted the account.
    pub managed: bool,
    /// No person of the roster owns it.
    pub orphan: bool,
    /// Its person is inactive at the source, yet the account can still sign in.
    pub inactive_person_active_account: bool,
    /// Locked out (Affise: every permission denied), not deactivated by a flag.
    pub locked_out: bool,
    /// Invited but never signed in (FileSpin `invite_status: REQUESTED`).
    pub invite_pending: bool,
}

/// What the report is built from, for one platform.
pub struct PlatformInput<'a> {
    pub platform: &'a str,
    pub accounts: &'a [Account],
    pub links: &'a BTreeMap<String, Link>,
    /// Each roster person's match key on this platform (empty when it renders empty).
    pub keys: &'a [(String, &'a Person)],
    /// An inactive account here is locked out (Affise), which the report says.
    pub inactive_is_lock_out: bool,
}

/// A platform's designation (an account manager) and whether its person is still in the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesignationRow {
    pub platform: String,
    #[serde(flatten)]
    pub designation: crate::platform::Designation,
    /// The roster person with that email, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<String>,
    /// That person is active at the source.
    pub person_active: bool,
}

/// Match designations to roster people by email.
pub fn designation_rows(
    platform: &str,
    designations: Vec<crate::platform::Designation>,
    roster: &[Person],
) -> Vec<DesignationRow> {
    let by_email: HashMap<CompactString, &Person> =
        roster.iter().flat_map(|p| p.emails.iter().map(move |e| (normalize_key(&e.value), p))).collect();
    designations
        .into_iter()
        .map(|d| {
            let person = by_email.get(&normalize_key(&d.email)).copied();
            DesignationRow {
                platform: platform.to_string(),
                person_id: person.map(|p| p.id.to_string()),
                person_active: person.is_some_and(|p| p.active),
                designation: d,
            }
        })
        .collect()
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub roster_complete: bool,
    pub people: usize,
    pub rows: Vec<Row>,
    /// Account managers and the like, and whether each is still in the roster.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub designations: Vec<DesignationRow>,
    /// Platforms that could not be read, and why.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
}

/// Build the rows of one platform.
pub fn platform_rows(input: &PlatformInput<'_>, roster: &[Person]) -> Vec<Row> {
    let by_id: HashMap<&str, &Person> = roster.iter().map(|p| (p.id.as_str(), p)).collect();
    let by_key: HashMap<CompactString, &Person> =
        input.keys.iter().filter(|(k, _)| !k.is_empty()).map(|(k, p)| (normalize_key(k), *p)).collect();
    let owner: HashMap<&str, &str> = input.links.iter().map(|(p, l)| (l.account_id.as_str(), p.as_str())).collect();
    let mut rows: Vec<Row> = input.accounts.iter().map(|a| row(input.platform, a, &owner, &by_id, &by_key)).collect();
    for r in rows.iter_mut().filter(|r| input.inactive_is_lock_out && r.status == AccountStatus::Inactive) {
        r.locked_out = true;
    }
    rows.sort_by(|a, b| a.key.cmp(&b.key).then(a.account_id.cmp(&b.account_id)));
    rows
}

fn row(
    platform: &str,
    a: &Account,
    owner: &HashMap<&str, &str>,
    by_id: &HashMap<&str, &Person>,
    by_key: &HashMap<CompactString, &Person>,
) -> Row {
    let linked = owner.get(a.id.as_str()).copied();
    let person = match linked {
        Some(pid) => by_id.get(pid).copied(),
        None => by_key.get(&normalize_key(&a.key)).copied(),
    };
    Row {
        platform: platform.to_string(),
        account_id: a.id.to_string(),
        key: a.key.to_string(),
        role: a.role.as_deref().map(String::from),
        status: a.status,
        person_id: person.map(|p| p.id.to_string()).or_else(|| linked.map(str::to_string)),
        person: person.map(|p| p.label().to_string()),
        managed: linked.is_some(),
        orphan: person.is_none(),
        inactive_person_active_account: person.is_some_and(|p| !p.active) && a.status == AccountStatus::Active,
        locked_out: false,
        invite_pending: a.fields.get(INVITE_STATUS_FIELD).is_some_and(|s| s.eq_ignore_ascii_case(INVITE_REQUESTED)),
    }
}

impl Report {
    pub fn orphans(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.orphan)
    }

    pub fn unmanaged(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| !r.managed)
    }

    pub fn stale(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.inactive_person_active_account)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        if !self.roster_complete {
            let _ = writeln!(out, "! the roster read was incomplete: people missing from it may show as orphans");
        }
        out.push_str(&self.rows_table());
        for d in &self.designations {
            let _ = writeln!(out, "{}", designation_line(d));
        }
        for (p, e) in &self.errors {
            let _ = writeln!(out, "! {p}: not read: {e}");
        }
        let _ = writeln!(
            out,
            "\n{} account(s): {} orphan(s), {} not managed by rosterd, {} inactive people with active accounts.",
            self.rows.len(),
            self.orphans().count(),
            self.unmanaged().count(),
            self.stale().count()
        );
        let locked = self.rows.iter().filter(|r| r.locked_out).count();
        let invited = self.rows.iter().filter(|r| r.invite_pending).count();
        if locked + invited > 0 {
            let _ = writeln!(out, "{locked} locked out, {invited} invitation(s) never accepted.");
        }
        out
    }
}

fn designation_line(d: &DesignationRow) -> String {
    let standing = match (&d.person_id, d.person_active) {
        (Some(_), true) => "in the roster",
        (Some(_), false) => "INACTIVE at the source",
        (None, _) => "NOT IN THE ROSTER",
    };
    let g = &d.designation;
    format!("{}: {} {} <{}> [{}]: {standing}", d.platform, g.what, g.name, g.email, g.id)
}

/// The cells of one row: platform, account, id, role, status, managed, person, flags.
fn cells(r: &Row) -> [String; 8] {
    let mut flags = Vec::new();
    if r.orphan {
        flags.push("ORPHAN");
    }
    if !r.managed {
        flags.push("UNMANAGED");
    }
    if r.inactive_person_active_account {
        flags.push("INACTIVE-PERSON-ACTIVE-ACCOUNT");
    }
    if r.locked_out {
        flags.push("LOCKED-OUT");
    }
    if r.invite_pending {
        flags.push("INVITE-PENDING");
    }
    let status = match r.status {
        AccountStatus::Active => "active",
        AccountStatus::Inactive => "inactive",
    };
    [
        r.platform.clone(),
        r.key.clone(),
        r.account_id.clone(),
        r.role.clone().unwrap_or_else(|| "-".into()),
        status.into(),
        if r.managed { "yes" } else { "no" }.into(),
        r.person.clone().unwrap_or_else(|| "-".into()),
        flags.join(","),
    ]
}

impl Report {
    /// The account rows with columns as wide as their widest cell.
    fn rows_table(&self) -> String {
        let header = ["platform", "account", "id", "role", "status", "managed", "person", "flags"].map(String::from);
        let rows: Vec<[String; 8]> = std::iter::once(header).chain(self.rows.iter().map(cells)).collect();
        let mut widths = [0usize; 8];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            let _ = writeln!(out, "{}", line.join(" ").trim_end());
        }
        out
    }
}
