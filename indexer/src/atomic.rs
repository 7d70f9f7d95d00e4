//! Replacing an index directory in one step, so that a leaf never opens a half-built one.
//!
//! On Linux the new directory and the old one are swapped with `renameat2(RENAME_EXCHANGE)`,
//! which is atomic: at every instant the target path names a complete index. Elsewhere,
//! or on file systems without exchange, the old index is renamed aside first, leaving a
//! short window in which the path is missing but never half-written.

use std::path::Path;

use crate::error::{IndexerError, io_error};

/// Moves the directory `staged` to `target`, replacing any directory already there.
/// The replaced directory is deleted afterwards.
pub fn replace_dir(staged: &Path, target: &Path) -> Result<(), IndexerError> {
    if !target.exists() {
        return std::fs::rename(staged, target).map_err(io_error(format!(
            "renaming {} to {}",
            staged.display(),
            target.display()
        )));
    }
    match exchange(staged, target) {
        Ok(()) => {
            // `staged` now holds the previous index.
            std::fs::remove_dir_all(staged)
                .map_err(io_error(format!("removing the previous index at {}", staged.display())))
        }
        Err(_) => {
            let aside = staged.with_extension("previous");
            std::fs::rename(target, &aside)
                .map_err(io_error(format!("moving the previous index {} aside", target.display())))?;
            std::fs::rename(staged, target).map_err(io_error(format!(
                "renaming {} to {}",
                staged.display(),
                target.display()
            )))?;
            std::fs::remove_dir_all(&aside)
                .map_err(io_error(format!("removing the previous index at {}", aside.display())))
        }
    }
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_an_existing_directory_and_removes_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("index");
        let staged = dir.path().join(".index.building");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old"), "old").unwrap();
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("new"), "new").unwrap();
        replace_dir(&staged, &target).unwrap();
        assert!(target.join("new").exists());
        assert!(!target.join("old").exists());
        assert!(!staged.exists());
    }

    #[test]
    fn moves_into_place_when_nothing_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join("staged");
        std::fs::create_dir(&staged).unwrap();
        replace_dir(&staged, &dir.path().join("index")).unwrap();
        assert!(dir.path().join("index").is_dir());
    }
}
