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
pub(super) fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is parenthesized and may contain spaces; fields follow the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// `root` and all its descendants alive now.
pub(super) fn members(root: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return vec![root];
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut tree: HashSet<u32> = HashSet::from([root]);
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
pub(super) fn pss_bytes(root: u32) -> Option<u64> {
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
pub(super) fn terminate(root: u32, grace: Duration) {
    let tree = members(root);
    for pid in &tree {
        signal(*pid, libc::SIGTERM);
        // A stopped (SIGSTOPped) process only acts on SIGTERM once continued.
        signal(*pid, libc::SIGCONT);
    }
    let running = |pid: &u32| matches!(state(*pid), Some(s) if s != 'Z' && s != 'X');
    let started = Instant::now();
    while tree.iter().any(running) {
        if started.elapsed() >= grace {
            for pid in tree.iter().filter(|p| running(p)) {
                signal(*pid, libc::SIGKILL);
            }
            // SIGKILL cannot be ignored; the kernel needs only moments to finish it.
            let killed = Instant::now();
            while tree.iter().any(running) && killed.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(5));
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
