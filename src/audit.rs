//! The audit trail: one append-only JSON line per attempted change, chained by hash so
//! that an edited, deleted, inserted or reordered line is detectable. Never a secret in it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::FieldChange;

/// The hash that the first line chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit file {path} cannot be written: {source}; check the permissions of state_dir")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the audit file {path} line {line} is not an audit record: {detail}")]
    Corrupt { path: PathBuf, line: usize, detail: String },
}

/// The open audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    inner: Mutex<Writer>,
}

#[derive(Debug)]
struct Writer {
    file: File,
    last_hash: String,
}

impl AuditLog {
    /// Open (or create) the audit file, reading its last line to continue the chain.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            crate::private::create_dir(dir).map_err(io)?;
        }
        drop_partial_last_line(path).map_err(io)?;
        let last_hash = last_hash(path)?;
        let file = crate::private::open_append(path).map_err(io)?;
        Ok(AuditLog { path: path.to_path_buf(), inner: Mutex::new(Writer { file, last_hash }) })
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
        record.hash = hash_of(&record);
        let mut line = serde_json::to_string(&record).unwrap_or_default();
        line.push('\n');
        w.file.write_all(line.as_bytes()).map_err(|source| AuditError::Io { path: self.path.clone(), source })?;
        w.last_hash = record.hash;
        Ok(())
    }

    /// Make the file durable (end of a run, shutdown).
    pub fn sync(&self) -> Result<(), AuditError> {
        let w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        w.file.sync_data().map_err(|source| AuditError::Io { path: self.path.clone(), source })
    }
}

/// The hash of a record whose `hash` field is empty.
fn hash_of(record: &AuditRecord) -> String {
    let body = serde_json::to_string(record).unwrap_or_default();
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

fn last_hash(path: &Path) -> Result<String, AuditError> {
    let mut last = GENESIS.to_string();
    for (i, rec) in read_records(path)?.enumerate() {
        last = rec.map_err(|detail| AuditError::Corrupt { path: path.to_path_buf(), line: i + 1, detail })?.hash;
    }
    Ok(last)
}

/// Every record of the file, in order; a missing file has none.
pub fn read_records(path: &Path) -> Result<impl Iterator<Item = Result<AuditRecord, String>>, AuditError> {
    let file = match File::open(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(AuditError::Io { path: path.to_path_buf(), source }),
    };
    let lines = file.into_iter().flat_map(|f| BufReader::new(f).lines());
    Ok(lines.filter(|l| !l.as_ref().is_ok_and(|l| l.trim().is_empty())).map(|l| {
        let line = l.map_err(|e| e.to_string())?;
        serde_json::from_str::<AuditRecord>(&line).map_err(|e| e.to_string())
    }))
}

/// Where a chain check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    pub line: usize,
    pub reason: String,
}

/// Check the hash chain line by line; returns the number of lines verified.
pub fn verify(path: &Path) -> Result<Result<usize, VerifyFailure>, AuditError> {
    let mut prev = GENESIS.to_string();
    let mut count = 0;
    for (i, rec) in read_records(path)?.enumerate() {
        let line = i + 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => return Ok(Err(VerifyFailure { line, reason: format!("not an audit record: {e}") })),
        };
        if rec.prev != prev {
            return Ok(Err(VerifyFailure {
                line,
                reason: "does not chain to the line before it (a line was deleted, inserted or moved)".into(),
            }));
        }
        let mut unhashed = rec.clone();
        unhashed.hash = String::new();
        if hash_of(&unhashed) != rec.hash {
            return Ok(Err(VerifyFailure {
                line,
                reason: "its content does not match its hash (the line was edited)".into(),
            }));
        }
        prev = rec.hash;
        count += 1;
    }
    Ok(Ok(count))
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
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = crate::config::limits::parse_duration(text, crate::config::limits::LONGEST)
        .map_err(|e| format!("{e}; or give an RFC 3339 time such as 2026-01-31T00:00:00Z"))?;
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| format!("{text:?} reaches before the earliest time rosterd can count; use a shorter duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> AuditRecord {
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

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
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
