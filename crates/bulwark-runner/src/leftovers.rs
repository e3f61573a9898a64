//! What a plugin leaves behind. Every plugin process is started with a mark of its own in its
//! environment (`BULWARK_PLUGIN_RUN=ID`), which its children inherit wherever they go: into
//! another process group, into a session of their own (`setsid`), reparented to init. When a
//! plugin's call ends, [`kill_marked`] finds every process that still carries its mark and kills
//! it, so nothing a plugin started outlives its task. (A child that wipes its environment on
//! purpose escapes this; one that stays in the plugin's process group is killed with the group.)

use std::process::Command as StdCommand;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The environment variable that marks a plugin's processes.
pub const RUN_ENV: &str = "BULWARK_PLUGIN_RUN";

/// How long, after a plugin has exited, its output may take to end before what it left behind
/// is killed.
pub const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A new mark.
pub fn new_mark() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Marks a command's process (and so its descendants).
pub fn mark(cmd: &mut tokio::process::Command, run: &str) {
    cmd.env(RUN_ENV, run);
}

/// Marks a standard-library command.
pub fn mark_std(cmd: &mut StdCommand, run: &str) {
    cmd.env(RUN_ENV, run);
}

/// The processes that carry `run`'s mark (never this process or init).
pub fn marked(run: &str) -> Vec<i32> {
    let needle = format!("{RUN_ENV}={run}");
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid > 1 && pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .collect()
}

/// Kills every process that carries `run`'s mark; returns how many there were.
pub fn kill_marked(run: &str) -> usize {
    let found = marked(run);
    for &pid in &found {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    found.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }

    #[test]
    fn a_descendant_in_a_session_of_its_own_is_found_and_killed() {
        let run = new_mark();
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        // The "plugin" starts a child in a new session and exits at once.
        let mut plugin = StdCommand::new("sh");
        plugin
            .arg("-c")
            .arg("setsid sh -c 'echo $$ > \"$1\"; exec sleep 60' sh \"$1\" & sleep 0.2")
            .arg("sh")
            .arg(&pidfile)
            .process_group(0);
        mark_std(&mut plugin, &run);
        let status = plugin.status().expect("sh runs");
        assert!(status.success());
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid written")
            .trim()
            .parse()
            .expect("a pid");
        assert!(alive(pid));
        assert_eq!(marked(&run), vec![pid]);
        // Another run's mark finds nothing of it.
        assert!(marked(&new_mark()).is_empty());
        assert_eq!(kill_marked(&run), 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "the setsid child outlived its plugin");
    }
}
