//! Schelly backup providers: Bulwark's scheduler and retention drive a backend that keeps its
//! own data, through the `schelly` plugin, against a provider server written for the tests from
//! Schelly's spec: a backup that becomes available, one that fails, one that never does, and
//! DELETE on purge, with custom headers and bodies.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::common::bin;

struct Provider {
    port: u16,
    out: PathBuf,
    child: Child,
}

impl Provider {
    fn start(dir: &Path) -> Provider {
        let port = crate::servers::free_port();
        let out = dir.join("provider.jsonl");
        let child = Command::new("/usr/bin/python3")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/receivers/schelly_provider.py"),
            )
            .arg(port.to_string())
            .arg(&out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        crate::servers::wait_until("the Schelly provider", 30, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Provider { port, out, child }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/backups", self.port)
    }

    /// The requests it received.
    fn seen(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn backup(d: &TestDaemon, job: &str) -> Value {
    crate::engine::finished(d, &crate::engine::run_job(d, job).await).await
}

async fn set_outcome(d: &TestDaemon, target: &str, outcome: &str) {
    let (s, b) = d
        .put(
            &format!("/v1/target/{target}"),
            &json!({"name": "provider", "summary": "", "plugin": "schelly", "agent": "local",
                    "endpoint": {"create_body": format!("{{\"outcome\": \"{outcome}\", \"database\": \"shop\"}}")}}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn a_schelly_provider_is_driven_by_the_scheduler_and_retention() {
    let root = tempfile::tempdir().unwrap();
    let p = Provider::start(root.path());
    let d = TestDaemon::start_with(bin(), "").await.unwrap();
    let target = d
        .create(
            "/v1/targets",
            &json!({"name": "provider", "plugin": "schelly", "agent": "local", "endpoint": {}}),
        )
        .await
        .unwrap();
    set_outcome(&d, &target, "available").await;
    let store = d
        .create(
            "/v1/stores",
            &json!({"name": "restic via schelly", "plugin": "schelly",
                    "endpoint": {"url": p.url(), "headers": ["X-Token: t0k3n-42"],
                                 "delete_body": "{\"reason\": \"retention\"}", "poll_interval": 1}}),
        )
        .await
        .unwrap();
    let schedule = d
        .create(
            "/v1/schedules",
            &json!({"name": "n", "when": "daily at 23:59"}),
        )
        .await
        .unwrap();
    let policy = d
        .create(
            "/v1/retention",
            &json!({"name": "one", "keep_last": 1, "min_good": 1}),
        )
        .await
        .unwrap();
    let job = d
        .create(
            "/v1/jobs",
            &json!({"name": "shop via provider", "target": target, "store": store,
                    "schedule": schedule, "retention": policy, "paused": true}),
        )
        .await
        .unwrap();

    // Available after polling: the archive's key is the provider's id and data id.
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let first = d
        .get_ok(&format!(
            "/v1/archive/{}",
            t["archive_uuid"].as_str().unwrap()
        ))
        .await
        .unwrap();
    let key = first["store_key"].as_str().unwrap().to_string();
    let (id, data_id) = key.split_once(':').unwrap();
    assert_eq!(data_id, format!("snap-{id}"));
    let seen = p.seen();
    let post = &seen[0];
    assert_eq!(post["method"], "POST");
    assert_eq!(post["headers"]["x-token"], "t0k3n-42");
    assert_eq!(
        serde_json::from_str::<Value>(post["body"].as_str().unwrap()).unwrap()["database"],
        "shop"
    );
    assert!(
        seen.iter()
            .filter(|r| r["method"] == "GET" && r["path"] == format!("/backups/{id}"))
            .count()
            >= 2,
        "{seen:?}"
    );

    // A second backup, and retention keeps one: the first is deleted at the provider.
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    d.post_ok("/v1/retention/sweep", &json!({})).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = d
            .get_ok(&format!("/v1/archive/{}", first["uuid"].as_str().unwrap()))
            .await
            .unwrap();
        if a["status"] == "purged" {
            break;
        }
        assert!(Instant::now() < deadline, "never purged: {a}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let delete = p
        .seen()
        .into_iter()
        .find(|r| r["method"] == "DELETE")
        .expect("a DELETE");
    assert_eq!(delete["path"], format!("/backups/{id}"));
    assert_eq!(delete["headers"]["x-token"], "t0k3n-42");
    assert_eq!(delete["body"], "{\"reason\": \"retention\"}");

    // A backup that fails at the provider fails the task, and no archive is made.
    let before = d
        .get_ok("/v1/archives")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    set_outcome(&d, &target, "error").await;
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"].as_str().unwrap().contains("the disk is full"),
        "{}",
        t["log"]
    );

    // One that never becomes available fails once the store's timeout passes.
    let (s, b) = d
        .put(
            &format!("/v1/store/{store}"),
            &json!({"name": "restic via schelly", "summary": "", "plugin": "schelly",
                    "endpoint": {"url": p.url(), "headers": ["X-Token: t0k3n-42"], "poll_interval": 1, "timeout": 3}}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    set_outcome(&d, &target, "never").await;
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("was not available within 3s"),
        "{}",
        t["log"]
    );
    assert_eq!(
        d.get_ok("/v1/archives")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        before
    );
}

/// Tools written for Schelly drive a Bulwark job through Schelly's own scheduler API.
#[tokio::test]
async fn schelly_tools_drive_a_job_through_its_scheduler_api() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a"), "a").unwrap();
    let d = TestDaemon::start_with(bin(), "").await.unwrap();
    let target = d
        .create(
            "/v1/targets",
            &json!({"name": "files", "plugin": "fs", "agent": "local", "endpoint": {"base_dir": src}}),
        )
        .await
        .unwrap();
    let (store, schedule, _) = crate::common::job_parts(&d, &root.path().join("store")).await;
    let policy = d
        .create(
            "/v1/retention",
            &json!({"name": "dailies", "keep_daily": 7}),
        )
        .await
        .unwrap();
    let job = d
        .create(
            "/v1/jobs",
            &json!({"name": "files", "target": target, "store": store, "schedule": schedule,
                    "retention": policy, "paused": true}),
        )
        .await
        .unwrap();
    let base = format!("/v1/job/{job}/schelly/backups");
    let (s, started) = d.post(&base, &json!({})).await.unwrap();
    assert_eq!(s, 202, "{started}");
    assert_eq!(started["status"], "running");
    let id = started["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let b = d.get_ok(&format!("{base}/{id}")).await.unwrap();
        if b["status"] != "running" {
            break b;
        }
        assert!(Instant::now() < deadline, "{b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["status"], "available", "{done}");
    assert_eq!(done["tags"], json!(["daily"]));
    assert!(done["custom_data"].is_string());
    let list = d
        .get_ok(&format!("{base}?status=available&tag=daily"))
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let none = d.get_ok(&format!("{base}?status=error")).await.unwrap();
    assert!(none.as_array().unwrap().is_empty());
    let (s, _) = d.get(&format!("{base}?status=sideways")).await.unwrap();
    assert_eq!(s, 400);
    let (s, _) = d
        .get(&format!("{base}/{}", uuid::Uuid::new_v4()))
        .await
        .unwrap();
    assert_eq!(s, 404);
}
