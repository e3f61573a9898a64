//! Restore drills into scratch targets on an agent: the agent restores, verifies and wipes,
//! for a stream (sqlite into a plugin store) and for a tree (fs into a repository); a scratch
//! target that does not hold what was backed up fails the drill.

use std::path::Path;

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::agent_tasks::{ended, enrolled, made};
use crate::common::bin;

fn sqlite_db(path: &Path, rows: usize) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        .unwrap();
    for i in 0..rows {
        c.execute("INSERT INTO t (v) VALUES (?1)", [format!("row {i}")])
            .unwrap();
    }
}

async fn drill(d: &TestDaemon, job: &str) -> Value {
    let t = d
        .post_ok(&format!("/v1/job/{job}/drill"), &json!({}))
        .await
        .unwrap();
    ended(d, t["task_uuid"].as_str().unwrap()).await
}

/// A paused job of `target` into `store` with `scratch` as its drill target, backed up once.
async fn backed_up(d: &TestDaemon, name: &str, target: &str, store: &str, scratch: &str) -> String {
    let schedule = made(
        d,
        "/v1/schedules",
        json!({"name": format!("{name} n"), "when": "daily"}),
    )
    .await;
    let policy = made(
        d,
        "/v1/retention",
        json!({"name": format!("{name} r"), "keep_last": 3}),
    )
    .await;
    let job = made(
        d,
        "/v1/jobs",
        json!({"name": name, "target": target, "store": store, "schedule": schedule,
               "retention": policy, "drill_target": scratch, "paused": true}),
    )
    .await;
    let t = ended(d, &crate::engine::run_job(d, &job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    job
}

#[tokio::test]
async fn drills_run_on_the_agent_of_their_scratch_target() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let d = TestDaemon::start_with(bin(), "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2")
        .await
        .unwrap();
    let _a = enrolled(
        &d,
        &root,
        "db1",
        "db1:5444",
        &["fs", "sqlite", "repository"],
    )
    .await;
    let on_agent = |name: &str, plugin: &str, endpoint: Value| {
        json!({"name": name, "plugin": plugin, "endpoint": endpoint, "agent": "db1:5444",
               "validate": false})
    };

    // A stream: an sqlite database into a plugin store, drilled into a scratch database.
    sqlite_db(&root.join("app.db"), 300);
    let app = made(
        &d,
        "/v1/targets",
        on_agent("app", "sqlite", json!({"path": root.join("app.db")})),
    )
    .await;
    let scratch_db = root.join("scratch.db");
    let scratch = made(
        &d,
        "/v1/targets",
        on_agent("scratch db", "sqlite", json!({"path": scratch_db})),
    )
    .await;
    let blobs = made(
        &d,
        "/v1/stores",
        json!({"name": "blobs", "plugin": "fs", "endpoint": {"base_dir": root.join("store")}, "validate": false}),
    )
    .await;
    let job = backed_up(&d, "app nightly", &app, &blobs, &scratch).await;
    let t = drill(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("on agent 'db1'"), "{log}");
    assert!(log.contains("Done: the drill passed"), "{log}");
    assert!(log.contains("Wiped the scratch target"), "{log}");
    assert!(!scratch_db.exists(), "the scratch database was wiped");
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    assert_eq!(j["last_drill"]["outcome"], "passed", "{j}");
    assert!(j["last_drill"]["rto"].as_f64().unwrap() > 0.0, "{j}");

    // A tree: a directory into a repository, drilled into a scratch directory on the agent.
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    bulwark_testkit::tree::tricky(&src, 1024 * 1024).unwrap();
    let files = made(
        &d,
        "/v1/targets",
        on_agent("files", "fs", json!({"base_dir": src})),
    )
    .await;
    let scratch_dir = root.join("scratch-dir");
    let scratch = made(
        &d,
        "/v1/targets",
        on_agent("scratch dir", "fs", json!({"base_dir": scratch_dir})),
    )
    .await;
    let repo = made(
        &d,
        "/v1/stores",
        json!({"name": "repo", "plugin": "repository", "endpoint": {"path": root.join("repo")}, "validate": false}),
    )
    .await;
    let job = backed_up(&d, "files nightly", &files, &repo, &scratch).await;
    let t = drill(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("comparing every file with the snapshot"),
        "{log}"
    );
    assert!(log.contains("Done: the drill passed"), "{log}");
    assert_eq!(
        std::fs::read_dir(&scratch_dir).map_or(0, |r| r.count()),
        0,
        "the scratch directory was emptied"
    );

    // A scratch directory outside the agent's paths: the agent refuses, the drill fails and
    // says why.
    let outside = made(
        &d,
        "/v1/targets",
        on_agent(
            "outside",
            "fs",
            json!({"base_dir": "/var/tmp/bulwark-drill-outside"}),
        ),
    )
    .await;
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let (s, b) = d
        .put(
            &format!("/v1/job/{job}"),
            &json!({"name": j["name"], "summary": "", "store": j["store_uuid"],
                    "target": j["target_uuid"], "retention": j["retention_uuid"],
                    "schedule": j["schedule_uuid"], "drill_target": outside}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let t = drill(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("is not under this agent's paths"), "{log}");
    assert!(!Path::new("/var/tmp/bulwark-drill-outside").exists());
}
