//! Private files: the state directory is 0700 and every file rosterd writes (store, audit
//! trail, `plan --out`) is 0600, whatever the umask of the shell, cron job or unit that
//! started it, because they hold names and emails.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every folder rosterd creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file rosterd writes.
pub const FILE_MODE: u32 = 0o600;

/// Make files this process creates private from now on (sled's own files included), and
/// return the previous mask. Called once at start-up by the command line.
pub fn restrict_umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // mode_t is u32 on Linux and u16 elsewhere.
    #[allow(clippy::useless_conversion)]
    let old = old.as_raw_mode().into();
    old
}

/// Create `dir` (and its parents) and make `dir` itself 0700, also when it already existed
/// with a wider mode (made by an older rosterd, or by hand).
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Write a whole file as 0600 (an existing file is narrowed first, so no byte is ever
/// written while others can read it).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)
}

/// Open a file for appending, created as 0600 and narrowed to 0600 when it exists.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).mode(FILE_MODE).open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Narrow everything under `dir` (sled's files and folders) to 0600 / 0700.
pub fn tighten_tree(dir: &Path) -> std::io::Result<()> {
    tighten(dir, DIR_MODE)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            tighten_tree(&entry.path())?;
        } else if entry.file_type()?.is_file() {
            tighten(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

/// Set `mode` when the current one lets group or others in.
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn wide_dirs_and_files_are_narrowed_and_new_ones_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("plan.json");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        write(&file, b"new").unwrap();
        assert_eq!((mode(&file), std::fs::read_to_string(&file).unwrap().as_str()), (0o600, "new"));
        let log = dir.join("sub").join("audit.jsonl");
        create_dir(log.parent().unwrap()).unwrap();
        drop(open_append(&log).unwrap());
        assert_eq!(mode(&log), 0o600);
        std::fs::set_permissions(&log, Permissions::from_mode(0o664)).unwrap();
        tighten_tree(&dir).unwrap();
        assert_eq!((mode(&log), mode(log.parent().unwrap())), (0o600, 0o700));
    }
}
