//! Stopping the processes a test started, and only those.
//!
//! A test that starts a server in a process group of its own stops the whole group, so the
//! server's helpers go with it. The group id goes to the kernel as a number through `killpg`,
//! never through a `kill` command line: procps' `kill -KILL -16` reads `-16` as more options and
//! signals every process the caller may reach. And a group is signalled only after checking
//! that it is the child's own (the child leads it) and that its id is above 1: group 0 would be
//! the test's own group, and 1 belongs to init.

use std::process::Child;

pub use nix::sys::signal::Signal;
use nix::sys::signal::{kill, killpg};
use nix::unistd::{Pid, getpgid};

/// Why a group was not signalled.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The id is 0, 1 or does not fit a pid.
    BadId(u32),
    /// The process does not lead a group of its own (its group is `pgid`).
    NotALeader {
        /// The process.
        pid: u32,
        /// The group it is in.
        pgid: i32,
    },
    /// The process is gone (or cannot be looked at).
    Gone(u32),
}

/// Sends `signal` to the process group that `pid` leads. Refuses, and sends nothing, unless
/// `pid` is above 1 and is the leader of its own group.
pub fn signal_group(pid: u32, signal: Signal) -> Result<(), Refused> {
    let id = i32::try_from(pid)
        .ok()
        .filter(|&p| p > 1)
        .ok_or(Refused::BadId(pid))?;
    let pgid = getpgid(Some(Pid::from_raw(id))).map_err(|_| Refused::Gone(pid))?;
    if pgid.as_raw() != id {
        return Err(Refused::NotALeader {
            pid,
            pgid: pgid.as_raw(),
        });
    }
    killpg(pgid, signal).map_err(|_| Refused::Gone(pid))
}

/// Sends `signal` to one process (never a group): `pid` must be above 1.
pub fn signal_process(pid: u32, signal: Signal) -> Result<(), Refused> {
    let id = i32::try_from(pid)
        .ok()
        .filter(|&p| p > 1)
        .ok_or(Refused::BadId(pid))?;
    kill(Pid::from_raw(id), signal).map_err(|_| Refused::Gone(pid))
}

/// Kills a child that was spawned as the leader of its own process group
/// (`CommandExt::process_group(0)`), with everything in that group, and reaps it. The child is
/// not reaped before the group is signalled, so its pid (and group id) cannot have been reused.
/// A child that is not a group leader is killed alone.
pub fn stop_group(child: &mut Child) {
    if signal_group(child.id(), Signal::SIGKILL).is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn alive(pid: u32) -> bool {
        // A zombie still has a /proc entry; look at its state.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }

    fn eventually(mut ok: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn ids_zero_and_one_are_refused() {
        for id in [0, 1, u32::MAX] {
            assert_eq!(signal_group(id, Signal::SIGCONT), Err(Refused::BadId(id)));
            assert_eq!(signal_process(id, Signal::SIGCONT), Err(Refused::BadId(id)));
        }
    }

    #[test]
    fn a_child_outside_a_group_of_its_own_is_not_signalled_as_a_group() {
        // This child shares the test's group: signalling "its" group would hit the test.
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let err = signal_group(child.id(), Signal::SIGKILL).unwrap_err();
        assert!(matches!(err, Refused::NotALeader { .. }), "{err:?}");
        stop_group(&mut child);
        assert!(!alive(child.id()));
    }

    #[test]
    fn stopping_a_group_kills_its_members_and_nothing_else() {
        // A sentinel in a session of its own, as other work on the machine would be.
        let mut sentinel = Command::new("setsid")
            .args(["sleep", "30"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        // The child's group: a shell and its background sleep.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("sleep 30 & echo $! > \"$1\"; wait")
            .arg("sh")
            .arg(&pidfile)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        assert!(eventually(
            || std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
        ));
        let grandchild: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(grandchild));
        stop_group(&mut child);
        assert!(eventually(|| !alive(grandchild)), "the group's sleep lives");
        assert!(alive(sentinel.id()), "the sentinel was killed");
        stop_group(&mut sentinel);
    }
}
