//! The audit trail's anchor and key: the chain's head (line count and last hash) kept in
//! the store at every append, so lines cut from the end of `audit.jsonl` are found; and the
//! optional HMAC key (`audit.hmac_key_file`) that makes a consistent rewrite detectable too.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The hash that the first line of the audit trail chains to (and an empty head holds).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The prefix of a line hash made with the key (a plain one is 64 hex digits).
pub const HMAC_PREFIX: &str = "hmac:";

/// The chain's head as last written: `lines` lines, the last with hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub lines: u64,
    pub hash: String,
    /// HMAC of `lines` and `hash` when a key is set, so the anchor cannot be forged either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// Why the head could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("{0}")]
    Store(#[from] sled::Error),
    #[error("the audit anchor in the store is unreadable: {0}")]
    Unreadable(#[source] serde_json::Error),
    #[error("{0}")]
    Encode(#[source] serde_json::Error),
}

/// The audit key given is too short to be a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key is shorter than {MIN_KEY_LEN} bytes; make one with: head -c 32 /dev/urandom | base64")]
pub struct KeyTooShort;

/// Where the head is kept (the store; a map in tests).
pub trait HeadStore: Send + Sync + std::fmt::Debug {
    fn load(&self) -> Result<Option<Head>, AnchorError>;
    fn save(&self, head: &Head) -> Result<(), AnchorError>;
    /// Make the saved head durable (end of a run, shutdown).
    fn flush(&self) -> Result<(), AnchorError>;
}

/// The head in the store's `audit_head` tree.
#[derive(Debug, Clone)]
pub struct SledHead(pub sled::Tree);

const HEAD_KEY: &[u8] = b"head";

impl HeadStore for SledHead {
    fn load(&self) -> Result<Option<Head>, AnchorError> {
        let Some(bytes) = self.0.get(HEAD_KEY)? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(AnchorError::Unreadable)
    }

    fn save(&self, head: &Head) -> Result<(), AnchorError> {
        let bytes = serde_json::to_vec(head).map_err(AnchorError::Encode)?;
        self.0.insert(HEAD_KEY, bytes)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), AnchorError> {
        self.0.flush()?;
        Ok(())
    }
}

/// The HMAC key of the chain. Never printed: `Debug` shows nothing of it.
#[derive(Clone)]
pub struct AuditKey(SecretString);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// The shortest key accepted: 16 bytes (`head -c 32 /dev/urandom | base64` gives 44).
pub const MIN_KEY_LEN: usize = 16;

impl AuditKey {
    pub fn new(key: SecretString) -> Result<AuditKey, KeyTooShort> {
        if key.expose_secret().len() < MIN_KEY_LEN {
            return Err(KeyTooShort);
        }
        Ok(AuditKey(key))
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        // HMAC takes keys of any length; the error branch cannot happen.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.expose_secret().as_bytes()) else {
            return String::new();
        };
        for p in parts {
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether two configs name the same key (or both none): a reload cannot swap the key
    /// of the open trail.
    pub fn same(a: Option<&AuditKey>, b: Option<&AuditKey>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => a.0.expose_secret() == b.0.expose_secret(),
            (a, b) => a.is_none() && b.is_none(),
        }
    }

    /// A line's keyed hash: `hmac:` and the HMAC over the previous hash and the line's body.
    pub fn line_hash(&self, prev: &str, body: &str) -> String {
        format!("{HMAC_PREFIX}{}", self.mac(&[prev.as_bytes(), body.as_bytes()]))
    }

    /// The anchor's MAC: over a label, the line count and the last hash.
    pub fn head_mac(&self, lines: u64, hash: &str) -> String {
        self.mac(&[b"rosterd-audit-head", lines.to_string().as_bytes(), b"\n", hash.as_bytes()])
    }

    /// The head for `lines` and `hash`, with its MAC.
    pub fn head(&self, lines: u64, hash: String) -> Head {
        Head { mac: Some(self.head_mac(lines, &hash)), lines, hash }
    }
}

/// How the file compares with its anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// The anchored line is where the head says (the file may have more lines after it:
    /// a rosterd killed before its store was flushed).
    Fits { after: u64 },
    /// Lines were cut, or the anchored line was rewritten, or the anchor's MAC is wrong.
    Broken(String),
}

/// Compare a file of `lines` lines, whose line number `head.lines` has hash `anchored`
/// (`None` for no such line), with the head; `key` checks the head's MAC.
pub fn fit(lines: u64, anchored: Option<&str>, head: &Head, key: Option<&AuditKey>) -> Fit {
    if let (Some(key), Some(mac)) = (key, &head.mac) {
        if key.head_mac(head.lines, &head.hash) != *mac {
            return Fit::Broken(
                "the anchor's MAC does not match audit.hmac_key_file: the anchor was forged, or the key changed".into(),
            );
        }
    }
    if lines < head.lines {
        let cut = head.lines - lines;
        return Fit::Broken(format!(
            "the trail has {lines} line(s) but {} were written: the last {cut} line(s) were cut",
            head.lines
        ));
    }
    let anchored = if head.lines == 0 { Some(GENESIS) } else { anchored };
    if anchored != Some(head.hash.as_str()) {
        return Fit::Broken(format!(
            "line {} does not have the anchored hash: the trail was rewritten up to there",
            head.lines
        ));
    }
    Fit::Fits { after: lines - head.lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::new(SecretString::from("0123456789abcdef-key")).unwrap()
    }

    #[test]
    fn a_short_key_is_refused_and_debug_shows_nothing_of_it() {
        assert!(AuditKey::new(SecretString::from("short")).is_err());
        assert_eq!(format!("{:?}", key()), "AuditKey(..)");
        assert!(AuditKey::same(Some(&key()), Some(&key())) && AuditKey::same(None, None));
        assert!(!AuditKey::same(Some(&key()), None));
    }

    #[test]
    fn cut_rewritten_and_forged_heads_are_broken_and_a_lagging_one_fits() {
        let head = key().head(5, "h4".into());
        assert_eq!(fit(5, Some("h4"), &head, Some(&key())), Fit::Fits { after: 0 });
        assert_eq!(fit(5, Some("h2"), &key().head(3, "h2".into()), Some(&key())), Fit::Fits { after: 2 });
        assert!(matches!(fit(2, None, &head, None), Fit::Broken(r) if r.contains("last 3 line(s) were cut")));
        assert!(matches!(fit(5, Some("x"), &head, None), Fit::Broken(_)));
        let forged = Head { mac: Some("00".into()), ..head.clone() };
        assert!(matches!(fit(5, Some("h4"), &forged, Some(&key())), Fit::Broken(r) if r.contains("MAC")));
        let empty = Head { lines: 0, hash: GENESIS.into(), mac: None };
        assert_eq!(fit(0, None, &empty, None), Fit::Fits { after: 0 });
    }
}

/// The anchored trail end to end: cuts, lagging anchors, rewrites with and without the key.
#[cfg(test)]
mod trail_tests {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use super::*;
    use crate::audit::tests::{lines, record, rewrite};
    use crate::audit::{verify, verify_anchored, AuditLog, AuditRecord, VerifyFailure};

    /// The head kept in memory, shared between opens like the store's tree.
    #[derive(Debug, Clone, Default)]
    struct MemHead(std::sync::Arc<Mutex<Option<Head>>>);

    impl HeadStore for MemHead {
        fn load(&self) -> Result<Option<Head>, AnchorError> {
            Ok(self.0.lock().unwrap().clone())
        }
        fn save(&self, head: &Head) -> Result<(), AnchorError> {
            *self.0.lock().unwrap() = Some(head.clone());
            Ok(())
        }
        fn flush(&self) -> Result<(), AnchorError> {
            Ok(())
        }
    }

    fn key(k: &str) -> AuditKey {
        AuditKey::new(k.repeat(16).into()).unwrap()
    }

    fn anchored(n: usize, key: Option<AuditKey>) -> (tempfile::TempDir, PathBuf, MemHead) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let head = MemHead::default();
        let log = AuditLog::open_anchored(&path, Box::new(head.clone()), key).unwrap();
        for i in 0..n {
            log.append(record(i)).unwrap();
        }
        (dir, path, head)
    }

    fn verify_with(path: &Path, head: &MemHead, key: Option<&AuditKey>) -> Result<usize, VerifyFailure> {
        verify_anchored(path, head.load().unwrap().as_ref(), key).unwrap()
    }

    #[test]
    fn lines_cut_from_the_end_fail_verify_and_are_written_into_the_trail_at_the_next_open() {
        let (_d, path, head) = anchored(6, None);
        assert_eq!(verify_with(&path, &head, None), Ok(6));
        let l = lines(&path);
        rewrite(&path, &l[..3]);
        assert_eq!(verify(&path).unwrap(), Ok(3), "the chain alone cannot see it");
        let f = verify_with(&path, &head, None).unwrap_err();
        assert!(f.reason.contains("the last 3 line(s) were cut"), "{f:?}");
        let log = AuditLog::open_anchored(&path, Box::new(head.clone()), None).unwrap();
        log.append(record(9)).unwrap();
        let f = verify_with(&path, &head, None).unwrap_err();
        assert_eq!(f.line, 4, "{f:?}");
        assert!(f.reason.contains("were cut"), "{f:?}");
    }

    #[test]
    fn a_killed_rosterds_unanchored_lines_are_anchored_at_the_next_open() {
        let (_d, path, head) = anchored(3, None);
        let lagging = head.load().unwrap();
        let log = AuditLog::open(&path).unwrap();
        log.append(record(4)).unwrap();
        assert!(verify_with(&path, &head, None).unwrap_err().reason.contains("1 line(s) after the anchored line 3"));
        *head.0.lock().unwrap() = lagging;
        drop(AuditLog::open_anchored(&path, Box::new(head.clone()), None).unwrap());
        assert_eq!(verify_with(&path, &head, None), Ok(4));
    }

    #[test]
    fn a_forged_anchor_fails_with_the_key() {
        let k = key("k");
        let (_d, path, head) = anchored(5, Some(k.clone()));
        let l = lines(&path);
        rewrite(&path, &l[..2]);
        let mut h = head.load().unwrap().unwrap();
        let hash2: AuditRecord = serde_json::from_str(&l[1]).unwrap();
        h.lines = 2;
        h.hash = hash2.hash;
        head.save(&h).unwrap();
        assert!(verify_with(&path, &head, Some(&k)).unwrap_err().reason.contains("MAC"));
    }
}
