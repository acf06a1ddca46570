//! Config checks without a running platform: a folder holding a key file, a config text
//! parsed there, and the problems it has by their paths.

use rosterd::config::{Config, Problem};
use tempfile::TempDir;

/// A folder where configs are parsed, with one key file in it.
pub struct ConfigDir(TempDir);

impl ConfigDir {
    pub fn with_key(key_file: &str, key: &str) -> ConfigDir {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join(key_file), key).expect("key file");
        ConfigDir(dir)
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
