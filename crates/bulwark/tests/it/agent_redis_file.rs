//! The `redis` target's file restore on an agent: the server stopped, the snapshot made its
//! dump file and (with `appendonly yes`) its append-only files, the server started again; and
//! a start that goes wrong puts the server back as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_testkit::TestDaemon;
use serde_json::json;

use crate::agent_tasks::{ended, enrolled, made};
use crate::common::bin;

const PASSWORD: &str = "file-restore pw";

/// A daemonized `redis-server` with `appendonly yes`, as a service manager would run it;
/// killed when dropped.
struct Daemonized {
    dir: PathBuf,
    port: u16,
}

impl Daemonized {
    fn start(dir: &Path) -> Option<Daemonized> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("redis-server is not installed; skipped");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let port = crate::servers::free_port();
        std::fs::write(
            dir.join("redis.conf"),
            format!(
                "port {port}\nbind 127.0.0.1\ndir {d}\ndaemonize yes\npidfile {d}/redis.pid\nlogfile {d}/redis.log\nappendonly yes\nrequirepass \"{PASSWORD}\"\n",
                d = dir.display()
            ),
        )
        .unwrap();
        // Fails once, after starting the server, while the file `fail-once` exists.
        let start = dir.join("start.sh");
        std::fs::write(
            &start,
            format!(
                "#!/bin/sh\nredis-server {d}/redis.conf\nif [ -e {d}/fail-once ]; then rm {d}/fail-once; echo 'start: health check failed' >&2; exit 1; fi\n",
                d = dir.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&start, std::fs::Permissions::from_mode(0o755)).unwrap();
        let r = Daemonized {
            dir: dir.to_path_buf(),
            port,
        };
        assert!(Command::new(&start).status().unwrap().success());
        crate::servers::wait_until("redis-server", 30, || r.try_conn().is_some());
        Some(r)
    }

    fn try_conn(&self) -> Option<redis::Connection> {
        let url = format!(
            "redis://:{}@127.0.0.1:{}/",
            PASSWORD.replace(' ', "%20"),
            self.port
        );
        let mut c = redis::Client::open(url.as_str())
            .ok()?
            .get_connection()
            .ok()?;
        redis::cmd("PING").query::<String>(&mut c).ok()?;
        Some(c)
    }

    fn conn(&self) -> redis::Connection {
        self.try_conn().expect("redis answers")
    }

    /// Every key with its value (strings and hashes).
    fn state(&self) -> BTreeMap<String, String> {
        let mut c = self.conn();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
        keys.into_iter()
            .map(|k| {
                let t: String = redis::cmd("TYPE").arg(&k).query(&mut c).unwrap();
                let v = if t == "hash" {
                    let m: BTreeMap<String, String> =
                        redis::cmd("HGETALL").arg(&k).query(&mut c).unwrap();
                    format!("{m:?}")
                } else {
                    redis::cmd("GET").arg(&k).query(&mut c).unwrap()
                };
                (k, v)
            })
            .collect()
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("redis.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops it with a save, as an operator restarting it would, then starts it again.
    fn restart(&self) {
        let _ = redis::cmd("SHUTDOWN").arg("SAVE").exec(&mut self.conn());
        crate::servers::wait_until("redis-server to stop", 30, || self.try_conn().is_none());
        assert!(
            Command::new(self.dir.join("start.sh"))
                .status()
                .unwrap()
                .success()
        );
        crate::servers::wait_until("redis-server", 30, || self.try_conn().is_some());
    }
}

impl Drop for Daemonized {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

#[tokio::test]
async fn a_file_restore_replaces_the_servers_files_and_a_bad_start_puts_them_back() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let Some(r) = Daemonized::start(&root.join("redis")) else {
        return;
    };
    let mut c = r.conn();
    let mut p = redis::pipe();
    for i in 0..500 {
        p.cmd("SET").arg(format!("k:{i}")).arg(i).ignore();
    }
    p.cmd("HSET").arg("h").arg("f").arg("v").ignore();
    p.exec(&mut c).unwrap();
    let before = r.state();
    assert_eq!(before.len(), 501);

    let d = TestDaemon::start_with(bin(), "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2")
        .await
        .unwrap();
    let _cache = enrolled(&d, &root, "cache1", "cache1:5444", &["redis", "fs"]).await;
    let target = made(
        &d,
        "/v1/targets",
        json!({"name": "cache", "plugin": "redis", "agent": "cache1:5444",
               "endpoint": {"host": "127.0.0.1", "port": r.port, "password": PASSWORD,
                            "restore": "file", "start_command": r.dir.join("start.sh")}}),
    )
    .await;
    let store = made(
        &d,
        "/v1/stores",
        json!({"name": "s", "plugin": "fs", "endpoint": {"base_dir": root.join("store")}, "validate": false}),
    )
    .await;
    let schedule = made(&d, "/v1/schedules", json!({"name": "n", "when": "hourly"})).await;
    let policy = made(&d, "/v1/retention", json!({"name": "r", "keep_last": 3})).await;
    let job = made(
        &d,
        "/v1/jobs",
        json!({"name": "cache hourly", "target": target, "store": store,
               "schedule": schedule, "retention": policy, "paused": true}),
    )
    .await;
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let archive = t["archive_uuid"].as_str().unwrap().to_string();

    redis::cmd("FLUSHALL").exec(&mut c).unwrap();
    redis::cmd("SET").arg("junk").arg("x").exec(&mut c).unwrap();
    let changed = r.state();
    let restore = || async {
        let t = d
            .post_ok(
                &format!("/v1/archive/{archive}/restore"),
                &json!({"target": target}),
            )
            .await
            .unwrap();
        ended(&d, t["task_uuid"].as_str().unwrap()).await
    };

    // The start after the swap goes wrong: the server is stopped, its own files put back, and
    // it is started again with what it had.
    std::fs::write(r.dir.join("fail-once"), "").unwrap();
    let t = restore().await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("health check failed"), "{log}");
    assert!(log.contains("put back and it was started again"), "{log}");
    assert_eq!(r.state(), changed);

    // Now it goes through: the snapshot's data, also in the append-only files the server
    // loads after a restart.
    let t = restore().await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("append-only files were made from the snapshot"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "{log}");
    assert_eq!(r.state(), before);
    redis::cmd("SET")
        .arg("after")
        .arg("1")
        .exec(&mut r.conn())
        .unwrap();
    r.restart();
    let mut expected = before.clone();
    expected.insert("after".into(), "1".into());
    assert_eq!(r.state(), expected);
    assert!(r.dir.join("dump.rdb.bulwark-before-restore").exists());
}
