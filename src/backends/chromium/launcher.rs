//! Starting a local Chromium that dies with riptide and listens on no port.
//!
//! headless_chrome's own launcher offers no way to set a parent-death signal, so a riptide
//! process killed with SIGKILL (or crashing) used to leave its browsers running. riptide starts
//! Chromium itself, with `PR_SET_PDEATHSIG` set in the child before `exec`, and with
//! `--remote-debugging-pipe`: its DevTools go over two pipes (its fds 3 and 4) that
//! [`pipe_bridge`](super::pipe_bridge) serves to the DevTools clients on a secret URL, so no
//! other user of the machine can reach the browser.
//!
//! Linux sends the parent-death signal when the *thread* that forked the child exits, not the
//! process. Browsers are launched from tokio's blocking threads, which retire after ten idle
//! seconds and would take their browsers with them, so every fork happens on one launcher thread
//! that lives as long as the process.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use crate::error::BoxError;

type Spawn = (Command, mpsc::Sender<std::io::Result<Child>>);

/// A started browser process and the URL its DevTools are served at.
pub(crate) struct Started {
    pub child: Child,
    pub ws_url: String,
}

/// Starts `executable` with `args` and `envs`, headless, its DevTools on a pipe served at a
/// secret local URL. The process gets SIGKILL if riptide exits first.
pub(crate) fn start(executable: &Path, args: &[OsString], envs: &[(&str, &Path)]) -> Result<Started, BoxError> {
    // Chromium reads commands from its fd 3 and writes to its fd 4.
    let (browser_reads, to_browser) = pipe()?;
    let (from_browser, browser_writes) = pipe()?;
    let (child_in, child_out) = (browser_reads.as_raw_fd(), browser_writes.as_raw_fd());
    let mut command = Command::new(executable);
    command
        .args(args)
        .arg("--remote-debugging-pipe")
        // No first tab: riptide opens the one it renders in. Chromium's own (a new-tab page,
        // or `about:blank` when given) would be a renderer kept for nothing.
        .arg("--no-startup-window")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own process group, which its children inherit: stopping the browser then finds
        // children whose parent died first (see `process_tree::members`), and a terminal's
        // Ctrl-C reaches riptide, which closes its browsers itself, not Chromium behind its back.
        .process_group(0);
    for (key, value) in envs {
        command.env(key, value);
    }
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before `exec`, where only async-signal-safe
    // calls are allowed: `prctl`, `getppid`, `fcntl` and `dup2` are system calls, and nothing
    // here allocates (errors are built from a raw errno). The two fds are the child's copies of
    // pipes this function holds open until the spawn returned.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // riptide may have exited between the fork and the prctl: then no signal would come.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            // Copies above 10 first, so neither end is overwritten when the other lands on 3
            // or 4; `dup2` clears close-on-exec on 3 and 4, and exec closes the copies.
            let (input, output) = (
                libc::fcntl(child_in, libc::F_DUPFD_CLOEXEC, 10),
                libc::fcntl(child_out, libc::F_DUPFD_CLOEXEC, 10),
            );
            if input < 0 || output < 0 || libc::dup2(input, 3) < 0 || libc::dup2(output, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = spawn_on_launcher_thread(command).map_err(Box::new)?;
    // The child has its copies; ours would keep the pipe open after the browser exited.
    drop((browser_reads, browser_writes));
    let Some(stderr) = child.stderr.take() else {
        stop(&mut child);
        return Err("its stderr was not captured".into());
    };
    // Drains Chromium's output so it never blocks on a full pipe, keeping the last line for an
    // error; ends with the process.
    let last_line = std::sync::Arc::new(Mutex::new(String::new()));
    let last = last_line.clone();
    let reader = std::thread::Builder::new()
        .name("riptide-chrome-stderr".into())
        .spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tracing::trace!(target: "riptide::chrome", "{line}");
                *crate::sync::lock(&last) = line;
            }
        });
    if let Err(e) = reader {
        stop(&mut child);
        return Err(format!("cannot start a thread to read its output: {e}").into());
    }
    match super::pipe_bridge::serve(to_browser, from_browser) {
        Ok(ws_url) => Ok(Started { child, ws_url }),
        Err(e) => {
            stop(&mut child);
            let last = crate::sync::lock(&last_line).clone();
            Err(format!("{e} (last output: {last:?})").into())
        }
    }
}

/// A pipe, both ends close-on-exec: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd), BoxError> {
    let mut fds = [0; 2];
    // SAFETY: `pipe2` writes two fds into the array it is given, of the right length.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot make a pipe for its DevTools: {}",
            std::io::Error::last_os_error()
        )
        .into());
    }
    // SAFETY: both fds were just opened by `pipe2` and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Forks on the one thread that lives as long as the process (see the module docs).
fn spawn_on_launcher_thread(command: Command) -> std::io::Result<Child> {
    static LAUNCHER: OnceLock<Mutex<Option<mpsc::Sender<Spawn>>>> = OnceLock::new();
    let launcher = LAUNCHER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Spawn>();
        let started = std::thread::Builder::new()
            .name("riptide-chrome-launcher".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            });
        Mutex::new(started.ok().map(|_| tx))
    });
    let sender = crate::sync::lock(launcher).clone();
    let Some(sender) = sender else {
        return Err(std::io::Error::other(
            "the browser launcher thread could not be started",
        ));
    };
    let (reply, answer) = mpsc::channel();
    sender
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the browser launcher thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the browser launcher thread is gone"))?
}
