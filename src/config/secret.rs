//! Secrets in config: only ever by reference (`*_env` or `*_file`), read into `SecretString`.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

/// Why a secret reference was refused or its secret could not be read. Never holds the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("inline secrets are not accepted; put it in an environment variable ({name}_env) or a file readable only by rosterd ({name}_file)")]
    Inline { name: String },
    #[error("set one of {name}_env and {name}_file, not both")]
    Both { name: String },
    #[error("missing: set {name}_env (an environment variable) or {name}_file (a file holding it)")]
    Missing { name: String },
    #[error("{} names systemd's credentials folder, but CREDENTIALS_DIRECTORY is not set: run rosterd from its unit with LoadCredential={rest}:/etc/rosterd/{rest}, or give the file's own path", path.display())]
    NoCredentialsDirectory { path: PathBuf, rest: String },
    #[error("environment variable {var} is not set")]
    EnvUnset { var: String, source: std::env::VarError },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The variable or file (described) holds nothing.
    #[error("{0} is empty")]
    Empty(String),
}

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
    ) -> Result<SecretRef, SecretError> {
        let name = name.to_string();
        if inline {
            return Err(SecretError::Inline { name });
        }
        match (env, file) {
            (Some(e), None) if !e.trim().is_empty() => Ok(SecretRef::Env(e.clone())),
            (None, Some(f)) => Ok(SecretRef::File(super::resolve(base, &credentials_path(f)?))),
            (Some(_), Some(_)) => Err(SecretError::Both { name }),
            _ => Err(SecretError::Missing { name }),
        }
    }

    /// Read the secret now. Errors name the variable or file, never the value.
    pub fn load(&self) -> Result<SecretString, SecretError> {
        let value = match self {
            SecretRef::Env(var) => {
                std::env::var(var).map_err(|source| SecretError::EnvUnset { var: var.clone(), source })?
            }
            SecretRef::File(path) => {
                warn_if_others_can_read(path);
                std::fs::read_to_string(path).map_err(|source| SecretError::Read { path: path.clone(), source })?
            }
        };
        // A trailing newline is an artefact of `echo key > file`, never part of a key.
        let trimmed = value.trim_end_matches(['\n', '\r']).to_string();
        if trimmed.trim().is_empty() {
            return Err(SecretError::Empty(self.describe()));
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

/// The prefixes that name systemd's credentials folder (`LoadCredential=`): `%d` as in the
/// unit file, or the variable systemd sets.
const CREDENTIALS_PREFIXES: &[&str] = &["%d/", "$CREDENTIALS_DIRECTORY/", "${CREDENTIALS_DIRECTORY}/"];

/// A secret path under `%d/` or `$CREDENTIALS_DIRECTORY/` is taken from the credentials
/// folder systemd gives the service; other paths are unchanged.
pub fn credentials_path(path: &Path) -> Result<PathBuf, SecretError> {
    let text = path.to_string_lossy();
    let Some(rest) = CREDENTIALS_PREFIXES.iter().find_map(|p| text.strip_prefix(p)) else {
        return Ok(path.to_path_buf());
    };
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(rest)),
        _ => Err(SecretError::NoCredentialsDirectory { path: path.to_path_buf(), rest: rest.to_string() }),
    }
}

/// `check-config`: a secret file every local user can read is a problem (with the fix);
/// one its group can read is a warning (a Kubernetes `fsGroup` makes secrets group-readable).
pub fn file_mode_findings(files: &[(String, PathBuf)]) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    for (key, path) in files {
        let Some(mode) = others_can_read(path) else { continue };
        let fix = format!("restrict it with: chmod 600 {}", path.display());
        if mode & 0o004 != 0 {
            problems.push(format!("{key}: {} can be read by every user (mode {mode:o}); {fix}", path.display()));
        } else {
            warnings.push(format!("{key}: {} can be read by its group (mode {mode:o}); {fix}", path.display()));
        }
    }
    (problems, warnings)
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
        assert!(SecretRef::File(path.clone()).load().is_ok());
        let files = vec![("platforms[0].api_key_file".to_string(), path.clone())];
        assert_eq!(file_mode_findings(&files), (vec![], vec![]));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(file_mode_findings(&files).1.len(), 1, "group-readable: a warning");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
        let (problems, _) = file_mode_findings(&files);
        assert!(
            problems[0].starts_with("platforms[0].api_key_file: ") && problems[0].contains("chmod 600"),
            "{problems:?}"
        );
    }

    #[test]
    fn credentials_paths_take_systemds_folder_and_say_what_to_do_without_it() {
        std::env::remove_var("CREDENTIALS_DIRECTORY");
        assert_eq!(credentials_path(Path::new("/etc/k")).unwrap(), PathBuf::from("/etc/k"));
        assert!(credentials_path(Path::new("%d/scim-token"))
            .unwrap_err()
            .to_string()
            .contains("LoadCredential=scim-token:"));
        std::env::set_var("CREDENTIALS_DIRECTORY", "/run/credentials/rosterd.service");
        for p in ["%d/scim-token", "$CREDENTIALS_DIRECTORY/scim-token", "${CREDENTIALS_DIRECTORY}/scim-token"] {
            assert_eq!(
                credentials_path(Path::new(p)).unwrap(),
                PathBuf::from("/run/credentials/rosterd.service/scim-token")
            );
        }
        std::env::remove_var("CREDENTIALS_DIRECTORY");
    }
}
