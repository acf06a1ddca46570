//! Config checks without a running platform: a folder holding a key file, a config text
//! parsed there, and the problems it has by their paths.

use rosterd::config::{Config, Problem};
use tempfile::TempDir;

/// A folder where configs are parsed, with one key file in it.
pub struct ConfigDir(TempDir, String);

impl ConfigDir {
    pub fn with_key(key_file: &str, key: &str) -> ConfigDir {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join(key_file), key).expect("key file");
        ConfigDir(dir, key_file.into())
    }

    /// A folder with the key file, and [`ConfigDir::one_platform`]'s config for it.
    pub fn with_platform(key: (&str, &str), name: &str, kind: &str, extra: &str) -> (ConfigDir, String) {
        let dir = ConfigDir::with_key(key.0, key.1);
        let text = dir.one_platform(name, kind, extra);
        (dir, text)
    }

    /// A config reading `roster.yaml` into one platform `name` of `kind` that authenticates
    /// with the key file; `extra` is the rest of its entry (indented lines).
    pub fn one_platform(&self, name: &str, kind: &str, extra: &str) -> String {
        format!(
            "source: {{ file: {{ path: roster.yaml }} }}\nplatforms:\n  - name: {name}\n    kind: {kind}\n    api_key_file: {}\n{extra}",
            self.1
        )
    }

    /// The config `text` parses, as `rosterd.yaml` of this folder.
    pub fn parse(&self, text: &str) -> Config {
        Config::parse(text, &self.0.path().join("rosterd.yaml")).expect("a valid config")
    }

    /// The problems of a config that must not parse, and their paths in order.
    pub fn problems(&self, text: &str) -> (Vec<String>, Vec<Problem>) {
        let problems = Config::parse(text, &self.0.path().join("rosterd.yaml")).expect_err("problems");
        (problems.iter().map(|p| p.path.clone()).collect(), problems)
    }
}
