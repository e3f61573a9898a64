//! File-change triggers: a burst of writes gives one backup once the files are quiet for the
//! job's `settle`; `min_interval` spaces the next one; an editor's temporary file and the job's
//! own restore start none.

use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::common::bin;

/// The backups the watcher started, oldest first.
async fn watched(d: &TestDaemon) -> Vec<Value> {
    let mut v: Vec<Value> = d
        .get_ok("/v1/tasks?limit=100")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["owner"] == "watch" && t["type"] == "backup")
        .cloned()
        .collect();
    v.reverse();
    v
}

async fn until_count(d: &TestDaemon, n: usize, secs: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = watched(d).await;
        if v.len() >= n {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{} backups, wanted {n}: {v:?}",
            v.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write(dir: &std::path::Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

#[tokio::test]
async fn changes_start_one_backup_once_quiet_and_no_more_than_allowed() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write(&src, "a.txt", "first");
    let d = TestDaemon::start_with(bin(), "").await.unwrap();
    let target = d
        .create(
            "/v1/targets",
            &json!({"name": "docs", "plugin": "fs", "agent": "local", "endpoint": {"base_dir": src}}),
        )
        .await
        .unwrap();
    let (store, schedule, policy) = crate::common::job_parts(&d, &root.path().join("store")).await;
    let (s, b) = d
        .post(
            "/v1/jobs",
            &json!({"name": "docs", "target": target, "store": store, "schedule": schedule,
                    "retention": policy, "paused": false, "watch": {"settle": 2, "min_interval": 12}}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let job = b["uuid"].as_str().unwrap().to_string();
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    assert_eq!(j["watch"], json!({"settle": 2, "min_interval": 12}));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !d.log().contains("Watching for changes") {
        assert!(Instant::now() < deadline, "never watched: {}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A burst of twenty writes over a second: one backup, once two quiet seconds have passed.
    for i in 0..20 {
        write(&src, &format!("burst-{i}.txt"), "x");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last_write = Instant::now();
    let first = until_count(&d, 1, 20).await;
    assert!(
        last_write.elapsed() >= Duration::from_millis(1900),
        "a backup started {:?} after the last write",
        last_write.elapsed()
    );
    let t = crate::engine::finished(&d, first[0]["uuid"].as_str().unwrap()).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let fired = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(watched(&d).await.len(), 1, "one burst, one backup");

    // Changed again at once: the next backup waits for min_interval (12 s after the first).
    write(&src, "again.txt", "y");
    let second = until_count(&d, 2, 30).await;
    assert!(
        fired.elapsed() >= Duration::from_secs(8),
        "the second backup came {:?} after the first",
        fired.elapsed()
    );
    let t = crate::engine::finished(&d, second[1]["uuid"].as_str().unwrap()).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    tokio::time::sleep(Duration::from_secs(13)).await;

    // An editor's swap file is no change.
    write(&src, ".a.txt.swp", "swap");
    write(&src, "a.txt~", "backup copy");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(watched(&d).await.len(), 2);

    // Nor is the job's own restore.
    let archive = t["archive_uuid"].as_str().unwrap();
    let r = d
        .post_ok(
            &format!("/v1/archive/{archive}/restore"),
            &json!({"target": target}),
        )
        .await
        .unwrap();
    let r = crate::engine::finished(&d, r["task_uuid"].as_str().unwrap()).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        watched(&d).await.len(),
        2,
        "a restore is not a change to back up"
    );

    // Turned off: changes start nothing.
    let (s, b) = d
        .put(
            &format!("/v1/job/{job}"),
            &json!({"name": "docs", "summary": "", "store": store, "target": target,
                    "retention": policy, "schedule": schedule, "watch": {"settle": 0}}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(d.get_ok(&format!("/v1/job/{job}")).await.unwrap()["watch"].is_null());
    tokio::time::sleep(Duration::from_secs(6)).await;
    write(&src, "late.txt", "z");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(watched(&d).await.len(), 2);
}
