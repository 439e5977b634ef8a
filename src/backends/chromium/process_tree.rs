//! A local browser's process tree, read from `/proc`: who belongs to it, how much memory it
//! uses, and stopping all of it.
//!
//! Chromium is a main process with renderer, GPU, network and zygote children. Killing only the
//! main process leaves children behind (and a profile directory they still write to), so riptide
//! stops the whole tree and waits until every member is gone.

use std::collections::HashSet;
use std::fs;
use std::time::{Duration, Instant};

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, `T`, ...), `None` if the process is gone.
pub(crate) fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesized and may contain spaces; fields follow the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// Whether `pid` is on its way out though not yet a zombie: a SIGKILL is pending for it, or it
/// is exiting (`PF_EXITING` in `/proc/<pid>/stat`'s flags). A killed browser closes its
/// DevTools socket while it exits, before its state turns `Z`, so a failed call can be seen
/// before the state says why.
pub(crate) fn dying(pid: u32) -> bool {
    const PF_EXITING: u64 = 0x4;
    const SIGKILL_BIT: u64 = 1 << (9 - 1);
    let exiting = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .is_some_and(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, fields)| fields.split_whitespace().nth(6)?.parse::<u64>().ok())
                .is_some_and(|flags| flags & PF_EXITING != 0)
        });
    let killed = fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .is_some_and(|status| {
            status
                .lines()
                .filter_map(|line| line.strip_prefix("ShdPnd:").or_else(|| line.strip_prefix("SigPnd:")))
                .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
                .any(|mask| mask & SIGKILL_BIT != 0)
        });
    exiting || killed
}

/// The parent and the process group of `pid`, from `/proc/<pid>/stat`.
fn parent_and_group(pid: u32) -> Option<(u32, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(1);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// `root` and all its descendants alive now, and every process of the group `root` leads.
///
/// The launcher starts Chromium as the leader of its own process group, which its children
/// inherit. Descent alone misses a child whose parent died first (it is reparented, and then
/// nobody's descendant): a killed browser's renderers and zygote take a moment to notice, and
/// under load that moment outlasts a shutdown. The group still names them.
pub(crate) fn members(root: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![root];
    };
    let processes: Vec<(u32, u32, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| parent_and_group(pid).map(|(ppid, group)| (pid, ppid, group)))
        .collect();
    let parents: Vec<(u32, u32)> = processes.iter().map(|&(pid, ppid, _)| (pid, ppid)).collect();
    let mut tree: HashSet<u32> = processes
        .iter()
        .filter(|&&(_, _, group)| group == root)
        .map(|&(pid, _, _)| pid)
        .chain([root])
        .collect();
    // Parents usually precede children in pid order, but not always: iterate to a fixed point.
    loop {
        let before = tree.len();
        for (pid, ppid) in &parents {
            if tree.contains(ppid) {
                tree.insert(*pid);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    let mut out: Vec<u32> = tree.into_iter().collect();
    out.sort_unstable();
    out
}

/// Proportional set size of the tree in bytes (shared pages divided among their users), from
/// `smaps_rollup`. Members that vanish while reading are skipped.
pub(crate) fn pss_bytes(root: u32) -> Option<u64> {
    let mut total = 0u64;
    let mut any = false;
    for pid in members(root) {
        let Ok(rollup) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        if let Some(kb) = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            total += kb * 1024;
            any = true;
        }
    }
    any.then_some(total)
}

fn signal(pid: u32, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: kill(2) has no memory-safety preconditions; a stale pid at worst gets ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Stops the tree rooted at `root`: SIGTERM to every member, then SIGKILL to whatever is still
/// running after `grace`. Returns once no member runs (zombies of our own child are left for
/// the caller to reap). `root`'s own children are collected before signalling, since they are
/// reparented the moment `root` dies.
pub(crate) fn terminate(root: u32, grace: Duration) {
    let tree = members(root);
    for pid in &tree {
        signal(*pid, libc::SIGTERM);
        // A stopped (SIGSTOPped) process only acts on SIGTERM once continued.
        signal(*pid, libc::SIGCONT);
    }
    if wait_exited(&tree, Instant::now() + grace) {
        return;
    }
    for pid in &tree {
        signal(*pid, libc::SIGKILL);
    }
    // SIGKILL cannot be ignored; the kernel needs only moments to finish it.
    wait_exited(&tree, Instant::now() + Duration::from_secs(5));
}

fn running(pid: u32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// Whether process `pid` (a local browser) still runs: not a zombie (a killed browser stays one
/// until reaped), and not killed or exiting on its way there.
pub(crate) fn alive(pid: u32) -> bool {
    running(pid) && !dying(pid)
}

/// Waits until every process in `pids` has exited, or `deadline`; true if all did.
///
/// A pidfd (Linux 5.3+) becomes readable when its process exits, so this sleeps in `poll` until
/// the event rather than polling `/proc`; kernels without pidfds fall back to polling.
fn wait_exited(pids: &[u32], deadline: Instant) -> bool {
    for &pid in pids {
        let Ok(raw_pid) = libc::c_int::try_from(pid) else {
            continue;
        };
        // SAFETY: pidfd_open(2) takes two integers and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, 0) };
        if fd < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
                continue; // already gone
            }
            while running(pid) {
                if Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        }
        let fd = fd as libc::c_int;
        let mut pollfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut exited = false;
        loop {
            let ms = deadline
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as libc::c_int;
            // SAFETY: `pollfd` is a valid, exclusively borrowed pollfd for the call's duration.
            let ready = unsafe { libc::poll(&mut pollfd, 1, ms) };
            if ready > 0 {
                exited = true;
                break;
            }
            let interrupted = ready < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
            if !interrupted {
                break; // timed out, or poll failed
            }
        }
        // SAFETY: `fd` came from pidfd_open above and is closed exactly once.
        unsafe { libc::close(fd) };
        if !exited && running(pid) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_not_dying_and_a_killed_one_is_no_longer_running() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("coreutils' sleep");
        let pid = child.id();
        assert!(!dying(pid));
        assert!(alive(pid));
        child.kill().expect("SIGKILL a child of ours");
        // Killed: pending, exiting or a zombie, depending on when it is looked at; never running.
        assert!(!alive(pid));
        child.wait().expect("reap");
        assert_eq!(state(pid), None);
    }

    #[test]
    fn a_child_whose_parent_died_first_is_still_stopped_with_its_group() {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        // A shell leading its own group (as the launcher starts Chromium) starts a `sleep`,
        // then is killed: the sleep is reparented, nobody's descendant any more.
        let mut shell = std::process::Command::new("sh")
            .args(["-c", "sleep 60 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("sh");
        let root = shell.id();
        let mut line = String::new();
        let stdout = shell.stdout.take().expect("piped");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the sleep's pid");
        let orphan: u32 = line.trim().parse().expect("a pid");
        shell.kill().expect("SIGKILL the shell");
        shell.wait().expect("reap");
        assert!(
            super::alive(orphan) && parent_and_group(orphan).is_some_and(|(p, _)| p != root),
            "the sleep outlived its parent"
        );
        assert!(members(root).contains(&orphan), "found by its group");
        terminate(root, Duration::from_millis(200));
        assert!(!super::alive(orphan), "stopped with its group");
    }
}
