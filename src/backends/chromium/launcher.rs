//! Starting a local Chromium that dies with riptide.
//!
//! headless_chrome's own launcher offers no way to set a parent-death signal, so a riptide
//! process killed with SIGKILL (or crashing) used to leave its browsers running. riptide starts
//! Chromium itself, with `PR_SET_PDEATHSIG` set in the child before `exec`, reads the DevTools
//! URL Chromium prints on stderr, and lets headless_chrome connect to it.
//!
//! Linux sends the parent-death signal when the *thread* that forked the child exits, not the
//! process. Browsers are launched from tokio's blocking threads, which retire after ten idle
//! seconds and would take their browsers with them, so every fork happens on one launcher thread
//! that lives as long as the process.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::BoxError;

/// How long Chromium gets to print its DevTools URL.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What Chromium prints once its DevTools endpoint listens.
const LISTENING: &str = "DevTools listening on ";

type Spawn = (Command, mpsc::Sender<std::io::Result<Child>>);

/// A started browser process and its DevTools websocket URL.
pub(crate) struct Started {
    pub child: Child,
    pub ws_url: String,
}

/// Starts `executable` with `args` and `envs`, headless with a DevTools port of its choosing,
/// and waits for its DevTools URL. The process gets SIGKILL if riptide exits first.
pub(crate) fn start(executable: &Path, args: &[OsString], envs: &[(&str, &Path)]) -> Result<Started, BoxError> {
    let mut command = Command::new(executable);
    command
        .args(args)
        // Port 0: Chromium picks a free port itself; choosing one up front races when several
        // browsers start at once.
        .arg("--remote-debugging-port=0")
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
    // calls are allowed: `prctl` and `getppid` are system calls, and nothing here allocates
    // (the error is built from a raw errno).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // riptide may have exited between the fork and the prctl: then no signal would come.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = spawn_on_launcher_thread(command).map_err(Box::new)?;
    let Some(stderr) = child.stderr.take() else {
        stop(&mut child);
        return Err("its stderr was not captured".into());
    };
    let (url_tx, url_rx) = mpsc::channel();
    // Reads the URL, then keeps draining so Chromium never blocks on a full pipe; ends with the
    // process.
    let reader = std::thread::Builder::new()
        .name("riptide-chrome-stderr".into())
        .spawn(move || {
            let mut url_tx = Some(url_tx);
            let mut last = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix(LISTENING) {
                    if let Some(tx) = url_tx.take() {
                        let _ = tx.send(Ok(url.trim().to_string()));
                    }
                } else if url_tx.is_some() {
                    last = line;
                } else {
                    tracing::trace!(target: "riptide::chrome", "{line}");
                }
            }
            if let Some(tx) = url_tx {
                let _ = tx.send(Err(last));
            }
        });
    if let Err(e) = reader {
        stop(&mut child);
        return Err(format!("cannot start a thread to read its output: {e}").into());
    }
    match url_rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(ws_url)) => Ok(Started { child, ws_url }),
        Ok(Err(last)) => {
            stop(&mut child);
            Err(format!("it exited before its DevTools endpoint listened (last output: {last:?})").into())
        }
        Err(_) => {
            stop(&mut child);
            Err(format!("its DevTools endpoint did not listen within {START_TIMEOUT:?}").into())
        }
    }
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
