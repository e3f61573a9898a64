//! Secrets at rest and in flight: a canary password in every kind of endpoint never shows in an
//! API answer, a log, the audit log, the catalog file or its write-ahead log, or any process's
//! command line while tasks run; the master key rotates, and what an older version kept in
//! clear is sealed at start.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::common::{bin, piped};
use crate::engine::{engine_daemon, finished, fixture_plugins, run_job, wire};

fn canary() -> String {
    format!("canary-{}", bulwark_testkit::random_password())
}

/// The bytes of the catalog and its write-ahead log, searched for `needle`.
fn in_catalog_files(d: &TestDaemon, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for name in ["catalog.db", "catalog.db-wal", "catalog.db-shm"] {
        let path = d.data_dir().join(name);
        if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(name.to_string());
        }
    }
    found
}

/// What the watcher saw: command lines holding the needle, and the modes of the environment
/// files of processes whose environment holds it.
#[derive(Default)]
struct Seen {
    command_lines: Vec<String>,
    environ_modes: Vec<u32>,
}

/// Every process's command line and environment, read over and over until `stop`.
fn watch_processes(needle: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    use std::os::unix::fs::PermissionsExt;
    std::thread::spawn(move || {
        let mut seen = Seen::default();
        while !stop.load(Ordering::Relaxed) {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                if let Ok(cmd) = std::fs::read(entry.path().join("cmdline"))
                    && String::from_utf8_lossy(&cmd).contains(&needle)
                {
                    seen.command_lines
                        .push(String::from_utf8_lossy(&cmd).replace('\0', " "));
                }
                let environ = entry.path().join("environ");
                if let Ok(env) = std::fs::read(&environ)
                    && String::from_utf8_lossy(&env).contains(&needle)
                    && let Ok(meta) = std::fs::metadata(&environ)
                {
                    seen.environ_modes.push(meta.permissions().mode() & 0o777);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        seen
    })
}

#[tokio::test]
async fn a_canary_password_never_leaks() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let (src, store) = (dir.path().join("src"), dir.path().join("store"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let secret = canary();
    let seen_by_plugin = dir.path().join("seen");
    let w = wire(
        &d,
        (
            "shtarget",
            json!({"base_dir": src, "mode": "sleepy", "password": secret,
            "password_file": seen_by_plugin}),
        ),
        ("fs", json!({"base_dir": store, "secret_key": secret})),
        3600,
    )
    .await;
    // Endpoints of every kind of target hold it too.
    for (plugin, ep) in [
        (
            "postgres",
            json!({"host": "db", "database": "x", "password": secret}),
        ),
        (
            "mysql",
            json!({"host": "db", "database": "x", "password": secret}),
        ),
        ("redis", json!({"host": "cache", "password": secret})),
        (
            "rabbitmq",
            json!({"url": "http://r:15672", "user": "u", "password": secret}),
        ),
        ("sqlite", json!({"path": "/x.db", "api_token": secret})),
    ] {
        d.create(
            "/v1/targets",
            &json!({"name": plugin, "plugin": plugin, "endpoint": ep, "agent": "127.0.0.1:5444"}),
        )
        .await
        .unwrap();
    }
    // An edit that sends the redacted value back keeps the sealed secret.
    let t = d.get_ok(&format!("/v1/target/{}", w.target)).await.unwrap();
    let mut ep: Value = serde_json::from_str(t["endpoint"].as_str().unwrap()).unwrap();
    assert_eq!(ep["password"], "<redacted>");
    ep["mode"] = "sleepy".into();
    let (s, body) = d
        .put(&format!("/v1/target/{}", w.target), &json!({"name": "t", "summary": "s", "plugin": "shtarget", "endpoint": ep, "agent": "127.0.0.1:5444"}))
        .await
        .unwrap();
    assert_eq!(s, 200, "{body}");

    // A backup while every command line is watched.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_processes(secret.clone(), stop.clone());
    let task = run_job(&d, &w.job).await;
    let t = finished(&d, &task).await;
    stop.store(true, Ordering::Relaxed);
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let seen = watcher.join().unwrap();
    assert!(
        seen.command_lines.is_empty(),
        "the secret was on a command line: {:?}",
        seen.command_lines
    );
    // It was in the plugin's environment, which only the daemon's user (and root) can read.
    assert!(
        !seen.environ_modes.is_empty(),
        "no process had the endpoint in its environment"
    );
    assert!(
        seen.environ_modes.iter().all(|m| m & 0o077 == 0),
        "an environment readable by other users: {:?}",
        seen.environ_modes
    );

    // The plugin got the real password (opened just for it).
    assert_eq!(
        std::fs::read_to_string(&seen_by_plugin).unwrap().trim(),
        secret
    );

    let mut answers = String::new();
    for path in [
        "/v1/targets",
        "/v1/stores",
        "/v1/jobs",
        "/v1/archives",
        "/v1/tasks?limit=100",
        "/v1/audit",
    ] {
        answers.push_str(&d.get_ok(path).await.unwrap().to_string());
    }
    answers.push_str(&d.text(&format!("/v1/task/{task}/log")).await.unwrap().1);
    assert!(!answers.contains(&secret), "an API answer holds the secret");
    assert!(
        !d.log().contains(&secret),
        "the daemon log holds the secret"
    );
    assert_eq!(in_catalog_files(&d, &secret), Vec::<String>::new());
    // The catalog holds sealed values under the master key's id.
    let db = rusqlite::Connection::open(d.data_dir().join("catalog.db")).unwrap();
    let stored: String = db
        .query_row(
            "SELECT endpoint FROM targets WHERE uuid = ?1",
            [&w.target],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.contains("bulwark:sealed:v2:"), "{stored}");
}

fn rotate(config: &Path, stdin: Option<&str>) -> (bool, String) {
    let mut c = Command::new(bin());
    c.args(["secrets", "rotate", "--config"]).arg(config);
    if stdin.is_some() {
        c.arg("--new-passphrase-stdin");
    }
    let (code, out, err) = piped(&mut c, stdin.unwrap_or_default());
    (code == 0, format!("{out}{err}"))
}

fn key_ids(d: &TestDaemon) -> Vec<String> {
    let db = rusqlite::Connection::open(d.data_dir().join("catalog.db")).unwrap();
    let mut ids: Vec<String> = db
        .prepare("SELECT endpoint FROM targets UNION ALL SELECT secret FROM stores")
        .unwrap()
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .flatten()
        .flatten()
        .flat_map(|t| {
            t.match_indices("v2:")
                .map(|(i, _)| t[i + 3..i + 11].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[tokio::test]
async fn the_master_key_rotates_and_old_clear_secrets_get_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("plugin_dirs = [\"{}\"]", fixture_plugins().display());
    let mut d = TestDaemon::start_in(bin(), dir.path(), &extra)
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let (src, store) = (work.path().join("src"), work.path().join("store"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let secret = canary();
    let seen = work.path().join("seen");
    let w = wire(
        &d,
        (
            "shtarget",
            json!({"base_dir": src, "password": secret, "password_file": seen}),
        ),
        ("fs", json!({"base_dir": store})),
        3600,
    )
    .await;
    let before = key_ids(&d);
    assert_eq!(before.len(), 1, "{before:?}");
    // Not while the daemon runs.
    let (ok, said) = rotate(&d.config_path(), None);
    assert!(!ok && said.contains("stop it first"), "{said}");
    d.stop().unwrap();
    let old_key = std::fs::read_to_string(d.data_dir().join("master.key")).unwrap();
    let (ok, said) = rotate(&d.config_path(), None);
    assert!(ok, "{said}");
    assert!(said.contains(&format!("(was {})", before[0])), "{said}");
    let after = key_ids(&d);
    assert_eq!(after.len(), 1);
    assert_ne!(after, before);
    assert_ne!(
        std::fs::read_to_string(d.data_dir().join("master.key")).unwrap(),
        old_key
    );
    assert!(!d.data_dir().join("master.key.next").exists());
    // The daemon starts with the new key, and a backup hands the plugin the same password.
    d.restart().unwrap();
    let t = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(std::fs::read_to_string(&seen).unwrap().trim(), secret);

    // A rotation cut short: the daemon will not start until it is finished.
    d.stop().unwrap();
    std::fs::write(d.data_dir().join("master.key.next"), "0".repeat(64)).unwrap();
    std::fs::set_permissions(
        d.data_dir().join("master.key.next"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["server", "--config"])
        .arg(d.config_path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rotation"),
        "{out:?}"
    );
    let (ok, said) = rotate(&d.config_path(), None);
    assert!(ok, "{said}");
    assert_eq!(
        std::fs::read_to_string(d.data_dir().join("master.key")).unwrap(),
        "0".repeat(64)
    );

    // A secret left in clear by an older version is sealed at start.
    let db = rusqlite::Connection::open(d.data_dir().join("catalog.db")).unwrap();
    let clear = json!({"base_dir": src, "password": secret, "password_file": seen}).to_string();
    db.execute(
        "UPDATE targets SET endpoint = ?1 WHERE uuid = ?2",
        [&clear, &w.target],
    )
    .unwrap();
    drop(db);
    d.restart().unwrap();
    assert!(
        d.log()
            .contains("Sealed the secrets an older version kept in clear.")
    );
    assert_eq!(in_catalog_files(&d, &secret), Vec::<String>::new());
    let t = finished(&d, &run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
}

#[tokio::test]
async fn a_passphrase_rotates_to_a_new_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = TestDaemon::start_in(
        bin(),
        dir.path(),
        "[secrets]\npassphrase = \"first passphrase\"",
    )
    .await
    .unwrap();
    let id = d
        .create("/v1/targets", &json!({"name": "t", "plugin": "postgres", "validate": false, "endpoint": {"host": "h", "password": "pw"}, "agent": "127.0.0.1:5444"}))
        .await
        .unwrap();
    d.stop().unwrap();
    let (ok, said) = rotate(&d.config_path(), None);
    assert!(!ok && said.contains("--new-passphrase-stdin"), "{said}");
    let (ok, said) = rotate(&d.config_path(), Some("second passphrase\n"));
    assert!(ok, "{said}");
    assert!(said.contains("set secrets.passphrase"), "{said}");
    // The old passphrase no longer opens the data directory; the new one does.
    let out = Command::new(bin())
        .args(["server", "--config"])
        .arg(d.config_path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not match"),
        "{out:?}"
    );
    let mut d2 = TestDaemon::start_in(
        bin(),
        dir.path(),
        "[secrets]\npassphrase = \"second passphrase\"",
    )
    .await
    .unwrap();
    let t = d2.get_ok(&format!("/v1/target/{id}")).await.unwrap();
    assert!(t["endpoint"].as_str().unwrap().contains("<redacted>"));
    d2.stop().unwrap();
}
