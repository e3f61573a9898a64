//! Retries of failed scheduled backups (with backoff, against a plugin that fails twice then
//! works, and one that keeps failing), and Schelly's grace time against a plugin that hangs.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::engine::{engine_daemon, wire};
use crate::retention::LONG_SESSIONS;

/// A schedule that fires every hour of a clock moved forward a second every 50 ms.
async fn ticking(clock: &Path, start: i64) -> tokio::task::JoinHandle<()> {
    let clock = clock.to_path_buf();
    tokio::spawn(async move {
        let mut t = start + 3601;
        loop {
            std::fs::write(&clock, t.to_string()).unwrap();
            t += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[tokio::test]
async fn failed_scheduled_backups_are_retried_with_backoff() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let clock = work.path().join("clock");
    let start = 1_900_000_000;
    std::fs::write(&clock, start.to_string()).unwrap();
    let d = engine_daemon(&format!(
        "[testing]\nclock_file = \"{}\"\n{LONG_SESSIONS}",
        clock.display()
    ))
    .await;
    let mut jobs = Vec::new();
    for (tag, fails, retries) in [("works", 2, 3), ("gives up", 5, 1)] {
        let counter = work.path().join(format!("{tag}.count"));
        let w = wire(
            &d,
            ("shtarget", json!({"base_dir": src, "mode": "flaky", "counter": counter, "fails": fails.to_string()})),
            ("fs", json!({"base_dir": work.path().join("store")})),
            86_400,
        )
        .await;
        let job = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
        let hourly = d
            .create(
                "/v1/schedules",
                &json!({"name": format!("hourly {tag}"), "when": "hourly"}),
            )
            .await
            .unwrap();
        let (s, b) = d
            .put(
                &format!("/v1/job/{}", w.job),
                &json!({"name": job["name"], "summary": "", "store": w.store, "target": w.target,
                        "schedule": hourly, "retention": job["retention_uuid"],
                        "retries": retries, "retry_delay": 2}),
            )
            .await
            .unwrap();
        assert_eq!(s, 200, "{b}");
        jobs.push((w, counter, retries));
    }
    // The scheduler sees the jobs at the start time, then the clock runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tick = ticking(&clock, start).await;
    let mut saw_retrying = false;
    let deadline = Instant::now() + Duration::from_secs(90);
    let backups = |job: &str| {
        let d = &d;
        let job = job.to_string();
        async move {
            let mut t: Vec<Value> = d
                .get_ok(&format!("/v1/tasks?job={job}"))
                .await
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["type"] == "backup")
                .cloned()
                .collect();
            t.reverse();
            t
        }
    };
    loop {
        let works = backups(&jobs[0].0.job).await;
        let gives_up = backups(&jobs[1].0.job).await;
        let j = d
            .get_ok(&format!("/v1/job/{}", jobs[0].0.job))
            .await
            .unwrap();
        saw_retrying |= j["health"] == "retrying";
        let ended = |t: &[Value]| {
            t.iter()
                .filter(|t| t["status"] == "done" || t["status"] == "failed")
                .count()
        };
        if ended(&works) >= 3 && ended(&gives_up) >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{works:?} {gives_up:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tick.abort();
    let works = backups(&jobs[0].0.job).await;
    let statuses: Vec<&str> = works
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(&statuses[..3], ["failed", "failed", "done"], "{works:?}");
    assert!(works.iter().all(|t| t["owner"] == "system"));
    let last_line = |t: &Value| {
        t["log"]
            .as_str()
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    assert!(
        last_line(&works[0]).ends_with("Retry 1 of 3 in 2s."),
        "{}",
        works[0]["log"]
    );
    assert!(
        last_line(&works[1]).ends_with("Retry 2 of 3 in 4s."),
        "{}",
        works[1]["log"]
    );
    assert!(saw_retrying, "the job's health said it was retrying");
    let j = d
        .get_ok(&format!("/v1/job/{}", jobs[0].0.job))
        .await
        .unwrap();
    assert_eq!(
        (j["retry_attempt"].clone(), j["next_retry"].clone()),
        (json!(0), Value::Null)
    );
    assert_eq!(j["health"], "ok");
    // One retry, then it stays failed and says so.
    let gives_up = backups(&jobs[1].0.job).await;
    assert_eq!(gives_up[0]["status"], "failed");
    assert_eq!(gives_up[1]["status"], "failed");
    assert!(last_line(&gives_up[0]).ends_with("Retry 1 of 1 in 2s."));
    assert!(
        !last_line(&gives_up[1]).contains("Retry"),
        "{}",
        gives_up[1]["log"]
    );
    let j = d
        .get_ok(&format!("/v1/job/{}", jobs[1].0.job))
        .await
        .unwrap();
    assert_eq!(j["health"], "failing");
    assert_eq!(std::fs::read_to_string(&jobs[1].1).unwrap().trim(), "2");
}

#[tokio::test]
async fn a_run_that_finds_the_last_backup_running_skips_or_cancels_by_grace() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let d = engine_daemon("").await;
    let every = d
        .create(
            "/v1/schedules",
            &json!({"name": "often", "when": "every 2s"}),
        )
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for (tag, grace) in [("graced", json!(5)), ("patient", Value::Null)] {
        let pidfile = work.path().join(format!("{tag}.pid"));
        let w = wire(
            &d,
            (
                "shtarget",
                json!({"base_dir": src, "mode": "hang", "pidfile": pidfile}),
            ),
            ("fs", json!({"base_dir": work.path().join("store")})),
            86_400,
        )
        .await;
        let job = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
        let (s, b) = d
            .put(
                &format!("/v1/job/{}", w.job),
                &json!({"name": job["name"], "summary": "", "store": w.store, "target": w.target,
                        "schedule": every, "retention": job["retention_uuid"], "grace": grace}),
            )
            .await
            .unwrap();
        assert_eq!(s, 200, "{b}");
        jobs.push((w, pidfile));
    }
    let (graced, patient) = (&jobs[0].0.job, &jobs[1].0.job);
    let deadline = Instant::now() + Duration::from_secs(60);
    let canceled = loop {
        let tasks = d.get_ok(&format!("/v1/tasks?job={graced}")).await.unwrap();
        if let Some(t) = tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["status"] == "canceled")
        {
            break t.clone();
        }
        assert!(Instant::now() < deadline, "never canceled: {tasks}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let log = canceled["log"].as_str().unwrap();
    assert!(
        log.lines()
            .last()
            .unwrap()
            .contains("past the job's grace of 5s; a new backup starts"),
        "{log}"
    );
    let j = d.get_ok(&format!("/v1/job/{graced}")).await.unwrap();
    assert!(j["skipped_runs"].as_i64().unwrap() >= 2, "{j}");
    // Runs within the grace were skipped and recorded; then one canceled the old backup.
    let reason = j["last_skipped"]["reason"].as_str().unwrap();
    assert!(reason.contains("grace of 5s"), "{reason}");
    // A new backup took its place.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tasks = d.get_ok(&format!("/v1/tasks?job={graced}")).await.unwrap();
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["status"] == "running" || t["status"] == "pending"),
        "{tasks}"
    );
    // Without a grace, the hanging backup is never canceled: every run is skipped.
    let j = d.get_ok(&format!("/v1/job/{patient}")).await.unwrap();
    assert!(j["skipped_runs"].as_i64().unwrap() >= 2, "{j}");
    assert!(
        j["last_skipped"]["reason"]
            .as_str()
            .unwrap()
            .contains("still running"),
        "{j}"
    );
    let all = d.get_ok(&format!("/v1/tasks?job={patient}")).await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    // Stopping the daemon ends the hanging backups; no sleeper is left behind.
    for (w, _) in &jobs {
        for t in d
            .get_ok(&format!("/v1/tasks?job={}&status=running", w.job))
            .await
            .unwrap()
            .as_array()
            .unwrap()
        {
            d.delete(&format!("/v1/task/{}", t["uuid"].as_str().unwrap()))
                .await
                .unwrap();
        }
    }
}
