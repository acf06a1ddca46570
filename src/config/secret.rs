//! Secrets in config: only ever by reference (`*_env` or `*_file`), read into `SecretString`.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

impl SecretRef {
    /// From the `X_env` / `X_file` pair of a config entry: exactly one must be set, and an
    /// inline `X` is refused outright so secrets never sit in a config file.
    pub fn from_pair(
        name: &str,
        env: Option<&String>,
        file: Option<&PathBuf>,
        inline: bool,
        base: &Path,
    ) -> Result<SecretRef, String> {
        if inline {
            return Err(format!(
                "inline secrets are not accepted; put it in an environment variable ({name}_env) or a file readable only by rosterd ({name}_file)"
            ));
        }
        match (env, file) {
            (Some(e), None) if !e.trim().is_empty() => Ok(SecretRef::Env(e.clone())),
            (None, Some(f)) => Ok(SecretRef::File(super::resolve(base, f))),
            (Some(_), Some(_)) => Err(format!("set one of {name}_env and {name}_file, not both")),
            _ => Err(format!("missing: set {name}_env (an environment variable) or {name}_file (a file holding it)")),
        }
    }

    /// Read the secret now. Errors name the variable or file, never the value.
    pub fn load(&self) -> Result<SecretString, String> {
        let value = match self {
            SecretRef::Env(var) => std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?,
            SecretRef::File(path) => {
                warn_if_others_can_read(path);
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
        };
        // A trailing newline is an artefact of `echo key > file`, never part of a key.
        let trimmed = value.trim_end_matches(['\n', '\r']).to_string();
        if trimmed.trim().is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        Ok(SecretString::from(trimmed))
    }

    pub fn describe(&self) -> String {
        match self {
            SecretRef::Env(v) => format!("environment variable {v}"),
            SecretRef::File(p) => format!("file {}", p.display()),
        }
    }
}

/// Permission bits that let users other than the owner read a file.
const OTHERS_READ: u32 = 0o044;

/// A secret file other users can read is a leak waiting to happen: say so every time it
/// is read (the key still works, so this warns rather than refuses).
pub fn warn_if_others_can_read(path: &Path) {
    if let Some(mode) = others_can_read(path) {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "this secret file can be read by other users; restrict it with: chmod 600 {}",
            path.display()
        );
    }
}

/// The file's mode when group or others may read it.
pub fn others_can_read(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & OTHERS_READ != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_file_others_can_read_is_flagged_and_a_private_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "k").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(others_can_read(&path), Some(0o644));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(others_can_read(&path), None);
        assert!(SecretRef::File(path).load().is_ok());
    }
}
