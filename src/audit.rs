//! The audit trail: one append-only JSON line per attempted change, chained by hash so
//! that an edited, deleted, inserted or reordered line is detectable, and anchored in the
//! store (see [`crate::anchor`]) so that lines cut from the end are too. Never a secret in it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::anchor::{self, AuditKey, Fit, Head, HeadStore};
use crate::model::FieldChange;

/// Defined with the anchor, whose empty head names it too.
pub use crate::anchor::GENESIS;

/// One attempted change (or a hold) and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: String,
    pub run_id: String,
    pub trigger: String,
    pub platform: String,
    pub person_id: String,
    pub person: String,
    #[serde(default)]
    pub account_id: Option<String>,
    pub action: String,
    #[serde(default)]
    pub changes: Vec<FieldChange>,
    /// `ok`, `failed`, `held`, `conflict`, `released` (a held step approved).
    pub outcome: String,
    #[serde(default)]
    pub detail: Option<String>,
    /// The previous line's hash (GENESIS for the first line).
    #[serde(default)]
    pub prev: String,
    /// sha256 over `prev` and this record's JSON without `hash`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
}

/// What an audit line is about: a platform, a person (or a group, or the trail itself)
/// and what was done to their account.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub platform: String,
    pub person_id: String,
    pub person: String,
    pub account_id: Option<String>,
    pub action: String,
    pub changes: Vec<FieldChange>,
}

impl AuditRecord {
    /// The one way rosterd builds an audit line: stamped now, with `prev` and `hash` left
    /// for [`AuditLog::append`] to chain. `outcome` is the trail's word for it
    /// ([`crate::model::Outcome::as_str`]).
    pub fn new(run_id: &str, trigger: &str, subject: Subject, outcome: &str, detail: Option<String>) -> AuditRecord {
        let Subject { platform, person_id, person, account_id, action, changes } = subject;
        AuditRecord {
            time: Utc::now().to_rfc3339(),
            run_id: run_id.into(),
            trigger: trigger.into(),
            platform,
            person_id,
            person,
            account_id,
            action,
            changes,
            outcome: outcome.into(),
            detail,
            prev: String::new(),
            hash: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit file {path} cannot be written: {source}; check the permissions of state_dir")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the audit file {path} line {line} is not an audit record: {source}")]
    Corrupt { path: PathBuf, line: usize, source: LineError },
    #[error("the audit trail's anchor in the store cannot be used: {0}; check the store (state_dir)")]
    Anchor(#[from] anchor::AnchorError),
}

/// The open audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    inner: Mutex<Writer>,
    /// Where the head is kept at every append; `None` only for a trail without a store.
    anchor: Option<Box<dyn HeadStore>>,
    /// Makes every new line's hash an HMAC (`audit.hmac_key_file`).
    key: Option<AuditKey>,
}

#[derive(Debug)]
struct Writer {
    file: File,
    last_hash: String,
    lines: u64,
}

/// What an open finds when the anchor does not fit the file: written into the trail
/// itself, so the evidence is chained and `audit --verify` reports it from then on.
pub const ANCHOR_ACTION: &str = "audit-anchor";

impl AuditLog {
    /// Open (or create) the audit file, reading it to continue the chain; not anchored
    /// (a trail without a store, in tests).
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        Self::open_with(path, None, None)
    }

    /// Open the audit file anchored in `anchor`, checking the file against it first: a
    /// mismatch (lines cut, a rewrite, a forged anchor) is written into the trail as an
    /// `audit-anchor` / `broken` line, and rosterd goes on.
    pub fn open_anchored(
        path: &Path,
        anchor: Box<dyn HeadStore>,
        key: Option<AuditKey>,
    ) -> Result<AuditLog, AuditError> {
        Self::open_with(path, Some(anchor), key)
    }

    fn open_with(
        path: &Path,
        anchor: Option<Box<dyn HeadStore>>,
        key: Option<AuditKey>,
    ) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            crate::private::create_dir(dir).map_err(io)?;
        }
        drop_partial_last_line(path).map_err(io)?;
        let existed = path.exists();
        let head = anchor.as_ref().map(|a| a.load().map_err(AuditError::Anchor)).transpose()?.flatten();
        let scan = scan(path, head.as_ref().map_or(0, |h| h.lines))?;
        let file = crate::private::open_append(path).map_err(io)?;
        let writer = Writer { file, last_hash: scan.last_hash.clone(), lines: scan.lines };
        let log = AuditLog { path: path.to_path_buf(), inner: Mutex::new(writer), anchor, key };
        if log.anchor.is_some() {
            log.check_anchor(head, &scan, existed)?;
        }
        Ok(log)
    }

    /// Compare the file with its anchor; anchor the file's end when it fits.
    fn check_anchor(&self, head: Option<Head>, scan: &Scan, existed: bool) -> Result<(), AuditError> {
        let problem = match &head {
            None if scan.lines > 0 => {
                tracing::warn!(
                    lines = scan.lines,
                    "the audit trail had no anchor in the store (a new or rebuilt store): anchored at its current end"
                );
                None
            }
            None => None,
            Some(h) if !existed && h.lines > 0 => Some((
                "restarted",
                format!(
                    "the audit trail was missing although {} line(s) had been written: a new trail starts here",
                    h.lines
                ),
            )),
            Some(h) => match anchor::fit(scan.lines, scan.hash_at.as_deref(), h, self.key.as_ref()) {
                Fit::Fits { after } => {
                    if after > 0 {
                        tracing::info!(
                            lines = after,
                            "anchored audit lines written by a rosterd stopped before its store was flushed"
                        );
                    }
                    None
                }
                Fit::Broken(reason) => Some((crate::model::Outcome::Broken.as_str(), reason)),
            },
        };
        match problem {
            None => self.save_head(scan.lines, scan.last_hash.clone()),
            Some((outcome, reason)) => {
                tracing::error!(reason = %reason, path = %self.path.display(), "the audit trail does not match its anchor in the store; keep a copy of it as evidence");
                self.append(anchor_record(outcome, reason))
            }
        }
    }

    fn save_head(&self, lines: u64, hash: String) -> Result<(), AuditError> {
        let Some(anchor) = &self.anchor else { return Ok(()) };
        let head = match &self.key {
            Some(k) => k.head(lines, hash),
            None => Head { lines, hash, mac: None },
        };
        anchor.save(&head).map_err(AuditError::Anchor)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record, chaining it to the previous line. The line reaches the OS before
    /// this returns, so a killed process loses no completed write's record.
    pub fn append(&self, mut record: AuditRecord) -> Result<(), AuditError> {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        record.prev = w.last_hash.clone();
        record.hash = String::new();
        record.hash = hash_of(&record, self.key.as_ref());
        let mut line = serde_json::to_string(&record).unwrap_or_default();
        line.push('\n');
        w.file.write_all(line.as_bytes()).map_err(|source| AuditError::Io { path: self.path.clone(), source })?;
        w.last_hash = record.hash;
        w.lines += 1;
        self.save_head(w.lines, w.last_hash.clone())
    }

    /// Make the file durable (end of a run, shutdown).
    pub fn sync(&self) -> Result<(), AuditError> {
        let w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        w.file.sync_data().map_err(|source| AuditError::Io { path: self.path.clone(), source })?;
        self.anchor.as_ref().map_or(Ok(()), |a| a.flush().map_err(AuditError::Anchor))
    }
}

/// The line rosterd writes when the file does not fit its anchor.
fn anchor_record(outcome: &str, reason: String) -> AuditRecord {
    let subject = Subject {
        platform: "-".into(),
        person_id: "-".into(),
        person: "-".into(),
        account_id: None,
        action: ANCHOR_ACTION.into(),
        changes: Vec::new(),
    };
    AuditRecord::new("-", "open", subject, outcome, Some(reason))
}

/// The hash of a record whose `hash` field is empty: sha256 over the previous hash and
/// the body, or with a key, `hmac:` and the HMAC over the same.
pub(crate) fn hash_of(record: &AuditRecord, key: Option<&AuditKey>) -> String {
    let body = serde_json::to_string(record).unwrap_or_default();
    if let Some(key) = key {
        return key.line_hash(&record.prev, &body);
    }
    let mut h = Sha256::new();
    h.update(record.prev.as_bytes());
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

/// A process killed in the middle of an append can leave a last line without its newline.
/// That fragment is no record: it is cut away (with a warning), so the chain goes on from
/// the last whole line. The write it belonged to is still journaled as an intent, and the
/// next run resolves it and audits it then.
fn drop_partial_last_line(path: &Path) -> std::io::Result<()> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    tracing::warn!(
        path = %path.display(),
        bytes = bytes.len() - keep,
        "the audit file ends with a partial line (rosterd was killed while writing it): cut it away; its write is resolved through the intent journal"
    );
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(keep as u64)?;
    file.sync_all()
}

/// A pass over the file: its line count, last hash, and the hash of line `at`.
struct Scan {
    lines: u64,
    last_hash: String,
    hash_at: Option<String>,
}

fn scan(path: &Path, at: u64) -> Result<Scan, AuditError> {
    let mut s = Scan { lines: 0, last_hash: GENESIS.to_string(), hash_at: None };
    for (i, rec) in read_records(path)?.enumerate() {
        s.last_hash = rec.map_err(|source| AuditError::Corrupt { path: path.to_path_buf(), line: i + 1, source })?.hash;
        s.lines += 1;
        if s.lines == at {
            s.hash_at = Some(s.last_hash.clone());
        }
    }
    Ok(s)
}

/// Why one line of the audit file could not be read as a record.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("{0}")]
    Read(#[from] std::io::Error),
    #[error("{0}")]
    Parse(#[from] serde_json::Error),
}

/// Every record of the file, in order; a missing file has none.
pub fn read_records(path: &Path) -> Result<impl Iterator<Item = Result<AuditRecord, LineError>>, AuditError> {
    let file = match File::open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(AuditError::Io { path: path.to_path_buf(), source }),
    };
    let lines = file.into_iter().flat_map(|f| BufReader::new(f).lines());
    Ok(lines.filter(|l| !l.as_ref().is_ok_and(|l| l.trim().is_empty())).map(|l| {
        let line = l?;
        Ok(serde_json::from_str::<AuditRecord>(&line)?)
    }))
}

/// Where a chain check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    pub line: usize,
    pub reason: String,
}

/// Check the hash chain line by line, without an anchor or a key; returns the number of
/// lines verified.
pub fn verify(path: &Path) -> Result<Result<usize, VerifyFailure>, AuditError> {
    Ok(verify_chain(path, None)?.and_then(|c| c.broken.map_or(Ok(c.lines as usize), Err)))
}

/// Check the chain (with the key when set) and then the file against its anchor: lines
/// cut from the end, a rewrite up to the anchored line, a forged anchor, and every
/// mismatch an earlier open found and wrote into the trail.
pub fn verify_anchored(
    path: &Path,
    head: Option<&Head>,
    key: Option<&AuditKey>,
) -> Result<Result<usize, VerifyFailure>, AuditError> {
    let chain = match verify_chain(path, key)? {
        Ok(c) => c,
        Err(f) => return Ok(Err(f)),
    };
    let at_end = |reason: String| VerifyFailure { line: chain.lines as usize + 1, reason };
    let Some(head) = head else {
        return Ok(if chain.lines == 0 {
            Ok(0)
        } else {
            Err(at_end("the store holds no anchor for this trail (a new or rebuilt store): lines cut from the end cannot be ruled out; the next run anchors it".into()))
        });
    };
    if key.is_some() && head.mac.is_none() {
        return Ok(Err(at_end(
            "audit.hmac_key_file is set but the anchor has no MAC: the next run anchors it with the key".into(),
        )));
    }
    let scan = scan(path, head.lines)?;
    Ok(match anchor::fit(scan.lines, scan.hash_at.as_deref(), head, key) {
        Fit::Broken(reason) => Err(at_end(reason)),
        Fit::Fits { after: 0 } => match chain.broken {
            Some(f) => Err(f),
            None => Ok(chain.lines as usize),
        },
        Fit::Fits { after } => Err(at_end(format!(
            "{after} line(s) after the anchored line {}: written by a rosterd stopped before its store was flushed (the next run anchors them), or appended by hand",
            head.lines
        ))),
    })
}

/// A chain that links up, and the first mismatch an open wrote into it.
struct Chain {
    lines: u64,
    broken: Option<VerifyFailure>,
}

fn verify_chain(path: &Path, key: Option<&AuditKey>) -> Result<Result<Chain, VerifyFailure>, AuditError> {
    let mut prev = GENESIS.to_string();
    let mut chain = Chain { lines: 0, broken: None };
    let mut keyed = false;
    for (i, rec) in read_records(path)?.enumerate() {
        let line = i + 1;
        let fail = |reason: String| Ok(Err(VerifyFailure { line, reason }));
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return fail(format!("not an audit record: {e}")),
        };
        if rec.prev != prev {
            return fail("does not chain to the line before it (a line was deleted, inserted or moved)".into());
        }
        if let Err(reason) = check_line_hash(&rec, key, &mut keyed) {
            return fail(reason.to_string());
        }
        if rec.action == ANCHOR_ACTION && rec.outcome == "broken" && chain.broken.is_none() {
            let why = rec.detail.clone().unwrap_or_default();
            chain.broken =
                Some(VerifyFailure { line, reason: format!("rosterd found on opening the trail that {why}") });
        }
        prev = rec.hash;
        chain.lines += 1;
    }
    Ok(Ok(chain))
}

/// Why a line's own hash does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum BadLineHash {
    #[error("its hash is an HMAC: set audit.hmac_key_file to the key to verify it")]
    KeyNeeded,
    #[error("a line without HMAC after HMAC-chained lines: the trail was rewritten without the key")]
    PlainAfterKeyed,
    #[error("its HMAC does not match (the line was edited or the chain rewritten without the key)")]
    HmacMismatch,
    #[error("its content does not match its hash (the line was edited)")]
    HashMismatch,
}

/// A line's own hash: sha256, or an HMAC once the key is in use (never sha256 after it).
fn check_line_hash(rec: &AuditRecord, key: Option<&AuditKey>, keyed: &mut bool) -> Result<(), BadLineHash> {
    let mut unhashed = rec.clone();
    unhashed.hash = String::new();
    let is_keyed = rec.hash.starts_with(anchor::HMAC_PREFIX);
    let expected = match (is_keyed, key) {
        (true, None) => return Err(BadLineHash::KeyNeeded),
        (true, Some(k)) => hash_of(&unhashed, Some(k)),
        (false, _) if *keyed => return Err(BadLineHash::PlainAfterKeyed),
        (false, _) => hash_of(&unhashed, None),
    };
    *keyed |= is_keyed;
    if expected != rec.hash {
        return Err(match is_keyed {
            true => BadLineHash::HmacMismatch,
            false => BadLineHash::HashMismatch,
        });
    }
    Ok(())
}

/// Which records `rosterd audit` shows.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Matches the person's id, email or label, case-insensitively.
    pub person: Option<String>,
    pub platform: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub run_id: Option<String>,
}

impl Query {
    pub fn matches(&self, r: &AuditRecord) -> bool {
        let person_ok = self.person.as_ref().is_none_or(|p| {
            r.person_id.eq_ignore_ascii_case(p)
                || r.person.eq_ignore_ascii_case(p)
                || r.account_id.as_deref() == Some(p.as_str())
        });
        let platform_ok = self.platform.as_ref().is_none_or(|p| r.platform.eq_ignore_ascii_case(p));
        let run_ok = self.run_id.as_ref().is_none_or(|id| &r.run_id == id);
        let time = DateTime::parse_from_rfc3339(&r.time).ok().map(|t| t.with_timezone(&Utc));
        let since_ok = self.since.is_none_or(|s| time.is_some_and(|t| t >= s));
        let until_ok = self.until.is_none_or(|u| time.is_some_and(|t| t <= u));
        person_ok && platform_ok && run_ok && since_ok && until_ok
    }
}

/// Parse `7d`, `12h`, `30m` (humantime's durations, up to about 100 years), or an RFC 3339
/// time, into an instant; a value out of range is an error, never a panic.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SinceError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = crate::limits::parse_duration(text, crate::limits::LONGEST).map_err(SinceError::Duration)?;
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| SinceError::TooEarly(text.to_string()))
}

/// Why `--since` / `--until` was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinceError {
    #[error("{0}; or give an RFC 3339 time such as 2026-01-31T00:00:00Z")]
    Duration(#[source] crate::limits::DurationError),
    #[error("{0:?} reaches before the earliest time rosterd can count; use a shorter duration")]
    TooEarly(String),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(n: usize) -> AuditRecord {
        AuditRecord {
            time: Utc::now().to_rfc3339(),
            run_id: "r1".into(),
            trigger: "test".into(),
            platform: "cake".into(),
            person_id: format!("p{n}"),
            person: format!("p{n}@example.com"),
            account_id: Some(n.to_string()),
            action: "create".into(),
            changes: vec![FieldChange {
                field: "email".into(),
                before: None,
                after: Some(format!("p{n}@example.com")),
            }],
            outcome: "ok".into(),
            detail: None,
            prev: String::new(),
            hash: String::new(),
        }
    }

    fn written(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        for i in 0..n {
            log.append(record(i)).unwrap();
        }
        (dir, path)
    }

    pub(crate) fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
    }

    pub(crate) fn rewrite(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn a_clean_file_verifies_and_reopening_continues_the_chain() {
        let (_d, path) = written(3);
        let log = AuditLog::open(&path).unwrap();
        log.append(record(9)).unwrap();
        assert_eq!(verify(&path).unwrap(), Ok(4));
    }

    #[test]
    fn an_edited_line_is_found() {
        let (_d, path) = written(4);
        let mut l = lines(&path);
        l[2] = l[2].replace("\"ok\"", "\"failed\"");
        rewrite(&path, &l);
        assert_eq!(verify(&path).unwrap().unwrap_err().line, 3);
    }

    #[test]
    fn deleted_inserted_and_reordered_lines_are_found() {
        let (_d, path) = written(4);
        let original = lines(&path);
        let mut deleted = original.clone();
        deleted.remove(1);
        rewrite(&path, &deleted);
        assert_eq!(verify(&path).unwrap().unwrap_err().line, 2);
        let mut inserted = original.clone();
        inserted.insert(2, original[0].clone());
        rewrite(&path, &inserted);
        assert_eq!(verify(&path).unwrap().unwrap_err().line, 3);
        let mut reordered = original.clone();
        reordered.swap(1, 2);
        rewrite(&path, &reordered);
        assert_eq!(verify(&path).unwrap().unwrap_err().line, 2);
    }

    #[test]
    fn a_partial_last_line_is_cut_away_on_open_and_the_chain_goes_on() {
        let (_d, path) = written(3);
        let whole = std::fs::read_to_string(&path).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&whole.as_bytes()[..40]).unwrap();
        drop(f);
        assert!(verify(&path).unwrap().is_err(), "the fragment is not a record");
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
        log.append(record(7)).unwrap();
        assert_eq!(verify(&path).unwrap(), Ok(4));
    }

    #[test]
    fn queries_filter_by_person_platform_and_time() {
        let r = record(1);
        assert!(Query { person: Some("P1@EXAMPLE.COM".into()), ..Default::default() }.matches(&r));
        assert!(!Query { platform: Some("affise".into()), ..Default::default() }.matches(&r));
        let since = parse_since("1h", Utc::now()).unwrap();
        assert!(Query { since: Some(since), ..Default::default() }.matches(&r));
        assert!(parse_since("7 weeks ago", Utc::now()).is_err());
        assert!(parse_since("99999999999d", Utc::now()).is_err());
    }
}
