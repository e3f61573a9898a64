//! The CLI driven as a user would: the real binary against a real daemon, over HTTP only. A
//! full backup and restore cycle with CLI commands alone, every filter, `--json` parsed, the
//! prompts and the progress bar on a real pseudo-terminal (util-linux `script`), and the errors.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_testkit::{TestDaemon, tree};
use serde_json::Value;

use crate::common::{bin, daemon, fixture};
use crate::engine::engine_daemon;

/// Runs `bulwark ARGS --api URL` with no terminal; returns (exit code, stdout, stderr).
pub(crate) fn cli(d: &TestDaemon, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .args(["--api", &d.base_url])
        .env_remove("BULWARK_API")
        .env("BULWARK_TOKEN", d.token())
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed and print JSON; returns the JSON.
#[track_caller]
pub(crate) fn json(d: &TestDaemon, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = cli(d, &a);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

/// Runs a command that must fail; returns its one line of error.
#[track_caller]
pub(crate) fn fails(d: &TestDaemon, args: &[&str]) -> String {
    let (code, out, err) = cli(d, args);
    assert_eq!(code, 1, "{args:?} should fail: {out} {err}");
    assert!(out.is_empty(), "{args:?} printed on stdout: {out}");
    let line = err.trim_end();
    assert_eq!(line.lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(line.starts_with("bulwark: "), "{line}");
    line.to_string()
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn len(v: &Value) -> usize {
    v.as_array().unwrap().len()
}

/// A command on a pseudo-terminal (util-linux `script`), answered like `expect`.
pub(crate) struct Terminal {
    child: std::process::Child,
    input: Option<std::process::ChildStdin>,
    seen: Arc<Mutex<Vec<u8>>>,
    cursor: usize,
}

impl Terminal {
    pub(crate) fn start(d: &TestDaemon, args: &[&str]) -> Terminal {
        let quoted: Vec<String> = std::iter::once(bin().display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .chain(["--api".to_string(), d.base_url.clone()])
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut child = Command::new("script")
            .args(["-qefc", &quoted.join(" "), "/dev/null"])
            .env("TERM", "xterm")
            .env("COLUMNS", "120")
            .env("HOME", "/nonexistent")
            .env("BULWARK_TOKEN", d.token())
            .env_remove("BULWARK_API")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("util-linux script (Debian package bsdutils) runs");
        let mut out = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            input: child.stdin.take(),
            child,
            seen,
            cursor: 0,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits until the output after the last match contains `needle`.
    #[track_caller]
    pub(crate) fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let all = self.text();
            if let Some(at) = all.get(self.cursor..).and_then(|rest| rest.find(needle)) {
                self.cursor += at + needle.len();
                return;
            }
            if Instant::now() > deadline {
                let tail: String = all
                    .chars()
                    .rev()
                    .take(3000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!("no '{needle}' on the terminal; it ends with:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn send(&mut self, line: &str) {
        let input = self.input.as_mut().unwrap();
        input.write_all(format!("{line}\r").as_bytes()).unwrap();
        input.flush().unwrap();
    }

    /// Waits for the exit code.
    pub(crate) fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                drop(self.input.take());
                return (status.code().unwrap_or(-1), self.text());
            }
            assert!(Instant::now() < deadline, "hangs: {}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A paused job from the shell fixture plugins: target `name` (shtarget in `mode` over
/// `base_dir`) into store `blobs` (shstore in `blobs_dir`), retention `r` (1h), on `schedule`.
pub(crate) fn shell_job(
    d: &TestDaemon,
    (name, mode, base_dir): (&str, &str, &Path),
    job: &str,
    blobs_dir: &Path,
    schedule: &str,
) {
    let endpoint = format!(
        r#"{{"base_dir": "{}", "mode": "{mode}"}}"#,
        base_dir.display()
    );
    let set_blobs = format!("base_dir={}", blobs_dir.display());
    for args in [
        vec![
            "create",
            "target",
            "--name",
            name,
            "--plugin",
            "shtarget",
            "--endpoint",
            &endpoint,
        ],
        vec![
            "create", "store", "--name", "blobs", "--plugin", "shstore", "--set", &set_blobs,
        ],
        vec!["create", "retention", "--name", "r", "--expires", "1h"],
        vec![
            "create",
            "job",
            "--name",
            job,
            "--target",
            name,
            "--store",
            "blobs",
            "--schedule",
            schedule,
            "--retention-policy",
            "r",
            "--paused",
        ],
    ] {
        assert_eq!(json(d, &args)["ok"], "created", "{args:?}");
    }
}

/// YYYYMMDD of an API time, and of the day after.
fn day_and_next(api_time: &str) -> (String, String) {
    let d = chrono::NaiveDate::parse_from_str(&api_time[..10], "%Y-%m-%d").unwrap();
    (
        d.format("%Y%m%d").to_string(),
        d.succ_opt().unwrap().format("%Y%m%d").to_string(),
    )
}

#[tokio::test]
async fn status_list_and_show_with_filters_names_and_prefixes() {
    let d = daemon().await;
    let a = fixture(&d, "alpha").await;
    let _b = fixture(&d, "beta").await;
    d.post_ok(&format!("/v1/job/{}/pause", a.job), &serde_json::json!({}))
        .await
        .unwrap();

    // The daemon is up; the backups are not: beta's job never ran (alpha's is paused).
    let (code, out, err) = cli(&d, &["status"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("is up"), "{out}");
    assert!(
        err.contains("1 job(s) need attention: beta job: never"),
        "{err}"
    );

    // Tables by default, JSON on request, the API's filters.
    let (code, out, _) = cli(&d, &["list", "targets"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("UUID"), "{out}");
    assert!(out.contains("alpha db") && out.contains("beta db"), "{out}");
    assert_eq!(
        names(&json(&d, &["list", "targets", "--plugin", "postgres"])),
        ["alpha db", "beta db"]
    );
    assert!(
        json(&d, &["list", "targets", "--plugin", "mysql"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(&json(&d, &["list", "schedules", "--used"])),
        ["alpha nightly", "beta nightly"]
    );
    assert!(
        json(&d, &["list", "schedules", "--unused"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(names(&json(&d, &["list", "jobs", "--paused"])).len(), 1);
    assert_eq!(names(&json(&d, &["list", "jobs", "--unpaused"])).len(), 1);
    let by_target = json(&d, &["list", "jobs", "--target", "alpha db"]);
    assert_eq!(by_target[0]["uuid"], a.job.as_str());
    let by_store = json(&d, &["list", "jobs", "--store", &a.store[..8]]);
    assert_eq!(by_store[0]["uuid"], a.job.as_str());
    assert_eq!(
        json(&d, &["list", "jobs", "--retention-policy", "alpha 7d"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(json(&d, &["list", "archives", "--after", "20260101"]).is_array());
    assert!(json(&d, &["list", "tasks", "--all"]).is_array());
    assert!(json(&d, &["list", "plugins"]).as_array().unwrap().len() >= 7);

    // Show by name, by UUID, by prefix; an ambiguous or unknown reference says so.
    let job = json(&d, &["show", "target", "alpha db"]);
    assert_eq!(job["uuid"], a.target.as_str());
    assert_eq!(json(&d, &["show", "target", &a.target])["name"], "alpha db");
    assert_eq!(
        json(&d, &["show", "store", &a.store[..6]])["name"],
        "alpha disk"
    );
    let (code, out, _) = cli(&d, &["show", "schedule", "alpha nightly"]);
    assert_eq!(code, 0);
    assert!(out.contains("daily at 4:00"), "{out}");
    assert_eq!(
        fails(&d, &["show", "target", "nothing-like-this"]),
        "bulwark: no target matches 'nothing-like-this'"
    );
    let err = fails(&d, &["show", "target", ""]);
    assert!(
        err.contains("matches 2 targets") && err.contains("alpha db") && err.contains("beta db"),
        "{err}"
    );
    // The seed's two-word form.
    assert_eq!(
        json(&d, &["show", "retention", "policy", "alpha 7d"])["uuid"],
        a.retention.as_str()
    );
    assert_eq!(len(&json(&d, &["list", "retention", "policies"])), 2);

    // Bad input and an unreachable daemon: one line, non-zero.
    let err = fails(&d, &["list", "archives", "--after", "2026-01-01"]);
    assert!(err.contains("is not a day written YYYYMMDD"), "{err}");
    let out = Command::new(bin())
        .args(["status", "--api", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bulwark: cannot reach the Bulwark daemon at http://127.0.0.1:9"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // The environment names the daemon when the flag does not.
    let out = Command::new(bin())
        .args(["list", "stores", "--json"])
        .env("BULWARK_API", &d.base_url)
        .env("BULWARK_TOKEN", d.token())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stores: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stores.as_array().unwrap().len(), 2);

    // The config file names it when neither does; the environment wins over the file.
    let conf = tempfile::tempdir().unwrap();
    std::fs::create_dir(conf.path().join("bulwark")).unwrap();
    std::fs::write(
        conf.path().join("bulwark/cli.toml"),
        format!("# where the daemon is\napi = \"{}/v1\"\n", d.base_url),
    )
    .unwrap();
    let from_file = |env: Option<&str>| {
        let mut c = Command::new(bin());
        c.args(["status"])
            .env("XDG_CONFIG_HOME", conf.path())
            .env_remove("BULWARK_API");
        if let Some(e) = env {
            c.env("BULWARK_API", e);
        }
        c.output().unwrap()
    };
    let out = from_file(None);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with(&format!("the daemon at {} is up and healthy", d.base_url)),
        "{said}"
    );
    let out = from_file(Some("http://127.0.0.1:9"));
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn a_full_backup_and_restore_cycle_with_cli_commands_only() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, store) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("store"),
    );
    tree::tricky(&src, 3_000_000).unwrap();
    let p = |p: &Path| format!("base_dir={}", p.display());

    // Everything a job needs, created from flags; --json answers carry the new UUIDs.
    let schedule = json(
        &d,
        &[
            "create",
            "schedule",
            "--name",
            "nightly",
            "--when",
            "daily at 4am",
        ],
    );
    assert_eq!(schedule["ok"], "created");
    let retention = json(
        &d,
        &[
            "create",
            "retention",
            "policy",
            "--name",
            "week",
            "--expires",
            "7d",
        ],
    );
    let target = json(
        &d,
        &[
            "create",
            "target",
            "--name",
            "files",
            "--plugin",
            "fs",
            "--set",
            &p(&src),
        ],
    );
    let (code, out, err) = cli(
        &d,
        &[
            "create",
            "store",
            "--name",
            "disk",
            "--plugin",
            "fs",
            "--set",
            &p(&store),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("created store 'disk' ("), "{out}");
    let job = json(
        &d,
        &[
            "create",
            "job",
            "--name",
            "files-nightly",
            "--target",
            "files",
            "--store",
            "disk",
            "--schedule",
            "nightly",
            "--retention-policy",
            "week",
            "--paused",
        ],
    );
    let shown = json(&d, &["show", "job", "files-nightly"]);
    assert_eq!(shown["uuid"], job["uuid"]);
    assert_eq!(shown["target_uuid"], target["uuid"]);
    assert_eq!(shown["schedule_uuid"], schedule["uuid"]);
    assert_eq!(shown["retention_uuid"], retention["uuid"]);
    assert_eq!(shown["paused"], true);
    assert_eq!(shown["expiry"], 7 * 86400);

    // Back up, waiting for the end: exit 0 and the finished task.
    let task = json(&d, &["run", "job", "files-nightly", "--wait"]);
    assert_eq!(task["status"], "done", "{}", task["log"]);
    assert_eq!(task["type"], "backup");
    let archive = task["archive_uuid"].as_str().unwrap().to_string();
    let (code, out, err) = cli(&d, &["run", "job", "files-nightly", "--wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("task ") && out.contains(" done in "),
        "{out}"
    );
    assert!(
        err.contains("Queued the backup of job 'files-nightly'"),
        "{err}"
    );

    // Archive filters: target, store, and days (after includes its day, before excludes it).
    let all = json(&d, &["list", "archives"]);
    assert_eq!(len(&all), 2);
    let (today, tomorrow) = day_and_next(all[0]["taken_at"].as_str().unwrap());
    assert_eq!(
        len(&json(&d, &["list", "archives", "--target", "files"])),
        2
    );
    assert_eq!(len(&json(&d, &["list", "archives", "--store", "disk"])), 2);
    assert_eq!(len(&json(&d, &["list", "archives", "--after", &today])), 2);
    assert_eq!(
        len(&json(&d, &["list", "archives", "--after", &tomorrow])),
        0
    );
    assert_eq!(len(&json(&d, &["list", "archives", "--before", &today])), 0);
    assert_eq!(
        len(&json(&d, &["list", "archives", "--before", &tomorrow])),
        2
    );
    let (_, table, _) = cli(&d, &["list", "archives"]);
    assert!(
        table.starts_with("UUID") && table.contains("valid"),
        "{table}"
    );
    assert!(table.contains("MiB"), "sizes are human in tables: {table}");

    // Notes on the archive, by a UUID prefix.
    let (code, out, _) = cli(
        &d,
        &[
            "edit",
            "archive",
            &archive[..8],
            "--notes",
            "before the migration",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("updated archive"), "{out}");
    assert_eq!(
        json(&d, &["show", "archive", &archive])["notes"],
        "before the migration"
    );

    // Restore into another target and compare the trees.
    json(
        &d,
        &[
            "create",
            "target",
            "--name",
            "restored",
            "--plugin",
            "fs",
            "--set",
            &p(&dst),
        ],
    );
    let task = json(
        &d,
        &[
            "restore",
            "archive",
            &archive[..8],
            "--to",
            "restored",
            "--wait",
        ],
    );
    assert_eq!(task["status"], "done", "{}", task["log"]);
    assert_eq!(task["type"], "restore");
    tree::assert_same_tree(&src, &dst).unwrap();

    // Tasks: none left running; --all shows the three.
    assert_eq!(len(&json(&d, &["list", "tasks"])), 0);
    assert_eq!(len(&json(&d, &["list", "tasks", "--all"])), 3);

    // Edits change only what the flags say.
    json(
        &d,
        &["edit", "schedule", "nightly", "--when", "daily at 2am"],
    );
    let s = json(&d, &["show", "schedule", "nightly"]);
    assert_eq!(s["when"], "daily at 2am");
    assert_eq!(s["canonical"], "daily at 2:00");
    json(
        &d,
        &["update", "retention", "policy", "week", "--expires", "14d"],
    );
    assert_eq!(
        json(&d, &["show", "retention", "week"])["expires"],
        14 * 86400
    );
    json(
        &d,
        &[
            "edit",
            "store",
            "disk",
            "--name",
            "local disk",
            "--summary",
            "the NAS",
        ],
    );
    let st = json(&d, &["show", "store", "local disk"]);
    assert_eq!(st["summary"], "the NAS");
    assert!(st["endpoint"].as_str().unwrap().contains("store"), "{st}");
    json(
        &d,
        &["edit", "target", "files", "--set", "exclude=*.tmp,cache"],
    );
    let t: Value = serde_json::from_str(
        json(&d, &["show", "target", "files"])["endpoint"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(t["exclude"], serde_json::json!(["*.tmp", "cache"]));
    assert_eq!(t["base_dir"], src.display().to_string());
    json(&d, &["edit", "target", "files", "--unset", "exclude"]);
    let t = json(&d, &["show", "target", "files"]);
    assert!(!t["endpoint"].as_str().unwrap().contains("exclude"), "{t}");
    json(
        &d,
        &[
            "edit",
            "job",
            "files-nightly",
            "--priority",
            "10",
            "--unpaused",
            "--target",
            "restored",
        ],
    );
    let j = json(&d, &["show", "job", "files-nightly"]);
    assert_eq!(j["priority"], 10);
    assert_eq!(j["paused"], false);
    assert_eq!(j["target_name"], "restored");
    assert_eq!(j["store_name"], "local disk");
    assert_eq!(j["schedule_name"], "nightly");

    // Pause, unpause, paused.
    assert_eq!(json(&d, &["pause", "job", "files-nightly"])["ok"], "paused");
    assert_eq!(
        json(&d, &["paused", "job", "files-nightly"])["paused"],
        true
    );
    let (_, out, _) = cli(&d, &["paused", "job", "files-nightly"]);
    assert!(out.contains("is paused"), "{out}");
    assert_eq!(
        json(&d, &["unpause", "job", "files-nightly"])["ok"],
        "unpaused"
    );
    assert_eq!(
        json(&d, &["paused", "job", "files-nightly"])["paused"],
        false
    );

    // Deleting what is in use is refused, with the API's reason; the rest goes.
    let err = fails(&d, &["delete", "schedule", "nightly", "--yes"]);
    assert!(
        err.contains("still used by") && err.contains("(409)"),
        "{err}"
    );
    assert_eq!(
        json(&d, &["delete", "job", "files-nightly", "--yes"])["ok"],
        "deleted"
    );
    let (code, out, _) = cli(&d, &["delete", "schedule", "nightly"]);
    assert_eq!(code, 0, "no terminal: no question");
    assert!(out.starts_with("deleted schedule 'nightly'"), "{out}");
    assert_eq!(len(&json(&d, &["list", "schedules"])), 0);
    assert_eq!(
        json(&d, &["delete", "archive", &archive[..8], "-y"])["ok"],
        "deleted"
    );
    let left = json(&d, &["list", "archives"]);
    assert_eq!(
        len(&left),
        1,
        "the deleted archive is no longer valid: {left}"
    );
    assert_ne!(left[0]["uuid"], archive.as_str());
    let all = json(&d, &["list", "archives", "--all"]);
    assert_eq!(len(&all), 2);
}

#[tokio::test]
async fn every_filter_of_every_list() {
    let d = daemon().await;
    let a = fixture(&d, "alpha").await;
    let b = fixture(&d, "beta").await;
    json(
        &d,
        &[
            "create",
            "schedule",
            "--name",
            "spare",
            "--when",
            "hourly at :15",
        ],
    );
    json(
        &d,
        &[
            "create",
            "retention",
            "--name",
            "spare 1h",
            "--expires",
            "3600",
        ],
    );
    json(
        &d,
        &[
            "create",
            "store",
            "--name",
            "spare disk",
            "--plugin",
            "fs",
            "--set",
            "base_dir=/srv/x",
            // Not validated: the fs store's check would write a probe file in /srv.
            "--no-validate",
        ],
    );
    json(
        &d,
        &[
            "create",
            "target",
            "--name",
            "cache",
            "--plugin",
            "redis",
            "--set",
            "host=127.0.0.1",
            "--set",
            "port=6379",
        ],
    );
    for kind in ["schedules", "retention", "stores", "targets"] {
        assert_eq!(len(&json(&d, &["list", kind])), 3, "{kind}");
        assert_eq!(len(&json(&d, &["list", kind, "--used"])), 2, "{kind}");
        assert_eq!(len(&json(&d, &["list", kind, "--unused"])), 1, "{kind}");
    }
    assert_eq!(
        names(&json(&d, &["list", "targets", "--plugin", "redis"])),
        ["cache"]
    );
    assert_eq!(
        names(&json(&d, &["list", "stores", "--plugin", "fs"])).len(),
        3
    );
    assert_eq!(
        len(&json(&d, &["list", "stores", "--plugin", "fs", "--unused"])),
        1
    );
    // Typed from the plugin's info: the port is a number.
    let cache = json(&d, &["show", "target", "cache"]);
    assert!(
        cache["endpoint"]
            .as_str()
            .unwrap()
            .contains("\"port\":6379"),
        "{cache}"
    );

    json(&d, &["pause", "job", "beta job"]);
    assert_eq!(
        names(&json(&d, &["list", "jobs", "--paused"])),
        ["beta job"]
    );
    assert_eq!(
        names(&json(&d, &["list", "jobs", "--unpaused"])),
        ["alpha job"]
    );
    for (flag, value) in [
        ("--target", "alpha db"),
        ("--store", "alpha disk"),
        ("--schedule", "alpha nightly"),
        ("--retention-policy", "alpha 7d"),
        ("--target", &a.target[..8]),
        ("--store", a.store.as_str()),
        ("--schedule", &a.schedule[..5]),
        ("--retention-policy", a.retention.as_str()),
    ] {
        assert_eq!(
            names(&json(&d, &["list", "jobs", flag, value])),
            ["alpha job"],
            "{flag} {value}"
        );
    }
    assert_eq!(
        len(&json(
            &d,
            &["list", "jobs", "--target", "alpha db", "--paused"]
        )),
        0
    );

    // Tasks stay pending on this daemon: `list tasks` shows them, cancel ends them.
    let queued = json(&d, &["run", "job", "alpha job"]);
    assert_eq!(queued["ok"], "scheduled");
    let task = queued["task_uuid"].as_str().unwrap().to_string();
    let (code, out, _) = cli(&d, &["run", "job", &b.job[..8]]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("queued the backup of job 'beta job'"),
        "{out}"
    );
    let pending = json(&d, &["list", "tasks"]);
    assert_eq!(len(&pending), 2);
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "pending")
    );
    assert_eq!(json(&d, &["cancel", "task", &task[..8]])["ok"], "canceled");
    assert_eq!(len(&json(&d, &["list", "tasks"])), 1);
    let all = json(&d, &["list", "tasks", "--all"]);
    assert_eq!(len(&all), 2);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|t| t["status"] == "canceled")
    );
    let err = fails(&d, &["cancel", "task", &task]);
    assert!(err.contains("(409)"), "{err}");
    // No archives yet: every archive filter answers an empty list.
    for args in [
        vec!["list", "archives", "--target", "alpha db"],
        vec!["list", "archives", "--store", "beta disk"],
        vec!["list", "archives", "--all"],
    ] {
        assert_eq!(len(&json(&d, &args)), 0, "{args:?}");
    }
}

#[tokio::test]
async fn errors_are_one_line_and_change_nothing() {
    let d = engine_daemon("").await;
    let before = crate::common::snapshot(&d).await;
    // A 4xx answer: the API's message.
    let err = fails(
        &d,
        &[
            "create",
            "schedule",
            "--name",
            "x",
            "--when",
            "whenever it rains",
        ],
    );
    assert!(err.contains("(400)"), "{err}");
    // Missing fields without a terminal.
    let err = fails(&d, &["create", "schedule", "--name", "x"]);
    assert!(err.contains("missing --when"), "{err}");
    let err = fails(&d, &["create", "target", "--name", "x", "--plugin", "fs"]);
    assert!(err.contains("missing --endpoint"), "{err}");
    let err = fails(
        &d,
        &[
            "create", "store", "--name", "x", "--plugin", "nosuch", "--set", "a=b",
        ],
    );
    assert!(err.contains("(404)"), "{err}");
    let err = fails(
        &d,
        &["create", "retention", "--name", "x", "--expires", "soon"],
    );
    assert!(err.contains("not a duration"), "{err}");
    let err = fails(
        &d,
        &[
            "create",
            "target",
            "--name",
            "x",
            "--plugin",
            "fs",
            "--endpoint",
            "[1]",
        ],
    );
    assert!(err.contains("JSON object"), "{err}");
    let err = fails(
        &d,
        &[
            "create",
            "job",
            "--name",
            "j",
            "--target",
            "nope",
            "--store",
            "nope",
            "--schedule",
            "nope",
            "--retention-policy",
            "nope",
        ],
    );
    assert!(err.contains("no target matches 'nope'"), "{err}");
    let err = fails(&d, &["delete", "task", "abc", "--yes"]);
    assert!(err.contains("cancel task"), "{err}");
    let err = fails(&d, &["restore", "archive", "0000"]);
    assert_eq!(err, "bulwark: no archive matches '0000'");
    assert_eq!(
        crate::common::snapshot(&d).await,
        before,
        "a refused command changed nothing"
    );

    // Edit with nothing to change.
    json(
        &d,
        &[
            "create",
            "schedule",
            "--name",
            "s",
            "--when",
            "hourly at :15",
        ],
    );
    let err = fails(&d, &["edit", "schedule", "s"]);
    assert!(
        err.contains("nothing to change") && err.contains("--when"),
        "{err}"
    );

    // An endpoint from a file keeps the secret off the command line.
    let dir = tempfile::tempdir().unwrap();
    let ep = dir.path().join("ep.json");
    std::fs::write(&ep, r#"{"base_dir": "/srv/s", "secret_key": "hunter2"}"#).unwrap();
    json(
        &d,
        &[
            "create",
            "store",
            "--name",
            "sh",
            "--plugin",
            "shstore",
            "--endpoint",
            &format!("@{}", ep.display()),
        ],
    );
    let sh = json(&d, &["show", "store", "sh"]);
    assert!(
        sh["endpoint"].as_str().unwrap().contains("<redacted>"),
        "{sh}"
    );

    // A backup that fails: --wait prints the log and exits 1.
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    shell_job(&d, ("burning", "fail", &src), "doomed", dir.path(), "s");
    let (code, out, err) = cli(&d, &["run", "job", "doomed", "--wait"]);
    assert_eq!(code, 1, "{out} {err}");
    assert!(err.contains("--- the log of task"), "{err}");
    assert!(err.contains("the disk caught fire"), "{err}");
    assert!(
        err.trim_end().lines().last().unwrap().ends_with(" failed"),
        "{err}"
    );
    let (code, out, _) = cli(&d, &["run", "job", "doomed", "--wait", "--json"]);
    assert_eq!(code, 1);
    let t: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["status"], "failed");
    assert_eq!(len(&json(&d, &["list", "archives", "--all"])), 0);

    // A daemon that is not there.
    let out = Command::new(bin())
        .args([
            "run",
            "job",
            "doomed",
            "--wait",
            "--api",
            "http://127.0.0.1:9",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bulwark: cannot reach the Bulwark daemon"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test]
async fn prompts_and_progress_on_a_terminal() {
    let d = engine_daemon("").await;

    // create asks for what is missing; the password is read without echo.
    let mut t = Terminal::start(&d, &["create", "target"]);
    t.expect("Name: ");
    t.send("orders");
    t.expect("Plugin (e.g. postgres): ");
    t.send("postgres");
    t.expect("The postgres endpoint");
    // The fields come in the order the plugin's info lists them.
    let info = json(&d, &["show", "plugin", "postgres"]);
    let fields: Vec<String> = info["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert!(fields.contains(&"password".to_string()), "{fields:?}");
    for field in &fields {
        t.expect(&format!("  {field} - "));
        t.expect(": ");
        // Optional fields are skipped with an empty answer.
        t.send(match field.as_str() {
            "host" => "db1.internal",
            "port" => "5433",
            "user" => "backup",
            "password" => "pr0mpt-s3cret",
            "database" => "orders",
            _ => "",
        });
    }
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("created target 'orders'"), "{screen}");
    assert!(
        !screen.contains("pr0mpt-s3cret"),
        "the password was echoed: {screen}"
    );
    let shown = json(&d, &["show", "target", "orders"]);
    let ep: Value = serde_json::from_str(shown["endpoint"].as_str().unwrap()).unwrap();
    assert_eq!(ep["host"], "db1.internal");
    assert_eq!(ep["port"], 5433);
    assert_eq!(ep["database"], "orders");
    assert_eq!(ep["password"], "<redacted>");

    // Flags given, one required endpoint field left out: only that one is asked.
    let mut t = Terminal::start(
        &d,
        &[
            "create",
            "store",
            "--name",
            "half",
            "--plugin",
            "shstore",
            "--set",
            "secret_key=k",
        ],
    );
    t.expect("The shstore endpoint still needs:");
    t.expect("  base_dir - ");
    t.expect(": ");
    t.send("/srv/half");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("secret_key - "), "{screen}");
    let half = json(&d, &["show", "store", "half"]);
    assert!(
        half["endpoint"].as_str().unwrap().contains("/srv/half"),
        "{half}"
    );
    json(&d, &["delete", "store", "half", "--yes"]);

    // A missing required answer is asked again.
    let mut t = Terminal::start(&d, &["create", "schedule", "--name", "asked"]);
    t.expect("When (e.g. daily at 4am): ");
    t.send("");
    t.expect("is required.");
    t.expect("When (e.g. daily at 4am): ");
    t.send("every 6 hours");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        json(&d, &["show", "schedule", "asked"])["when"],
        "every 6 hours"
    );

    // edit with no flags asks field by field; Enter keeps a value.
    let mut t = Terminal::start(&d, &["edit", "schedule", "asked"]);
    t.expect("  name [asked]: ");
    t.send("");
    t.expect("  summary []: ");
    t.send("typed at a terminal");
    t.expect("  when [every 6 hours]: ");
    t.send("");
    let (code, screen) = t.finish();
    assert_eq!(code, 0, "{screen}");
    let s = json(&d, &["show", "schedule", "asked"]);
    assert_eq!(s["summary"], "typed at a terminal");
    assert_eq!(s["when"], "every 6 hours");
    assert_eq!(s["name"], "asked");

    // delete asks first; "n" keeps it.
    let mut t = Terminal::start(&d, &["delete", "target", "orders"]);
    t.expect("[y/N] ");
    t.send("n");
    let (code, screen) = t.finish();
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("not deleted"), "{screen}");
    assert_eq!(len(&json(&d, &["list", "targets"])), 1);
    let mut t = Terminal::start(&d, &["delete", "target", "orders"]);
    t.expect("[y/N] ");
    t.send("y");
    let (code, _) = t.finish();
    assert_eq!(code, 0);
    assert_eq!(len(&json(&d, &["list", "targets"])), 0);

    // --wait draws a progress bar (bytes, throughput, elapsed) while the task runs; a canceled
    // task exits non-zero.
    let dir = tempfile::tempdir().unwrap();
    shell_job(
        &d,
        ("slow", "slow", dir.path()),
        "slow",
        dir.path(),
        "asked",
    );
    let mut t = Terminal::start(&d, &["run", "job", "slow", "--wait"]);
    t.expect("running");
    t.expect("MiB/s");
    t.expect("elapsed 00:00:0");
    // The API counts the bytes as they go (1 MB a second here).
    let deadline = Instant::now() + Duration::from_secs(20);
    let running = loop {
        let running = json(&d, &["list", "tasks"]);
        assert_eq!(len(&running), 1);
        if running[0]["bytes"].as_u64().unwrap() >= 2_000_000 {
            break running;
        }
        assert!(Instant::now() < deadline, "{running}");
        std::thread::sleep(Duration::from_millis(200));
    };
    t.expect(" MiB ");
    let id = running[0]["uuid"].as_str().unwrap().to_string();
    json(&d, &["cancel", "task", &id[..8]]);
    let (code, screen) = t.finish();
    assert_eq!(code, 1, "{screen}");
    assert!(
        screen.contains(&format!("bulwark: task {id} canceled")),
        "{screen}"
    );
    assert!(
        screen.contains("Canceled by request"),
        "the log is printed: {screen}"
    );
}

#[tokio::test]
async fn repository_maintenance_from_the_cli() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    tree::tricky(&src, 1_000_000).unwrap();
    json(
        &d,
        &[
            "create",
            "store",
            "--name",
            "vault",
            "--plugin",
            "repository",
            "--set",
            &format!("path={}", dir.path().join("repo").display()),
        ],
    );
    json(
        &d,
        &[
            "create",
            "target",
            "--name",
            "files",
            "--plugin",
            "fs",
            "--set",
            &format!("base_dir={}", src.display()),
        ],
    );
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
    json(
        &d,
        &["create", "retention", "--name", "r", "--expires", "1d"],
    );
    json(
        &d,
        &[
            "create",
            "job",
            "--name",
            "j",
            "--target",
            "files",
            "--store",
            "vault",
            "--schedule",
            "s",
            "--retention-policy",
            "r",
            "--paused",
        ],
    );
    let t = json(&d, &["run", "job", "j", "--wait"]);
    assert_eq!(t["status"], "done");
    // The plugin's progress lines feed the task's bytes, not its log.
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("as a tree") && !log.contains("bulwark-progress"),
        "{log}"
    );

    let t = json(
        &d,
        &["check", "store", "vault", "--read-data", "all", "--wait"],
    );
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(t["type"], "check");
    let (code, out, err) = cli(&d, &["prune", "store", "vault", "--wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" done in "), "{out}");
    let queued = json(&d, &["check", "store", "vault"]);
    assert_eq!(queued["ok"], "scheduled");
    let store = json(&d, &["show", "store", "vault"]);
    assert_eq!(store["last_check"]["status"], "done", "{store}");

    // Bad input is the API's one line.
    let err = fails(&d, &["check", "store", "vault", "--read-data", "most"]);
    assert!(err.contains("read_data") && err.contains("(400)"), "{err}");
    json(
        &d,
        &[
            "create",
            "store",
            "--name",
            "plain",
            "--plugin",
            "fs",
            "--set",
            "base_dir=/srv/x",
            // Not validated: the fs store's check would write a probe file in /srv.
            "--no-validate",
        ],
    );
    let err = fails(&d, &["prune", "store", "plain"]);
    assert!(err.contains("(400)"), "{err}");
}
