//! The task engine end to end: real backups and restores through the daemon, with the built-in
//! fs plugins and with external plugins written as shell scripts, and everything that can go
//! wrong on the way.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use bulwark_testkit::conformance::{Plugin, store_suite, target_suite};
use bulwark_testkit::tree;
use serde_json::{Value, json};

use crate::common::bin;

/// The shell-script plugins of the tests.
pub fn fixture_plugins() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plugins")
}

/// A daemon that runs tasks, with the fixture plugins installed and `extra` configuration.
pub(crate) async fn engine_daemon(extra: &str) -> TestDaemon {
    TestDaemon::start_with(
        bin(),
        &format!(
            "plugin_dirs = [\"{}\"]\n{extra}",
            fixture_plugins().display()
        ),
    )
    .await
    .expect("daemon starts")
}

/// Ids of a job wired from a new target and store.
pub(crate) struct Wired {
    pub target: String,
    pub store: String,
    pub job: String,
}

pub(crate) async fn wire(
    d: &TestDaemon,
    target: (&str, Value),
    store: (&str, Value),
    expires: i64,
) -> Wired {
    let tag = uuid::Uuid::new_v4().to_string();
    let target = d
        .create(
            "/v1/targets",
            &json!({"name": format!("t {tag}"), "plugin": target.0, "endpoint": target.1, "agent": "127.0.0.1:5444"}),
        )
        .await
        .unwrap();
    let store = d
        .create(
            "/v1/stores",
            &json!({"name": format!("s {tag}"), "plugin": store.0, "endpoint": store.1}),
        )
        .await
        .unwrap();
    let schedule = d
        .create(
            "/v1/schedules",
            &json!({"name": format!("sch {tag}"), "when": "daily at 4am"}),
        )
        .await
        .unwrap();
    let retention = d
        .create(
            "/v1/retention",
            // No min_good: these tests watch expiry alone (retention.rs tests the guard).
            &json!({"name": format!("r {tag}"), "expires": expires, "min_good": 0}),
        )
        .await
        .unwrap();
    let job = d
        .create(
            "/v1/jobs",
            &json!({"name": format!("j {tag}"), "target": target, "store": store,
                    "schedule": schedule, "retention": retention, "paused": false}),
        )
        .await
        .unwrap();
    Wired { target, store, job }
}

pub(crate) async fn run_job(d: &TestDaemon, job: &str) -> String {
    d.post_ok(&format!("/v1/job/{job}/run"), &json!({"owner": "tester"}))
        .await
        .unwrap()["task_uuid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs a job's backup, which must succeed, and returns the archive it made.
pub(crate) async fn backup_archive(d: &TestDaemon, job: &str) -> Value {
    let t = finished(d, &run_job(d, job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    d.get_ok(&format!(
        "/v1/archive/{}",
        t["archive_uuid"].as_str().unwrap()
    ))
    .await
    .unwrap()
}

/// Waits for a task to end and returns it.
pub(crate) async fn finished(d: &TestDaemon, task: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let t = d.get_ok(&format!("/v1/task/{task}")).await.unwrap();
        if ["done", "failed", "canceled"].contains(&t["status"].as_str().unwrap()) {
            // A task is seen ended only with its whole log: nothing follows its last line.
            if t["status"] == "done" && t["type"] == "backup" {
                let log = t["log"].as_str().unwrap_or_default();
                let last = log.lines().last().unwrap_or_default();
                assert!(last.starts_with("Done: "), "not the end line: {log}");
            }
            return t;
        }
        assert!(Instant::now() < deadline, "task {task} never ended: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `check` holds, or fails with `what`.
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, secs: u64, mut check: F) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub(crate) async fn archives_of(d: &TestDaemon, target: &str) -> Vec<Value> {
    d.get_ok(&format!("/v1/archives?target={target}"))
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_whole_life_with_the_fs_plugins() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("source data");
    let dst = work.path().join("restored here");
    let store_dir = work.path().join("store");
    std::fs::create_dir(&src).unwrap();
    tree::tricky(&src, 200 * 1024 * 1024).unwrap();

    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": store_dir})),
        7 * 86400,
    )
    .await;
    let task = run_job(&d, &w.job).await;
    let t = finished(&d, &task).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(t["owner"], "tester");
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("Backing up target"), "{log}");
    assert!(log.contains("target fs: backed up"), "{log}");
    assert!(log.contains("Done: "), "{log}");

    let archives = archives_of(&d, &w.target).await;
    assert_eq!(archives.len(), 1);
    let a = &archives[0];
    assert_eq!(a["status"], "valid");
    assert_eq!(a["store_uuid"], w.store.as_str());
    assert!(a["size"].as_i64().unwrap() > 200 * 1024 * 1024, "{a}");
    assert_eq!(t["archive_uuid"], a["uuid"]);
    assert_eq!(names(&store_dir), vec![a["store_key"].as_str().unwrap()]);
    // expires_at = taken_at + 7 days.
    let taken =
        chrono::NaiveDateTime::parse_from_str(a["taken_at"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S")
            .unwrap();
    let expires = chrono::NaiveDateTime::parse_from_str(
        a["expires_at"].as_str().unwrap(),
        "%Y-%m-%d %H:%M:%S",
    )
    .unwrap();
    assert_eq!((expires - taken).num_seconds(), 7 * 86400);

    // The log can be read from an offset, and following a finished task returns at once.
    let (status, full) = d.text(&format!("/v1/task/{task}/log")).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(full, log);
    let (_, tail) = d
        .text(&format!("/v1/task/{task}/log?offset=10&follow=t"))
        .await
        .unwrap();
    assert_eq!(tail, log[10..]);

    // Restore into another target, byte for byte.
    let other = d
        .create(
            "/v1/targets",
            &json!({"name": "elsewhere", "plugin": "fs", "endpoint": {"base_dir": dst}, "agent": "127.0.0.1:5444"}),
        )
        .await
        .unwrap();
    let r = d
        .post_ok(
            &format!("/v1/archive/{}/restore", a["uuid"].as_str().unwrap()),
            &json!({"target": other}),
        )
        .await
        .unwrap();
    let rt = finished(&d, r["task_uuid"].as_str().unwrap()).await;
    assert_eq!(rt["status"], "done", "{}", rt["log"]);
    assert_eq!(rt["target_uuid"], other.as_str());
    tree::assert_same_tree(&src, &dst).unwrap();

    // Delete: purged through the store at once.
    d.delete(&format!("/v1/archive/{}", a["uuid"].as_str().unwrap()))
        .await
        .unwrap();
    eventually("the archive is purged", 30, async || {
        archives_of(&d, &w.target).await[0]["status"] == "purged"
    })
    .await;
    assert!(names(&store_dir).is_empty(), "{:?}", names(&store_dir));
}

#[tokio::test]
async fn the_conformance_suite_passes_for_builtin_and_external_plugins() {
    let fs = Plugin::builtin(bin(), "fs");
    target_suite(&fs, &|dir| json!({"base_dir": dir}).to_string()).unwrap();
    let store = tempfile::tempdir().unwrap();
    store_suite(&fs, &json!({"base_dir": store.path()}).to_string()).unwrap();

    let sht = Plugin::external(&fixture_plugins().join("shtarget"));
    target_suite(&sht, &|dir| json!({"base_dir": dir}).to_string()).unwrap();
    let shs = Plugin::external(&fixture_plugins().join("shstore"));
    let store = tempfile::tempdir().unwrap();
    store_suite(&shs, &json!({"base_dir": store.path()}).to_string()).unwrap();

    // A plugin that breaks the protocol is caught: this "store" prints no key.
    let dir = tempfile::tempdir().unwrap();
    let liar = dir.path().join("liar");
    std::fs::write(
        &liar,
        "#!/bin/sh\n[ \"$1\" = info ] && echo '{\"name\":\"l\",\"author\":\"a\",\"version\":\"1\",\"features\":{\"target\":\"no\",\"store\":\"yes\"}}' && exit 0\ncat > /dev/null; echo stored\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &liar,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let err = store_suite(
        &Plugin::external(&liar),
        "{\"base_dir\":\"/nonexistent/bulwark-test\"}",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("must print one JSON object"),
        "{err:#}"
    );
}

#[tokio::test]
async fn external_shell_plugins_back_up_and_restore_through_a_job() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let dst = work.path().join("dst");
    let store_dir = work.path().join("store");
    std::fs::create_dir(&src).unwrap();
    tree::tricky(&src, 1_000_000).unwrap();
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("shtarget", json!({"base_dir": src})),
        (
            "shstore",
            json!({"base_dir": store_dir, "secret_key": "hunter2-sekrit"}),
        ),
        3600,
    )
    .await;
    let t = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("store shstore: store with secret <redacted>"),
        "{log}"
    );
    assert!(!log.contains("hunter2-sekrit"));
    assert!(!d.log().contains("hunter2-sekrit"));
    let a = &archives_of(&d, &w.target).await[0];
    // The key is the upload id the runner handed the store: the task's uuid.
    assert_eq!(a["store_key"], t["uuid"]);

    let other = d
        .create(
            "/v1/targets",
            &json!({"name": "sh elsewhere", "plugin": "shtarget", "endpoint": {"base_dir": dst}, "agent": "127.0.0.1:5444"}),
        )
        .await
        .unwrap();
    let r = d
        .post_ok(
            &format!("/v1/archive/{}/restore", a["uuid"].as_str().unwrap()),
            &json!({"target": other}),
        )
        .await
        .unwrap();
    let rt = finished(&d, r["task_uuid"].as_str().unwrap()).await;
    assert_eq!(rt["status"], "done", "{}", rt["log"]);
    tree::assert_same_tree(&src, &dst).unwrap();

    // validate through the API.
    let v = d
        .post_ok(
            "/v1/plugin/shtarget/validate",
            &json!({"endpoint": {"base_dir": src}}),
        )
        .await
        .unwrap();
    assert_eq!(v["valid"], true, "{v}");
    let v = d
        .post_ok(
            "/v1/plugin/shtarget/validate",
            &json!({"endpoint": {"base_dir": "/nonexistent"}}),
        )
        .await
        .unwrap();
    assert_eq!(v["valid"], false);
    assert!(
        v["output"].as_str().unwrap().contains("is not a directory"),
        "{v}"
    );
    let v = d
        .post_ok(
            "/v1/plugin/fs/validate",
            &json!({"endpoint": {"base_dir": 5}}),
        )
        .await
        .unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["exit"].as_str().unwrap().starts_with("exit 13"), "{v}");
    let (status, _) = d
        .post("/v1/plugin/nope/validate", &json!({"endpoint": {}}))
        .await
        .unwrap();
    assert_eq!(status, 404);
}

/// Runs a backup that must fail and returns its task.
async fn failing(d: &TestDaemon, target: Value, store: Value, store_dir: &Path) -> Value {
    let w = wire(d, ("shtarget", target), ("shstore", store), 3600).await;
    let t = finished(d, &run_job(d, &w.job).await).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert_eq!(t["archive_uuid"], Value::Null);
    assert!(
        archives_of(d, &w.target).await.is_empty(),
        "a failed backup made an archive"
    );
    assert!(
        names(store_dir).iter().all(|n| n == ".purge-fails"),
        "the store kept data of a failed backup: {:?}",
        names(store_dir)
    );
    t
}

#[tokio::test]
async fn failures_on_either_side_fail_the_task_and_leave_nothing() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let sd = work.path().join("store");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let d = engine_daemon("[tasks]\ntimeout = 3").await;
    let store = json!({"base_dir": sd});

    let t = failing(
        &d,
        json!({"base_dir": src, "mode": "fail"}),
        store.clone(),
        &sd,
    )
    .await;
    let log = t["log"].as_str().unwrap();
    // The plugin's words once, without its name twice; then one Failed line that does not
    // repeat them and ends with one full stop.
    assert!(
        log.contains("\ntarget shtarget: the disk caught fire\n"),
        "{log}"
    );
    assert_eq!(log.matches("the disk caught fire").count(), 1, "{log}");
    assert!(
        log.trim_end().ends_with(
            "\nFailed: the target plugin shtarget failed: exit 3 (an external tool failed)."
        ),
        "{log}"
    );

    let t = failing(
        &d,
        json!({"base_dir": src, "mode": "fail", "code": "1"}),
        store.clone(),
        &sd,
    )
    .await;
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("target plugin shtarget failed: exit 1"),
        "{log}"
    );

    for code in ["1", "4"] {
        let t = failing(
            &d,
            json!({"base_dir": src}),
            json!({"base_dir": sd, "mode": "fail", "code": code}),
            &sd,
        )
        .await;
        let log = t["log"].as_str().unwrap();
        assert!(
            log.contains(&format!(
                "Failed: the store plugin shstore failed: exit {code}"
            )),
            "{log}"
        );
        assert!(log.contains("the bucket is gone"), "{log}");
    }

    let t = failing(
        &d,
        json!({"base_dir": src}),
        json!({"base_dir": sd, "mode": "junk"}),
        &sd,
    )
    .await;
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("store plugin shstore failed: its output is not the key document"),
        "{log}"
    );
    assert!(
        log.contains("Removed what the store kept of this upload."),
        "{log}"
    );

    let t = failing(
        &d,
        json!({"base_dir": src, "mode": "empty"}),
        store.clone(),
        &sd,
    )
    .await;
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("it exited 0 but wrote nothing"),
        "{}",
        t["log"]
    );

    let pid = work.path().join("hang.pid");
    let t = failing(
        &d,
        json!({"base_dir": src, "mode": "hang", "pidfile": pid}),
        store.clone(),
        &sd,
    )
    .await;
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("did not finish within 3s"),
        "{}",
        t["log"]
    );
    let pid = std::fs::read_to_string(&pid).unwrap();
    eventually("the hung plugin's child is killed", 10, async || {
        !alive(&pid)
    })
    .await;

    // A plugin that is not installed, and one that plays the wrong role.
    let w = wire(
        &d,
        ("nosuch", json!({})),
        ("fs", json!({"base_dir": sd})),
        3600,
    )
    .await;
    let t = finished(&d, &run_job(&d, &w.job).await).await;
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("the target plugin 'nosuch' is not installed"),
        "{}",
        t["log"]
    );
    let w = wire(
        &d,
        ("shstore", json!({"base_dir": sd})),
        ("fs", json!({"base_dir": sd})),
        3600,
    )
    .await;
    let t = finished(&d, &run_job(&d, &w.job).await).await;
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("is not a target plugin"),
        "{}",
        t["log"]
    );
}

#[tokio::test]
async fn cancel_kills_a_running_backup() {
    let work = tempfile::tempdir().unwrap();
    let sd = work.path().join("store");
    let pid = work.path().join("sleeper.pid");
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        (
            "shtarget",
            json!({"base_dir": work.path(), "mode": "hang", "pidfile": pid}),
        ),
        ("fs", json!({"base_dir": sd})),
        3600,
    )
    .await;
    let task = run_job(&d, &w.job).await;
    eventually("the target is running", 30, async || pid.exists()).await;
    let t = d.get_ok(&format!("/v1/task/{task}")).await.unwrap();
    assert_eq!(t["status"], "running");
    // A running backup's job cannot be deleted.
    let (status, _) = d.delete(&format!("/v1/job/{}", w.job)).await.unwrap();
    assert_eq!(status, 409);

    let body = d.delete(&format!("/v1/task/{task}")).await.unwrap();
    assert_eq!(body.0, 200, "{}", body.1);
    let t = d.get_ok(&format!("/v1/task/{task}")).await.unwrap();
    assert_eq!(t["status"], "canceled", "{}", t["log"]);
    assert!(
        t["log"].as_str().unwrap().contains("Canceled by request"),
        "{}",
        t["log"]
    );
    let pid = std::fs::read_to_string(&pid).unwrap();
    eventually("the plugin's child is killed", 10, async || !alive(&pid)).await;
    assert!(names(&sd).is_empty(), "{:?}", names(&sd));
    assert!(archives_of(&d, &w.target).await.is_empty());
    // Canceling it again is a conflict.
    assert_eq!(d.delete(&format!("/v1/task/{task}")).await.unwrap().0, 409);
}

#[tokio::test]
async fn a_daemon_killed_mid_backup_recovers_and_leaves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let sd = work.path().join("store");
    let data = work.path().join("daemon");
    std::fs::create_dir(&data).unwrap();
    let mut d = TestDaemon::start_in(
        bin(),
        &data,
        &format!("plugin_dirs = [\"{}\"]", fixture_plugins().display()),
    )
    .await
    .unwrap();
    let w = wire(
        &d,
        ("shtarget", json!({"base_dir": work.path(), "mode": "slow"})),
        ("fs", json!({"base_dir": sd})),
        3600,
    )
    .await;
    let task = run_job(&d, &w.job).await;
    // Wait until the store holds part of the upload.
    eventually("the store is writing", 30, async || {
        names(&sd).iter().any(|n| n.starts_with(".incoming-"))
    })
    .await;
    d.kill().unwrap();
    // The plugins die with the daemon: nothing keeps writing into the store.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let size = |p: &Path| {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>()
    };
    let before = size(&sd);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(size(&sd), before, "a plugin outlived the daemon");

    d.restart().unwrap();
    let t = finished(&d, &task).await;
    assert_eq!(t["status"], "failed");
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("the daemon stopped during this task"), "{log}");
    assert!(archives_of(&d, &w.target).await.is_empty());
    assert!(names(&sd).is_empty(), "left behind: {:?}", names(&sd));
}

#[tokio::test]
async fn expired_archives_are_purged_and_failed_purges_retried() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let sd = work.path().join("store");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let d =
        engine_daemon("[retention]\nminimum_expiry = 1\nsweep_interval = 1\npurge_retry = 1").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("shstore", json!({"base_dir": sd})),
        2,
    )
    .await;
    std::fs::create_dir_all(&sd).unwrap();
    std::fs::write(sd.join(".purge-fails"), "").unwrap();
    let t = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    // Past its expiry, the sweep purges it; the store refuses, so it stays purging, and the
    // failed purge is there to see.
    eventually("a purge fails", 30, async || {
        let tasks = d.get_ok("/v1/tasks?status=failed").await.unwrap();
        tasks.as_array().unwrap().iter().any(|t| {
            t["type"] == "purge"
                && t["owner"] == "system"
                && t["log"].as_str().unwrap().contains("purge refused")
        })
    })
    .await;
    assert_eq!(archives_of(&d, &w.target).await[0]["status"], "purging");
    std::fs::remove_file(sd.join(".purge-fails")).unwrap();
    eventually("the retried purge succeeds", 30, async || {
        archives_of(&d, &w.target).await[0]["status"] == "purged"
    })
    .await;
    assert!(names(&sd).is_empty(), "{:?}", names(&sd));
}

#[tokio::test]
async fn the_default_minimum_expiry_still_holds() {
    let d = engine_daemon("").await;
    let (status, body) = d
        .post("/v1/retention", &json!({"name": "short", "expires": 2}))
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
}

async fn tasks_of(d: &TestDaemon, job: &str) -> Vec<Value> {
    d.get_ok("/v1/tasks")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["job_uuid"] == job)
        .cloned()
        .collect()
}

async fn set_schedule(d: &TestDaemon, job: &str, when: &str) {
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let s = d
        .create(
            "/v1/schedules",
            &json!({"name": format!("{when} {job}"), "when": when}),
        )
        .await
        .unwrap();
    d.put(
        &format!("/v1/job/{job}"),
        &json!({"name": j["name"], "summary": "", "target": j["target_uuid"], "store": j["store_uuid"],
                "schedule": s, "retention": j["retention_uuid"]}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn schedules_queue_system_backups_and_skip_a_busy_job() {
    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    let busy = wire(
        &d,
        ("shtarget", json!({"base_dir": work.path(), "mode": "hang"})),
        ("fs", json!({"base_dir": work.path().join("store")})),
        3600,
    )
    .await;
    let paused = wire(
        &d,
        ("shtarget", json!({"base_dir": work.path()})),
        ("fs", json!({"base_dir": work.path().join("store2")})),
        3600,
    )
    .await;
    d.post_ok(&format!("/v1/job/{}/pause", paused.job), &Value::Null)
        .await
        .unwrap();
    set_schedule(&d, &busy.job, "every 2s").await;
    set_schedule(&d, &paused.job, "every 2s").await;
    eventually("a scheduled backup runs", 30, async || {
        tasks_of(&d, &busy.job)
            .await
            .iter()
            .any(|t| t["status"] == "running")
    })
    .await;
    // Two more periods: the job is still busy, so nothing more is queued.
    eventually("the scheduler skips the busy job", 30, async || {
        d.log().matches("Scheduled backup skipped").count() >= 2
    })
    .await;
    let tasks = tasks_of(&d, &busy.job).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["owner"], "system");
    assert!(
        tasks_of(&d, &paused.job).await.is_empty(),
        "a paused job ran"
    );
    d.delete(&format!("/v1/task/{}", tasks[0]["uuid"].as_str().unwrap()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_run_missed_while_down_runs_once_at_start() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("daemon");
    std::fs::create_dir(&data).unwrap();
    std::fs::create_dir(work.path().join("src")).unwrap();
    std::fs::write(work.path().join("src/f"), "x").unwrap();
    let mut d = TestDaemon::start_in(bin(), &data, "").await.unwrap();
    let w = wire(
        &d,
        ("fs", json!({"base_dir": work.path().join("src")})),
        ("fs", json!({"base_dir": work.path().join("store")})),
        3600,
    )
    .await;
    set_schedule(&d, &w.job, "hourly at :00").await;
    // Let the scheduler see the job once, then stop the daemon for "three hours".
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(tasks_of(&d, &w.job).await.is_empty());
    d.stop().unwrap();
    let catalog = bulwark_catalog::Catalog::open(&data.join("data/catalog.db"))
        .await
        .unwrap();
    let job: bulwark_core::ids::JobId = w.job.parse().unwrap();
    let three_hours_ago = chrono::Utc::now().timestamp() - 3 * 3600;
    catalog.set_job_fired(job, three_hours_ago).await.unwrap();
    catalog.close().await;
    d.restart().unwrap();
    eventually("the missed run is made up", 30, async || {
        !tasks_of(&d, &w.job).await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tasks = tasks_of(&d, &w.job).await;
    assert_eq!(tasks.len(), 1, "missed runs are made up once: {tasks:?}");
    assert_eq!(tasks[0]["owner"], "system");
    assert_eq!(
        finished(&d, tasks[0]["uuid"].as_str().unwrap()).await["status"],
        "done"
    );
}

#[tokio::test]
async fn dev_mode_runs_every_job_every_minute() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("src")).unwrap();
    std::fs::write(work.path().join("src/f"), "x").unwrap();
    let d = engine_daemon("mode = \"DEV\"").await;
    // "daily at 4am" would not come for hours; in dev mode it comes within the minute.
    let w = wire(
        &d,
        ("fs", json!({"base_dir": work.path().join("src")})),
        ("fs", json!({"base_dir": work.path().join("store")})),
        3600,
    )
    .await;
    eventually("dev mode fires", 75, async || {
        tasks_of(&d, &w.job)
            .await
            .iter()
            .any(|t| t["owner"] == "system")
    })
    .await;
}
