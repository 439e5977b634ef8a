//! Directories riptide keeps state in (issue 15, item 10): the compile cache, the timeout
//! store's home and the browsers' runtime directory used to be taken as found, though some sit
//! at predictable paths in a shared `/tmp`. A directory of ours that others may write to is now
//! repaired to 0700; one owned by someone else (or reached through their symbolic link) is
//! refused.
//!
//! Another user's directory needs root to make (CI runs as root); elsewhere the tests use `/`,
//! which belongs to root.
#![cfg(all(feature = "redb", feature = "chrome"))]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use riptide::backends::chrome::{ChromeProvider, ChromiumSettings};
use riptide::backends::redb::{RedbLearningStore, RedbModuleCache};
use riptide::error::{BrowserError, ErrorKind};

/// The uid of `nobody`, a user the tests never run as.
const NOBODY: u32 = 65534;

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A directory that belongs to another user: a fresh one given to `nobody` as root, else `/`.
fn someone_elses_dir(parent: &Path) -> PathBuf {
    if running_as_root() {
        let dir = parent.join("theirs");
        std::fs::create_dir(&dir).expect("mkdir");
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
        dir
    } else {
        PathBuf::from("/")
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").mode() & 0o777
}

#[test]
fn our_directories_that_others_can_write_to_are_made_private() {
    let root = tempfile::tempdir().expect("temp dir");
    let cache = root.path().join("wasm-cache");
    let home = root.path().join("home");
    let browsers = root.path().join("riptide-chrome");
    for dir in [&cache, &home, &browsers] {
        std::fs::create_dir(dir).expect("mkdir");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod 777");
    }
    let store = RedbModuleCache::open(&cache).expect("opens");
    assert!(store.has_index(), "the repaired directory is used");
    let _profiles = RedbLearningStore::open(home.join("timeouts.redb")).expect("opens");
    let provider = ChromeProvider::new(ChromiumSettings {
        runtime_dir: Some(browsers.clone()),
        ..ChromiumSettings::default()
    });
    if let Err(e) = &provider {
        // Only a missing Chromium may stop the provider; the directory check comes first.
        assert!(
            matches!(e.kind(), ErrorKind::Browser(BrowserError::NotFound { .. })),
            "{e}"
        );
    }
    for dir in [&cache, &home, &browsers] {
        assert_eq!(mode_of(dir), 0o700, "{} was made private", dir.display());
    }
}

#[test]
fn another_users_directory_is_refused() {
    let root = tempfile::tempdir().expect("temp dir");
    let theirs = someone_elses_dir(root.path());

    let err = ChromeProvider::new(ChromiumSettings {
        runtime_dir: Some(theirs.clone()),
        executable: Some(PathBuf::from("/bin/true")),
        ..ChromiumSettings::default()
    })
    .expect_err("refused");
    assert!(
        matches!(err.kind(), ErrorKind::UnsafeDirectory { path, .. } if *path == theirs),
        "{err}"
    );
    assert!(err.to_string().contains("belongs to user"), "{err}");

    // The cache degrades to compiling in memory rather than failing; nothing is written there.
    let store = RedbModuleCache::open(&theirs).expect("opens degraded");
    assert!(!store.has_index(), "another user's cache directory is not used");
    assert!(!theirs.join("index.redb").exists());

    let err = RedbLearningStore::open(theirs.join("timeouts.redb")).expect_err("refused");
    assert!(matches!(err.kind(), ErrorKind::UnsafeDirectory { .. }), "{err}");
}

#[test]
fn a_symbolic_link_planted_by_another_user_is_refused() {
    if !running_as_root() {
        eprintln!("SKIPPED: making another user's symbolic link needs root");
        return;
    }
    let root = tempfile::tempdir().expect("temp dir");
    // Points at a directory of ours: only the link's owner gives the plant away.
    let ours = root.path().join("ours");
    std::fs::create_dir(&ours).expect("mkdir");
    let link = root.path().join("riptide-chrome");
    std::os::unix::fs::symlink(&ours, &link).expect("symlink");
    std::os::unix::fs::lchown(&link, Some(NOBODY), Some(NOBODY)).expect("lchown");
    let err = ChromeProvider::new(ChromiumSettings {
        runtime_dir: Some(link.clone()),
        executable: Some(PathBuf::from("/bin/true")),
        ..ChromiumSettings::default()
    })
    .expect_err("refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");

    // A link of our own is fine.
    std::os::unix::fs::lchown(&link, Some(0), Some(0)).expect("lchown");
    assert!(
        ChromeProvider::new(ChromiumSettings {
            runtime_dir: Some(link),
            executable: Some(PathBuf::from("/bin/true")),
            ..ChromiumSettings::default()
        })
        .is_ok()
    );
}
