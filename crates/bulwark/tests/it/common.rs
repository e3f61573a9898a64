//! Helpers shared by the integration tests.

use std::path::Path;

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

/// `bulwark server` on a new data directory in `dir` with no user made, on a free port, its
/// stdout and stderr piped; returns its configuration file and the process.
pub fn userless_server(dir: &Path) -> (std::path::PathBuf, std::process::Child) {
    use std::process::{Command, Stdio};
    let config = dir.join("bulwark.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(bin())
        .args(["server", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (config, child)
}

pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bulwark"))
}

/// Configuration that holds every task pending (no workers): for tests of the API's
/// bookkeeping, where a task must stay where the request put it.
pub const HOLD_TASKS: &str = "[tasks]\nworkers = 0";

/// A daemon whose tasks stay pending ([`HOLD_TASKS`]).
pub async fn daemon() -> TestDaemon {
    TestDaemon::start_with(bin(), HOLD_TASKS)
        .await
        .expect("daemon starts")
}

/// One of each resource, wired into one job.
pub struct Fixture {
    pub schedule: String,
    pub retention: String,
    pub target: String,
    pub store: String,
    pub job: String,
}

pub async fn fixture(d: &TestDaemon, tag: &str) -> Fixture {
    let schedule = d
        .create(
            "/v1/schedules",
            &json!({"name": format!("{tag} nightly"), "when": "daily at 4am"}),
        )
        .await
        .unwrap();
    let retention = d
        .create(
            "/v1/retention",
            &json!({"name": format!("{tag} 7d"), "expires": 7 * 86400}),
        )
        .await
        .unwrap();
    let target = d
        .create(
            "/v1/targets",
            // Not validated: there is no host "db" (the API's own bookkeeping is under test).
            &json!({"name": format!("{tag} db"), "plugin": "postgres", "validate": false,
                    "endpoint": {"host": "db", "password": "hunter2"}, "agent": "127.0.0.1:5444"}),
        )
        .await
        .unwrap();
    let store = d
        .create(
            "/v1/stores",
            &json!({"name": format!("{tag} disk"), "plugin": "fs", "validate": false,
                    "endpoint": {"base_dir": "/srv/backups"}}),
        )
        .await
        .unwrap();
    let job = d
        .create(
            "/v1/jobs",
            &json!({"name": format!("{tag} job"), "store": store, "target": target,
                    "retention": retention, "schedule": schedule, "paused": false}),
        )
        .await
        .unwrap();
    Fixture {
        schedule,
        retention,
        target,
        store,
        job,
    }
}

/// Everything the API can list; equal snapshots mean the catalog did not change.
pub async fn snapshot(d: &TestDaemon) -> Value {
    let mut all = serde_json::Map::new();
    for path in [
        "/v1/schedules",
        "/v1/retention",
        "/v1/targets",
        "/v1/stores",
        "/v1/jobs",
        "/v1/archives",
        "/v1/tasks",
    ] {
        let mut v = d.get_ok(path).await.unwrap();
        // next_run moves with the clock; it is not catalog state.
        if path == "/v1/schedules" {
            for s in v.as_array_mut().unwrap() {
                s.as_object_mut().unwrap().remove("next_run");
            }
        }
        // An archive no rule keeps any more "expires" at the time it is looked at (the
        // sweep takes it next): that moves with the clock too.
        if path == "/v1/archives" {
            for a in v.as_array_mut().unwrap() {
                if a["kept_by"].as_array().is_some_and(Vec::is_empty) {
                    a.as_object_mut().unwrap().remove("expires_at");
                }
            }
        }
        all.insert(path.to_string(), v);
    }
    Value::Object(all)
}

/// Asserts an error answer: the status, and that the message contains `needle`.
#[track_caller]
pub fn assert_error(answer: (u16, Value), status: u16, needle: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "status of answer {body}");
    let msg = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"));
    assert!(
        msg.contains(needle),
        "error '{msg}' should contain '{needle}'"
    );
}

/// The uuids in a list answer, in order.
pub fn uuids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["uuid"].as_str().unwrap().to_string())
        .collect()
}

/// Runs a prepared command with `stdin` piped in; returns (exit code, stdout, stderr).
pub fn piped(cmd: &mut std::process::Command, stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every `(method, path)` of an OpenAPI document, methods lowercase.
pub fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect()
}

/// Records an archive of a fixture's target and store straight in a stopped daemon's catalog.
pub async fn record_archive(
    catalog: &bulwark_catalog::Catalog,
    f: &Fixture,
    key: &str,
    taken_at: i64,
    expires_at: i64,
) -> String {
    catalog
        .create_archive(&bulwark_catalog::NewArchive {
            target: f.target.parse().unwrap(),
            store: f.store.parse().unwrap(),
            store_key: key.to_string(),
            taken_at,
            expires_at,
            notes: String::new(),
            size: 0,
            uuid: None,
            job: None,
            format: bulwark_catalog::ArchiveFormat::Raw,
            added: None,
            origin: None,
        })
        .await
        .unwrap()
        .to_string()
}

/// Waits until the file at `path` says something (a pid a test plugin wrote), and returns it.
pub async fn written(path: &Path, what: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = std::fs::read_to_string(path).unwrap_or_default();
        if !s.trim().is_empty() {
            return s.trim().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never happened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits until the process `pid` is gone (a zombie counts as gone).
pub async fn gone(pid: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "process {pid} survived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A store (fs, in `store_dir`), a daily schedule and a keep-10 policy: what a test's jobs need.
pub async fn job_parts(d: &TestDaemon, store_dir: &Path) -> (String, String, String) {
    let store = d
        .create(
            "/v1/stores",
            &serde_json::json!({"name": "disk", "plugin": "fs", "endpoint": {"base_dir": store_dir}, "validate": false}),
        )
        .await
        .unwrap();
    let schedule = d
        .create(
            "/v1/schedules",
            &serde_json::json!({"name": "n", "when": "daily at 4am"}),
        )
        .await
        .unwrap();
    let policy = d
        .create(
            "/v1/retention",
            &serde_json::json!({"name": "r", "keep_last": 10}),
        )
        .await
        .unwrap();
    (store, schedule, policy)
}
