//! What came of a step and of a run, as types. Their wire forms (`as_str`, serde) are the
//! exact words the audit trail, the store and the JSON output have always carried.

use serde::{Deserialize, Serialize};

/// An enum's `as_str` (its wire word) and its `Display` (the same word), from one table of its
/// variants' words (a macro: the orphan rule forbids one blanket `Display` for every worded enum).
macro_rules! worded {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $name {
            $(#[$doc])*
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// What came of one step (or group step) on a platform, as its audit line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The platform took the change.
    Ok,
    /// The platform refused it, or it could not be sent.
    Failed,
    /// A guard held it back; it waits for approval.
    Held,
    /// The plan could not decide it (reported, never sent).
    Conflict,
    /// rosterd stopped before the answer; the next plan checks the account again.
    Unknown,
    /// A held step released by `rosterd approve`.
    Released,
    /// The audit file does not fit its anchor in the store (the trail's own line).
    Broken,
}

worded!(
    /// The word written to the audit trail.
    Outcome {
        Ok => "ok",
        Failed => "failed",
        Held => "held",
        Conflict => "conflict",
        Unknown => "unknown",
        Released => "released",
        Broken => "broken",
    }
);

/// How a whole run ended, as the store's run record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// Every platform planned and every step applied.
    Ok,
    /// A step or a platform failed; the rest applied.
    Partial,
    /// rosterd was stopping: some steps were not started (they run next time).
    Interrupted,
}

worded!(
    /// The word kept in the store and shown in the log.
    RunResult { Ok => "ok", Partial => "partial", Interrupted => "interrupted" }
);

/// A run result compares with its stored word (what older code and tests hold).
impl PartialEq<&str> for RunResult {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_words_are_the_ones_always_written() {
        let all = [
            Outcome::Ok,
            Outcome::Failed,
            Outcome::Held,
            Outcome::Conflict,
            Outcome::Unknown,
            Outcome::Released,
            Outcome::Broken,
        ];
        let words: Vec<String> = all.iter().map(|o| serde_json::to_string(o).unwrap_or_default()).collect();
        assert_eq!(
            words,
            ["\"ok\"", "\"failed\"", "\"held\"", "\"conflict\"", "\"unknown\"", "\"released\"", "\"broken\""]
        );
        for o in all {
            assert_eq!(serde_json::to_string(&o).ok(), Some(format!("\"{}\"", o.as_str())));
        }
        for r in [RunResult::Ok, RunResult::Partial, RunResult::Interrupted] {
            assert_eq!(serde_json::to_string(&r).ok(), Some(format!("\"{r}\"")));
            assert_eq!(serde_json::from_str::<RunResult>(&format!("\"{r}\"")).ok(), Some(r));
        }
        assert_eq!(RunResult::Partial.as_str(), "partial");
    }
}
