//! The CLI as people type it: flags anywhere, Ctrl-C while waiting, an unreachable daemon in
//! JSON, "did you mean", human sizes and durations in `show`, durations with sensible units, and
//! completions into a closed pipe.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{cli, fails, json, shell_job};
use crate::common::bin;
use crate::engine::engine_daemon;

/// A daemon that runs tasks, a work directory, and a schedule `s` for shell-plugin jobs.
async fn shell_daemon() -> (bulwark_testkit::TestDaemon, tempfile::TempDir) {
    let d = engine_daemon("").await;
    json(
        &d,
        &[
            "create",
            "schedule",
            "--name",
            "s",
            "--when",
            "daily at 4am",
        ],
    );
    (d, tempfile::tempdir().unwrap())
}

#[tokio::test]
async fn flags_anywhere_names_and_human_forms() {
    let (d, dir) = shell_daemon().await;
    shell_job(
        &d,
        ("orders", "normal", dir.path()),
        "nightly",
        &dir.path().join("blobs"),
        "s",
    );
    // Global flags before the command work as well as after it.
    let out = Command::new(bin())
        .args(["--json", "--api", &d.base_url, "show", "job", "nightly"])
        .env("BULWARK_TOKEN", d.token())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["name"], "nightly");
    // Completions offer the daemon's names.
    let complete = |words: &[&str]| {
        let out = Command::new(bin())
            .args(["--", "bulwark"])
            .args(words)
            .env("COMPLETE", "fish")
            .env("BULWARK_API", &d.base_url)
            .env("BULWARK_TOKEN", d.token())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let jobs = complete(&["run", "job", ""]);
    assert!(jobs.lines().any(|l| l.starts_with("nightly")), "{jobs}");
    let targets = complete(&["create", "job", "--target", "or"]);
    assert!(
        targets.lines().any(|l| l.starts_with("orders")),
        "{targets}"
    );
    assert!(!targets.contains("nightly"), "{targets}");
    // A name that almost matches gets a suggestion.
    let err = fails(&d, &["show", "target", "ordrs"]);
    assert!(
        err.contains("no target matches 'ordrs'; did you mean 'orders'?"),
        "{err}"
    );
    let err = fails(&d, &["run", "job", "nightlyy"]);
    assert!(err.contains("did you mean 'nightly'"), "{err}");
    // Durations in human form, in show as in list.
    let (_, shown, _) = cli(&d, &["show", "retention", "r"]);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("expires") && l.ends_with("1 hour")),
        "{shown}"
    );
    let (_, listed, _) = cli(&d, &["list", "retention"]);
    assert!(
        listed.contains("KEEPS") && listed.contains("for 1h, at least 1 left"),
        "{listed}"
    );
    // Nested documents read as lines, not JSON.
    let (_, shown, _) = cli(&d, &["show", "target", "orders"]);
    assert!(shown.contains("endpoint:\n"), "{shown}");
    assert!(!shown.contains('{'), "{shown}");
    // Durations take the units the help names, and the error names only those.
    let err = fails(
        &d,
        &["create", "retention", "--name", "tiny", "--expires", "5ms"],
    );
    assert!(
        err.contains("s, m, h, d or w") && !err.contains("nsec"),
        "{err}"
    );
    assert_eq!(
        json(
            &d,
            &[
                "create",
                "retention",
                "--name",
                "mixed",
                "--expires",
                "1d12h"
            ]
        )["ok"],
        "created"
    );
}

#[test]
fn an_unreachable_daemon_in_json_and_completions_into_a_closed_pipe() {
    let out = Command::new(bin())
        .args(["status", "--json", "--api", "http://127.0.0.1:9"])
        .env_remove("BULWARK_API")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["health"], "unreachable");
    assert_eq!(said["api"], "http://127.0.0.1:9");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--api URL or BULWARK_API"), "{err}");
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "'{}' completions {shell} | head -1",
                bin().display()
            ))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && err.is_empty(),
            "{shell}: {err}"
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    }
}

#[tokio::test]
async fn ctrl_c_stops_waiting_not_the_task() {
    let (d, dir) = shell_daemon().await;
    shell_job(
        &d,
        ("slowpoke", "slow", dir.path()),
        "slowjob",
        &dir.path().join("blobs"),
        "s",
    );
    let child = Command::new(bin())
        .args(["run", "job", "slowjob", "--wait", "--api", &d.base_url])
        .env("BULWARK_TOKEN", d.token())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the task runs, then press Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(30);
    let task = loop {
        let tasks = d.get_ok("/v1/tasks?status=running").await.unwrap();
        if let Some(t) = tasks.as_array().unwrap().first() {
            break t["uuid"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "the task never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    bulwark_testkit::process::signal_process(child.id(), bulwark_testkit::process::Signal::SIGINT)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("task {task} goes on")), "{err}");
    assert!(
        err.contains(&format!("bulwark cancel task {task}")),
        "{err}"
    );
    // The task still runs; cancel it as the message says.
    let t = d.get_ok(&format!("/v1/task/{task}")).await.unwrap();
    assert_eq!(t["status"], "running");
    let (code, _, err) = cli(&d, &["cancel", "task", &task]);
    assert_eq!(code, 0, "{err}");
}
