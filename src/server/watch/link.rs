//! A watched file whose folder is reached through a symbolic link
//! (`current -> releases/v2`, `bazel-bin`): inotify watches the folder the
//! link led to when it was added, so a link pointed elsewhere later would
//! go unseen. Such a watch looks at where its folder leads every
//! [`RELOOK`] and watches the new place when it moved.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a folder reached through a link is resolved again.
pub(super) const RELOOK: Duration = Duration::from_secs(1);

/// Where `dir` leads, when some part of its path is a symbolic link;
/// `None` when none is (or it cannot be resolved).
pub(super) fn resolved_if_linked(dir: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(dir).ok()?;
    let mut prefix = PathBuf::new();
    let mut linked = false;
    for part in absolute.components() {
        prefix.push(part);
        if super::is_symlink(&prefix) {
            linked = true;
            break;
        }
    }
    if !linked {
        return None;
    }
    std::fs::canonicalize(dir).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_through_a_link_is_resolved() {
        let base = std::env::temp_dir().join(format!("lumora-link-{}", std::process::id()));
        let real = base.join("real");
        std::fs::create_dir_all(&real).unwrap();
        let link = base.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(resolved_if_linked(&real), None);
        assert_eq!(
            resolved_if_linked(&link),
            Some(std::fs::canonicalize(&real).unwrap())
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
