//! Directories riptide keeps its state in, made safe to use before anything is put in them.
//!
//! Some live at predictable paths (`$TMPDIR/riptide-chrome-<uid>` in a shared `/tmp`, a cache
//! directory someone else could create first). One made by another user, or writable by
//! others, would let them plant profile files for riptide's browsers, swap cached machine code,
//! or watch what is crawled. So a directory is created `0700`; an existing one must belong to
//! the user running riptide (the directory and, if it is a symbolic link, the link too); one of
//! ours that group or others may write to is repaired to `0700`; anything else is refused.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` (and missing parents) `0700`, or checks and repairs an existing one.
pub(crate) fn ensure_private_dir(dir: &Path, action: &'static str) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(action, dir, e))?;
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| Error::io("find out which user runs riptide from", "/proc/self", e))?;
    let refuse = |reason: String| Error::unsafe_directory(dir, reason);
    let link = std::fs::symlink_metadata(dir).map_err(|e| Error::io(action, dir, e))?;
    if link.file_type().is_symlink() && link.uid() != me {
        return Err(refuse(format!(
            "it is a symbolic link made by user {}, not by you (user {me})",
            link.uid()
        )));
    }
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(action, dir, e))?;
    if meta.uid() != me {
        return Err(refuse(format!(
            "it belongs to user {}, not to you (user {me})",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("make private (0700) the directory", dir, e))?;
        tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"), "others could write to this directory; made it private (0700)");
    }
    Ok(())
}
