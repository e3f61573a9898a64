//! The suite keeps to itself: the CI guard that notices when a test run kills processes that
//! are not its own, checked both ways.

use std::path::PathBuf;
use std::process::Command;

fn sentinel() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sentinel")
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(sentinel()).args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn pid_in(file: &std::path::Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_sentinel_passes_when_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sentinel");
    let f = file.to_str().unwrap();
    let (ok, out) = run(&["start", f]);
    assert!(ok, "{out}");
    let pid = pid_in(&file);
    // In a session of its own: not this test's session, not its group.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(fields[2], pid.to_string(), "group");
    assert_eq!(fields[3], pid.to_string(), "session");
    let (ok, out) = run(&["check", f]);
    assert!(ok, "{out}");
    assert!(out.contains("survived"), "{out}");
}

#[test]
fn the_sentinel_fails_the_run_when_it_was_killed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sentinel");
    let f = file.to_str().unwrap();
    let (ok, out) = run(&["start", f]);
    assert!(ok, "{out}");
    let pid = pid_in(&file);
    bulwark_testkit::process::signal_process(pid, nix_kill()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (mut ok, mut out) = (true, String::new());
    while ok && std::time::Instant::now() < deadline {
        std::fs::write(&file, pid.to_string()).unwrap();
        (ok, out) = run(&["check", f]);
    }
    assert!(
        !ok,
        "the check passed although the sentinel was killed: {out}"
    );
    assert!(out.contains("was killed during the run"), "{out}");
    // A usage error is an error, not a pass.
    assert!(!run(&["check"]).0);
}

fn nix_kill() -> bulwark_testkit::process::Signal {
    bulwark_testkit::process::Signal::SIGKILL
}
