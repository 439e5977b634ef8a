//! A local Chromium: where its binary is, where its directories go, the command line it gets,
//! and starting it so that it ends with riptide and leaves nothing behind.
//!
//! Killing only the main process leaves children, a profile directory and
//! `/tmp/org.chromium.Chromium.*` files behind. Each browser therefore gets its own directory
//! (profile and `TMPDIR`) under a riptide-owned root, is stopped with its whole process tree,
//! and leftovers of dead riptide processes are swept when a provider starts.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use super::settings::ChromiumSettings;
use super::{flags, launcher, process_tree};
use crate::error::{BoxError, BrowserError, Error, ErrorKind, Result};

/// Where Chromium is looked for when no path is configured, best first: Debian's real binary
/// (not the `/usr/bin/chromium` wrapper script, which costs a shell start), then the usual names.
const DEFAULT_EXECUTABLES: &[&str] = &[
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
];

/// How long a stopping browser gets after SIGTERM before SIGKILL.
pub(crate) const TERMINATE_GRACE: Duration = Duration::from_secs(3);

/// How a provider starts its local browsers: resolved once, when the provider is made.
#[derive(Debug, Clone)]
pub(crate) struct LocalChromium {
    pub executable: PathBuf,
    pub runtime_dir: PathBuf,
    pub extra_args: Vec<String>,
    pub sandbox: bool,
    /// The fresh directory used when the shared one could not be (see
    /// [`default_runtime_dir_in`]): removed when the last clone of this goes, with the provider.
    _fallback: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl LocalChromium {
    /// Resolves `options`: finds the binary (failing with [`BrowserError::NotFound`], naming what
    /// was tried), makes the runtime directory private, sweeps directories left by riptide
    /// processes that no longer run, and turns the proxy and memory limit into flags.
    pub(crate) fn new(options: &ChromiumSettings) -> Result<Self> {
        let executable = find_executable(options.executable.as_deref())?;
        let (runtime_dir, fallback) = match &options.runtime_dir {
            Some(dir) => {
                crate::private_dir::ensure_private_dir(dir, "create the browser runtime directory")?;
                (dir.clone(), None)
            }
            None => default_runtime_dir_in(&std::env::temp_dir())?,
        };
        sweep_leftovers(&runtime_dir);
        let mut extra_args = options.extra_args.clone();
        if let Some(proxy) = &options.proxy {
            // Chromium sends loopback requests around any proxy unless told not to; riptide's
            // static engine does not, and both engines must treat a URL alike.
            extra_args.push(format!("--proxy-server={}", proxy.server()));
            extra_args.push("--proxy-bypass-list=<-loopback>".into());
        }
        if let Some(limit) = options.render_memory_limit {
            // V8 fails an allocation past its heap limit (the page's script stops); memory
            // outside the heap (array buffers, the DOM) is left to the provider's watch.
            extra_args.push(format!("--js-flags=--max-old-space-size={}", (limit / 2) >> 20));
        }
        Ok(Self {
            executable,
            runtime_dir,
            extra_args,
            // Chromium refuses its sandbox as root; elsewhere keep it.
            sandbox: !running_as_root(),
            _fallback: fallback,
        })
    }

    /// Starts a browser in a directory of its own and returns it once its DevTools URL is known.
    /// A failure removes the directory again.
    pub(crate) fn start(&self, hide_automation: bool) -> Result<StartedChromium> {
        // Unique even across providers sharing a runtime directory: two browsers on one profile
        // directory do not start (the second hands off to the first and exits).
        let dir = tempfile::Builder::new()
            .prefix(&format!("b-{}-", std::process::id()))
            .tempdir_in(&self.runtime_dir)
            .map_err(|e| Error::io("create a browser directory in", &self.runtime_dir, e))?
            .keep();
        let (profile, tmp) = (dir.join("profile"), dir.join("tmp"));
        for d in [&profile, &tmp] {
            if let Err(e) = std::fs::create_dir_all(d) {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Error::io("create a browser directory", d, e));
            }
        }
        let args = flags::launch_args(hide_automation, &profile, self.sandbox, &self.extra_args);
        match launcher::start(&self.executable, &args, &[("TMPDIR", &tmp)]) {
            Ok(started) => Ok(StartedChromium {
                pid: started.child.id(),
                child: started.child,
                ws_url: started.ws_url,
                dir,
            }),
            Err(source) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(self.launch_failed(source))
            }
        }
    }

    /// The error of a browser that could not be started or connected to.
    pub(crate) fn launch_failed(&self, source: BoxError) -> Error {
        BrowserError::Launch {
            executable: self.executable.clone(),
            source,
        }
        .into()
    }
}

/// A local browser just started: its process, DevTools URL and directory.
#[derive(Debug)]
pub(crate) struct StartedChromium {
    pub child: Child,
    pub pid: u32,
    pub ws_url: String,
    pub dir: PathBuf,
}

impl StartedChromium {
    /// Stops the browser with its whole tree, reaps it and removes its directory: how a local
    /// browser ends, whether its launch failed after the start or it served its time.
    pub(crate) fn discard(mut self) {
        process_tree::terminate(self.pid, TERMINATE_GRACE);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_executable(explicit: Option<&Path>) -> Result<PathBuf> {
    let from_env = std::env::var_os("RIPTIDE_CHROME_PATH").map(PathBuf::from);
    // An explicitly named browser that is missing is an error, not a reason to pick another.
    if let Some(named) = explicit.map(Path::to_path_buf).or(from_env) {
        return if named.is_file() {
            Ok(named)
        } else {
            Err(BrowserError::NotFound { tried: vec![named] }.into())
        };
    }
    let mut tried = Vec::new();
    for candidate in DEFAULT_EXECUTABLES {
        let path = PathBuf::from(candidate);
        if path.is_file() {
            return Ok(path);
        }
        tried.push(path);
    }
    Err(BrowserError::NotFound { tried }.into())
}

/// `<tmp>/riptide-chrome-<uid>` (`tmp` is `$TMPDIR`): per user, so users sharing `/tmp` do not
/// collide. Anyone can create that path first (in `/tmp`, to keep riptide's browsers from
/// starting); then a fresh directory is used instead, with a warning: made `0700` whatever the
/// umask (other users must not list its profiles or read a browser's `DevToolsActivePort`), and
/// removed when the returned guard drops (issue 28, item 7).
fn default_runtime_dir_in(tmp: &Path) -> Result<(PathBuf, Option<std::sync::Arc<tempfile::TempDir>>)> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
    let shared = tmp.join(format!("riptide-chrome-{uid}"));
    match crate::private_dir::ensure_private_dir(&shared, "create the browser runtime directory") {
        Ok(()) => Ok((shared, None)),
        Err(e) if matches!(e.kind(), ErrorKind::UnsafeDirectory { .. }) => {
            let fresh = tempfile::Builder::new()
                .prefix("riptide-chrome-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir_in(tmp)
                .map_err(|io| Error::io("create a private browser runtime directory in", tmp, io))?;
            tracing::warn!(error = %e, dir = %fresh.path().display(), "using a fresh private directory for the browsers instead");
            Ok((fresh.path().to_path_buf(), Some(std::sync::Arc::new(fresh))))
        }
        Err(e) => Err(e),
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Removes per-browser directories whose riptide process is gone (a crash, or kill -9).
fn sweep_leftovers(runtime_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(runtime_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix("b-"))
            .and_then(|n| n.split('-').next())
        else {
            continue;
        };
        let Ok(owner) = owner.parse::<u32>() else { continue };
        if owner != std::process::id() && process_tree::state(owner).is_none() {
            tracing::info!(dir = %entry.path().display(), "removing a browser directory left by an exited process");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// Issue 28, item 7: with `<tmp>/riptide-chrome-<uid>` made first by another user, the
    /// fresh directory used instead was `0755` (other users could list the profiles and read
    /// `DevToolsActivePort` while pages rendered) and was left behind. It is `0700` and goes
    /// with its guard. Needs root to give a directory away (CI runs as root).
    #[test]
    fn the_fallback_directory_is_private_and_removed() {
        if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
            eprintln!("SKIPPED: giving a directory to another user needs root");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        // Like /tmp: anyone may make a directory in it.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        let taken = tmp.path().join(format!("riptide-chrome-{}", 0));
        std::fs::create_dir(&taken).expect("mkdir");
        std::os::unix::fs::chown(&taken, Some(65534), Some(65534)).expect("chown to nobody");
        let (dir, guard) = default_runtime_dir_in(tmp.path()).expect("a fallback");
        assert_ne!(dir, taken, "the other user's directory is not used");
        assert!(guard.is_some(), "the fallback is ours to remove");
        let mode = std::fs::metadata(&dir).expect("stat").mode() & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
        drop(guard);
        assert!(!dir.exists(), "removed with its guard");
        assert!(taken.exists(), "theirs is left alone");
    }
}
