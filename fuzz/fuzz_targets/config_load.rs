//! Config text: `Config::parse` returns problems for bad input and never panics, and a config
//! it accepts builds its source and connectors (what a reload does) without a panic either:
//! every number is range-checked before it reaches a `Duration`.
//!
//! The validator reads secrets from the environment and from files. The harness sets the one
//! variable the seeds name, resolves relative paths under a folder that does not exist, and
//! skips inputs that could name a device or kernel file (`/dev/zero` would be an endless
//! read): that is an operator's choice of secret file, not a parser bug.
#![no_main]

use std::path::Path;
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use rosterd::config::Config;

const CONFIG_PATH: &str = "/nonexistent-rosterd-fuzz/rosterd.yaml";

fn could_name_a_special_file(text: &str) -> bool {
    // A relative path cannot reach them (its base does not exist); a backslash or a tag could
    // spell one through a YAML escape or !!binary.
    text.contains('\\') || text.contains('!') || ["/dev", "/proc", "/sys", "/run"].iter().any(|d| text.contains(d))
}

fuzz_target!(|data: &[u8]| {
    static ENV: Once = Once::new();
    ENV.call_once(|| std::env::set_var("ROSTERD_FUZZ_SECRET", "fuzz-secret"));
    let Ok(text) = std::str::from_utf8(data) else { return };
    if could_name_a_special_file(text) {
        return;
    }
    if let Ok(config) = Config::parse(text, Path::new(CONFIG_PATH)) {
        let _ = rosterd::daemon::reload::build(config);
    }
});
