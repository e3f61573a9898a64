//! A job's copies into further stores: a tree snapshot into a second local repository and into
//! a repository on a real S3 server (s3s-fs), a sealed stream into another sealed store and
//! into a repository, retries while the S3 server is down, the `copy_failed` notice, restores
//! from each copy, each copy kept by its own policy, and a copy cut short by a daemon kill.

use std::path::Path;
use std::time::{Duration, Instant};

use bulwark_testkit::{TestDaemon, tree};
use serde_json::{Value, json};

use crate::engine::{archives_of, engine_daemon, finished, run_job};
use crate::receivers::{Webhook, within};
use crate::repository::{S3Server, SECRET, restic, s3s_binary, store_secret, tool};
use crate::servers::free_port;

async fn make(d: &TestDaemon, path: &str, body: Value) -> String {
    d.create(path, &body).await.unwrap()
}

/// The copy tasks of a job, oldest first.
async fn copy_tasks(d: &TestDaemon, job: &str) -> Vec<Value> {
    let all = d.get_ok(&format!("/v1/tasks?job={job}")).await.unwrap();
    let mut out: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "copy")
        .cloned()
        .collect();
    out.reverse();
    out
}

/// Waits until `n` copy tasks of the job have ended, and returns them all.
async fn copies_ended(d: &TestDaemon, job: &str, n: usize, secs: u64) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let tasks = copy_tasks(d, job).await;
        let ended = tasks
            .iter()
            .filter(|t| ["done", "failed", "canceled"].contains(&t["status"].as_str().unwrap()))
            .count();
        if ended >= n {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "{n} copies never ended: {tasks:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The archives of `target` in `store`.
async fn in_store(d: &TestDaemon, target: &str, store: &str) -> Vec<Value> {
    archives_of(d, target)
        .await
        .into_iter()
        .filter(|a| a["store_uuid"] == store && a["status"] == "valid")
        .collect()
}

async fn restore_into(d: &TestDaemon, archive: &Value, dir: &Path) -> Value {
    let target = make(
        d,
        "/v1/targets",
        json!({"name": format!("restore {}", uuid::Uuid::new_v4()), "plugin": "fs", "agent": "local",
               "endpoint": {"base_dir": dir}}),
    )
    .await;
    let t = d
        .post_ok(
            &format!("/v1/archive/{}/restore", archive["uuid"].as_str().unwrap()),
            &json!({"target": target}),
        )
        .await
        .unwrap();
    finished(d, t["task_uuid"].as_str().unwrap()).await
}

#[tokio::test]
async fn a_tree_copied_into_a_second_repository_and_into_s3() {
    let Some(s3s) = s3s_binary() else { return };
    if !tool("restic") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree::tricky(&src, 4 << 20).unwrap();
    std::fs::create_dir_all(work.path().join("s3/backups")).unwrap();
    let s3 = S3Server::start(&s3s, &work.path().join("s3"), None);
    let d = engine_daemon("").await;
    let target = make(
        &d,
        "/v1/targets",
        json!({"name": "files", "plugin": "fs", "agent": "local", "endpoint": {"base_dir": src}}),
    )
    .await;
    let repo = |name: &str| json!({"path": work.path().join(name)});
    let primary = make(
        &d,
        "/v1/stores",
        json!({"name": "main", "plugin": "repository", "endpoint": repo("main")}),
    )
    .await;
    let second = make(
        &d,
        "/v1/stores",
        json!({"name": "second", "plugin": "repository", "endpoint": repo("second")}),
    )
    .await;
    let offsite = make(&d, "/v1/stores", json!({"name": "offsite", "plugin": "repository", "endpoint": s3.endpoint("copies", SECRET)})).await;
    let plain = make(&d, "/v1/stores", json!({"name": "plain", "plugin": "fs", "endpoint": {"base_dir": work.path().join("plain")}})).await;
    let schedule = make(
        &d,
        "/v1/schedules",
        json!({"name": "daily", "when": "daily at 4am"}),
    )
    .await;
    let week = make(
        &d,
        "/v1/retention",
        json!({"name": "week", "expires": 604800}),
    )
    .await;
    let two = make(
        &d,
        "/v1/retention",
        json!({"name": "two", "keep_last": 2, "min_good": 0}),
    )
    .await;
    let job = |copies: Value| {
        json!({"name": "files", "target": target, "store": primary, "schedule": schedule,
               "retention": week, "paused": true, "copies": copies})
    };

    // What cannot work is refused, and nothing is made.
    for (copies, needle) in [
        (
            json!([{"store": primary, "retention": two}]),
            "the job's own store",
        ),
        (
            json!([{"store": second, "retention": two}, {"store": second, "retention": week}]),
            "named twice",
        ),
        (
            json!([{"store": plain, "retention": two}]),
            "only into another repository store",
        ),
        (
            json!([{"store": uuid::Uuid::new_v4(), "retention": two}]),
            "does not exist",
        ),
        (
            json!([{"store": second, "retention": two, "retries": 500}]),
            "retries must be 0 to 100",
        ),
    ] {
        let (status, body) = d.post("/v1/jobs", &job(copies)).await.unwrap();
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    assert!(
        d.get_ok("/v1/jobs")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty()
    );

    let job = make(
        &d,
        "/v1/jobs",
        job(json!([{"store": second, "retention": two}, {"store": offsite, "retention": two, "retry_delay": 1}])),
    )
    .await;
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    assert_eq!(j["copies"][0]["store_name"], "second");
    assert_eq!(j["copies"][1]["store_name"], "offsite");
    assert_eq!(j["copies"][1]["retries"], 3);
    assert_eq!(j["copies"][1]["retry_delay"], 1);
    // A store a job copies into cannot be deleted underneath it.
    let (status, body) = d.delete(&format!("/v1/store/{second}")).await.unwrap();
    assert_eq!(status, 409, "{body}");

    let first = finished(&d, &run_job(&d, &job).await).await;
    assert_eq!(first["status"], "done", "{}", first["log"]);
    let tasks = copies_ended(&d, &job, 2, 120).await;
    for t in &tasks {
        assert_eq!(t["status"], "done", "{}", t["log"]);
        assert_eq!(t["archive_uuid"], first["archive_uuid"]);
    }
    let origin = first["archive_uuid"].clone();
    let copy_in = |store: String| {
        let d = &d;
        let target = target.clone();
        async move {
            let a = in_store(d, &target, &store).await;
            assert_eq!(a.len(), 1, "{a:#?}");
            a[0].clone()
        }
    };
    let (c2, c3) = (
        copy_in(second.clone()).await,
        copy_in(offsite.clone()).await,
    );
    for c in [&c2, &c3] {
        assert_eq!(c["origin_uuid"], origin);
        assert_eq!(c["format"], "tree");
        assert_eq!(c["job_uuid"], job.as_str());
        assert_ne!(c["uuid"], origin);
        assert_eq!(c["kept_by"], json!(["keep_last"]), "{c}");
    }
    let o = d
        .get_ok(&format!("/v1/archive/{}", origin.as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(c2["taken_at"], o["taken_at"]);
    assert_eq!(o["origin_uuid"], Value::Null);

    // Stock restic reads and checks the copy, which says what it is a copy of.
    let second_repo = work.path().join("second");
    let pw = store_secret(&d, &second);
    let out = restic(second_repo.to_str().unwrap(), &pw, &["snapshots", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snaps: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags = snaps[0]["tags"].as_array().unwrap();
    assert!(
        tags.contains(&json!(format!(
            "copy-of={}",
            o["store_key"].as_str().unwrap()
        ))),
        "{tags:?}"
    );
    assert!(
        tags.contains(&json!(format!("archive={}", c2["uuid"].as_str().unwrap()))),
        "{tags:?}"
    );
    let out = restic(
        second_repo.to_str().unwrap(),
        &pw,
        &["check", "--read-data"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Restores from either copy give the tree back exactly.
    for (c, dir) in [(&c2, "from second"), (&c3, "from s3")] {
        let dir = work.path().join(dir);
        let t = restore_into(&d, c, &dir).await;
        assert_eq!(t["status"], "done", "{}", t["log"]);
        tree::assert_same_tree(&src, &dir).unwrap();
    }

    // One file changed: the next copies send little, since the destination has the rest.
    std::fs::write(src.join("changed.txt"), vec![7u8; 64 << 10]).unwrap();
    let again = finished(&d, &run_job(&d, &job).await).await;
    assert_eq!(again["status"], "done", "{}", again["log"]);
    copies_ended(&d, &job, 4, 120).await;
    let copies = in_store(&d, &target, &second).await;
    assert_eq!(copies.len(), 2);
    let (newer, older) = (&copies[0], &copies[1]);
    assert_eq!(newer["origin_uuid"], again["archive_uuid"]);
    let (a_new, a_old) = (
        newer["added"].as_i64().unwrap(),
        older["added"].as_i64().unwrap(),
    );
    assert!(
        a_new * 4 < a_old,
        "the second copy added {a_new} bytes, the first {a_old}"
    );

    // Each copy is kept by its own policy: keep_last 2 keeps two copies while the job's own
    // policy keeps everything a week; a third backup pushes the oldest copy out.
    let third = finished(&d, &run_job(&d, &job).await).await;
    assert_eq!(third["status"], "done", "{}", third["log"]);
    copies_ended(&d, &job, 6, 120).await;
    let preview = d
        .get_ok(&format!("/v1/archives?target={target}&store={second}"))
        .await
        .unwrap();
    let doomed: Vec<&Value> = preview
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "valid" && a["kept_by"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(doomed.len(), 1, "{preview:#}");
    assert_eq!(doomed[0]["uuid"], c2["uuid"]);
    assert_eq!(
        in_store(&d, &target, &primary)
            .await
            .iter()
            .filter(|a| a["kept_by"].as_array().unwrap().is_empty())
            .count(),
        0
    );
    drop(s3);
}

#[tokio::test]
async fn a_copy_into_a_dead_s3_is_retried_and_the_original_stays_whole() {
    let Some(s3s) = s3s_binary() else { return };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(src.join("data.bin"), &data).unwrap();
    let s3_root = work.path().join("s3");
    std::fs::create_dir_all(s3_root.join("backups")).unwrap();
    let mut s3 = S3Server::start(&s3s, &s3_root, None);
    let port = s3.port;
    let d = engine_daemon("").await;
    let mut receiver = Webhook::on(free_port());
    let made = d
        .post_ok("/v1/notifications", &json!({"name": "copies", "kind": "webhook", "config": {"url": receiver.url()}, "events": ["copy_failed"]}))
        .await
        .unwrap();
    receiver.run(made["secret"].as_str().unwrap());
    // An fs target with a pattern is a stream: sealed in the plugin stores, a stream snapshot
    // in the repository.
    let target = make(&d, "/v1/targets", json!({"name": "data", "plugin": "fs", "agent": "local", "endpoint": {"base_dir": src, "include": ["*.bin"]}})).await;
    let sealed = |name: &str| json!({"base_dir": work.path().join(name)});
    let primary = make(
        &d,
        "/v1/stores",
        json!({"name": "main", "plugin": "fs", "endpoint": sealed("main")}),
    )
    .await;
    let other = make(
        &d,
        "/v1/stores",
        json!({"name": "other", "plugin": "fs", "endpoint": sealed("other")}),
    )
    .await;
    let offsite = make(
        &d,
        "/v1/stores",
        json!({"name": "offsite", "plugin": "repository", "endpoint": s3.endpoint("r", SECRET)}),
    )
    .await;
    let schedule = make(
        &d,
        "/v1/schedules",
        json!({"name": "daily", "when": "daily at 4am"}),
    )
    .await;
    let week = make(
        &d,
        "/v1/retention",
        json!({"name": "week", "expires": 604800}),
    )
    .await;
    let job = make(
        &d,
        "/v1/jobs",
        json!({"name": "data", "target": target, "store": primary, "schedule": schedule, "retention": week, "paused": true,
               "copies": [{"store": other, "retention": week},
                          {"store": offsite, "retention": week, "retries": 3, "retry_delay": 2}]}),
    )
    .await;

    s3.stop();
    let first = finished(&d, &run_job(&d, &job).await).await;
    assert_eq!(first["status"], "done", "{}", first["log"]);
    let tasks = copies_ended(&d, &job, 2, 60).await;
    let to = |store: &str| {
        tasks
            .iter()
            .find(|t| t["log"].as_str().unwrap().contains(store))
            .cloned()
            .unwrap()
    };
    let sealed_copy = to("into store 'other'");
    assert_eq!(sealed_copy["status"], "done", "{}", sealed_copy["log"]);
    let failed = to("into store 'offsite'");
    assert_eq!(failed["status"], "failed", "{}", failed["log"]);
    let last = failed["log"]
        .as_str()
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.starts_with("Failed: ") && last.ends_with("Retry 1 of 3 in 2s."),
        "{last}"
    );
    assert!(
        failed["log"].as_str().unwrap().contains("is untouched"),
        "{}",
        failed["log"]
    );
    // The retry waits its turn.
    let retry = copy_tasks(&d, &job)
        .await
        .into_iter()
        .find(|t| t["attempt"] == 1)
        .unwrap();
    assert!(
        retry["status"] == "pending" || retry["status"] == "failed",
        "{retry}"
    );

    // The original is untouched and whole; the sealed copy opens with its own store's key.
    let restored = work.path().join("from original");
    let t = restore_into(&d, &json!({"uuid": first["archive_uuid"]}), &restored).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(std::fs::read(restored.join("data.bin")).unwrap(), data);
    let copy = in_store(&d, &target, &other).await.remove(0);
    assert_eq!(
        (copy["format"].as_str(), copy["origin_uuid"].clone()),
        (Some("sealed"), first["archive_uuid"].clone())
    );
    let blobs: Vec<_> = std::fs::read_dir(work.path().join("other"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!blobs.is_empty());
    let restored = work.path().join("from other");
    let t = restore_into(&d, &copy, &restored).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(std::fs::read(restored.join("data.bin")).unwrap(), data);

    // The server comes back: a retry gets the copy through, as a stream snapshot.
    let s3 = S3Server::start(&s3s, &s3_root, Some(port));
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let tasks = copy_tasks(&d, &job).await;
        if let Some(t) = tasks.iter().find(|t| {
            t["status"] == "done" && t["log"].as_str().unwrap().contains("into store 'offsite'")
        }) {
            break t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no retry got through: {tasks:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(done["attempt"].as_i64().unwrap() >= 1, "{done}");
    let copy = in_store(&d, &target, &offsite).await.remove(0);
    assert_eq!(copy["format"], "stream");
    let restored = work.path().join("from s3");
    let t = restore_into(&d, &copy, &restored).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(std::fs::read(restored.join("data.bin")).unwrap(), data);
    assert!(
        receiver.received().is_empty(),
        "a copy that got through is no failure"
    );

    // Down again, with no retries left to make: the failure is announced once.
    let mut s3 = s3;
    s3.stop();
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let mut body = json!({"name": j["name"], "target": target, "store": primary, "schedule": schedule,
                          "retention": week, "summary": "",
                          "copies": [{"store": offsite, "retention": week, "retries": 0}]});
    body["priority"] = j["priority"].clone();
    let (status, answer) = d.put(&format!("/v1/job/{job}"), &body).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let before = copy_tasks(&d, &job).await.len();
    let second = finished(&d, &run_job(&d, &job).await).await;
    assert_eq!(second["status"], "done", "{}", second["log"]);
    let tasks = copies_ended(&d, &job, before + 1, 60).await;
    let last = tasks.last().unwrap();
    assert_eq!(last["status"], "failed", "{}", last["log"]);
    assert!(
        !last["log"].as_str().unwrap().contains("Retry"),
        "{}",
        last["log"]
    );
    within("a copy_failed notice", 30, || {
        !receiver.received().is_empty()
    })
    .await;
    let got = &receiver.received()[0];
    assert_eq!(got["event"], "copy_failed");
    assert_eq!(got["verified"], true);
    assert_eq!(got["body"]["store"]["name"], "offsite");
    assert_eq!(got["body"]["archive"], second["archive_uuid"]);
    assert!(
        got["body"]["summary"]
            .as_str()
            .unwrap()
            .contains("the archive itself is intact"),
        "{got}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_copy_cut_short_by_a_daemon_kill_is_cleaned_up_and_retried() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "copy me").unwrap();
    let data = work.path().join("daemon");
    std::fs::create_dir(&data).unwrap();
    let mut d = TestDaemon::start_in(
        crate::common::bin(),
        &data,
        &format!(
            "plugin_dirs = [\"{}\"]",
            crate::engine::fixture_plugins().display()
        ),
    )
    .await
    .unwrap();
    let far = work.path().join("far");
    let target = make(
        &d,
        "/v1/targets",
        json!({"name": "docs", "plugin": "fs", "agent": "local", "endpoint": {"base_dir": src}}),
    )
    .await;
    let primary = make(
        &d,
        "/v1/stores",
        json!({"name": "near", "plugin": "fs", "endpoint": {"base_dir": work.path().join("near")}}),
    )
    .await;
    let slow = make(
        &d,
        "/v1/stores",
        json!({"name": "far", "plugin": "shstore", "endpoint": {"base_dir": far, "mode": "slow"}}),
    )
    .await;
    let schedule = make(
        &d,
        "/v1/schedules",
        json!({"name": "daily", "when": "daily at 4am"}),
    )
    .await;
    let week = make(
        &d,
        "/v1/retention",
        json!({"name": "week", "expires": 604800}),
    )
    .await;
    let job = make(
        &d,
        "/v1/jobs",
        json!({"name": "docs", "target": target, "store": primary, "schedule": schedule, "retention": week,
               "paused": true, "copies": [{"store": slow, "retention": week, "retries": 2, "retry_delay": 3}]}),
    )
    .await;
    let backup = finished(&d, &run_job(&d, &job).await).await;
    assert_eq!(backup["status"], "done", "{}", backup["log"]);
    // The copy is half-way into the far store when the daemon dies.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_dir(&far).is_ok_and(|mut r| {
        r.any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".part-")
        })
    }) {
        assert!(Instant::now() < deadline, "the copy never started writing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.kill().unwrap();
    // The far store is fast again when the daemon comes back.
    d.restart().unwrap();
    let (status, body) = d
        .put(
            &format!("/v1/store/{slow}"),
            &json!({"name": "far", "summary": "", "plugin": "shstore", "endpoint": {"base_dir": far}}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let tasks = copies_ended(&d, &job, 2, 60).await;
    let (cut, retry) = (&tasks[0], &tasks[1]);
    assert_eq!(cut["status"], "failed", "{}", cut["log"]);
    let log = cut["log"].as_str().unwrap();
    assert!(log.contains("the daemon stopped during this task"), "{log}");
    assert!(
        log.contains("Removed what the store kept of this upload"),
        "{log}"
    );
    assert_eq!(retry["status"], "done", "{}", retry["log"]);
    assert_eq!(retry["attempt"], 1);
    let copy = in_store(&d, &target, &slow).await;
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0]["origin_uuid"], backup["archive_uuid"]);
    let left: Vec<String> = std::fs::read_dir(&far)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec![copy[0]["store_key"].as_str().unwrap().to_string()]
    );
}
