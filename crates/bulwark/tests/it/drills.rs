//! Restore drills of fs and sqlite jobs: into a temporary directory and into a scratch target,
//! on request and on a schedule; a damaged archive fails the drill (and tells a webhook); the
//! drill settings that could hurt are refused; and the plugins' `verify` finds what differs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{assert_error, bin};
use crate::engine::{Wired, backup_archive, engine_daemon, finished, wire};
use crate::receivers::{Webhook, within};
use crate::repository::{scribble, walk};
use crate::servers::free_port;
use bulwark_testkit::TestDaemon;

/// A small tree: files in two directories and a link.
fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    for i in 0..12u8 {
        let at = if i % 3 == 0 {
            dir.join("sub")
        } else {
            dir.to_path_buf()
        };
        std::fs::write(
            at.join(format!("f{i}.bin")),
            vec![i; 40_000 + usize::from(i) * 999],
        )
        .unwrap();
    }
    std::fs::write(dir.join("sub/deeper/note.txt"), b"keep me").unwrap();
    std::os::unix::fs::symlink("sub/deeper/note.txt", dir.join("link")).unwrap();
}

/// A daemon and a job of an fs target over [`tree`] in `work/src` into a store of `store`.
async fn fs_job(work: &Path, store: (&str, Value)) -> (PathBuf, TestDaemon, Wired) {
    let src = work.join("src");
    tree(&src);
    let d = engine_daemon("").await;
    let w = wire(&d, ("fs", json!({"base_dir": src})), store, 3600).await;
    (src, d, w)
}

fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(dir)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_path_buf(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// Asks for a drill of `job` and waits for its end.
async fn drill(d: &TestDaemon, job: &str) -> Value {
    let t = d
        .post_ok(&format!("/v1/job/{job}/drill"), &json!({}))
        .await
        .unwrap();
    finished(d, t["task_uuid"].as_str().unwrap()).await
}

/// The job's body for a PUT, with `changes`.
async fn job_body(d: &TestDaemon, job: &str, changes: Value) -> Value {
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let mut body = json!({
        "name": j["name"], "summary": j["summary"], "store": j["store_uuid"],
        "target": j["target_uuid"], "retention": j["retention_uuid"],
        "schedule": j["schedule_uuid"], "drill_schedule": j["drill_schedule_uuid"],
        "drill_target": j["drill_target_uuid"],
    });
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn staging_leftovers(d: &TestDaemon) -> Vec<String> {
    std::fs::read_dir(d.data_dir().join("staging"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_fs_job_drills_into_a_temporary_directory_and_into_a_scratch_target() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    let (src, d, w) = fs_job(work.path(), ("repository", json!({"path": repo}))).await;
    let path = format!("/v1/job/{}/drill", w.job);
    assert_error(
        d.post(&path, &json!({})).await.unwrap(),
        409,
        "no good archive",
    );

    let archive = backup_archive(&d, &w.job).await;
    let before = contents(&src);
    let t = drill(&d, &w.job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(t["type"], "drill");
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("compared byte by byte"), "{log}");
    assert!(
        log.lines()
            .last()
            .unwrap()
            .starts_with("Done: the drill passed"),
        "{log}"
    );
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    assert_eq!(j["last_drill"]["outcome"], "passed", "{j}");
    assert_eq!(j["last_drill"]["task_uuid"], t["uuid"]);
    assert_eq!(j["last_drill"]["archive_uuid"], archive["uuid"]);
    assert!(j["rto"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["last_verified"].is_string(), "{j}");
    assert!(
        staging_leftovers(&d).is_empty(),
        "{:?}",
        staging_leftovers(&d)
    );
    assert_eq!(
        contents(&src),
        before,
        "a drill never touches the job's own target"
    );

    // Into a scratch fs target: restored there, compared, then emptied.
    let scratch = work.path().join("scratch");
    let st = d
        .create("/v1/targets", &json!({"name": "scratch", "plugin": "fs", "endpoint": {"base_dir": scratch}, "agent": "127.0.0.1:1"}))
        .await
        .unwrap();
    d.put(
        &format!("/v1/job/{}", w.job),
        &job_body(&d, &w.job, json!({"drill_target": st})).await,
    )
    .await
    .map(|(s, b)| assert_eq!(s, 200, "{b}"))
    .unwrap();
    let t = drill(&d, &w.job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("Wiped scratch target 'scratch'"),
        "{}",
        t["log"]
    );
    assert!(
        walk(&scratch).is_empty(),
        "the scratch target was not wiped"
    );
    assert_eq!(t["target_uuid"], st.as_str());
    let verified = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap()["last_verified"].clone();
    let drill_gauge = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("bulwark_job_drill_failing{") && l.contains(&w.job))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    let m = d.text("/metrics").await.unwrap().1;
    assert_eq!(drill_gauge(&m).as_deref(), Some("0"), "{m}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("bulwark_job_rto_seconds{") && l.contains(&w.job)),
        "{m}"
    );

    // A damaged repository: the drill fails, says why in one line, and a webhook is told.
    let mut receiver = Webhook::on(free_port());
    let made = d
        .post_ok("/v1/notifications", &json!({"name": "drills", "kind": "webhook", "config": {"url": receiver.url()}, "events": ["drill_failed"]}))
        .await
        .unwrap();
    receiver.run(made["secret"].as_str().unwrap());
    for pack in walk(&repo.join("data")) {
        let mut perms = std::fs::metadata(&pack).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&pack, perms).unwrap();
        let len = std::fs::metadata(&pack).unwrap().len();
        scribble(&pack, len / 2, 64);
    }
    let t = drill(&d, &w.job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    let last = t["log"]
        .as_str()
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.starts_with("Failed: the drill failed: the restore failed"),
        "{last}"
    );
    assert!(
        !t["log"].as_str().unwrap().contains("panicked"),
        "{}",
        t["log"]
    );
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    assert_eq!(j["last_drill"]["outcome"], "failed", "{j}");
    assert_eq!(
        j["last_verified"], verified,
        "a failed drill verifies nothing"
    );
    assert!(
        walk(&scratch).is_empty(),
        "a failed drill leaves its scratch target empty too"
    );
    within("a drill_failed notice", 30, || {
        !receiver.received().is_empty()
    })
    .await;
    let got = &receiver.received()[0];
    assert_eq!(got["event"], "drill_failed");
    assert_eq!(got["body"]["job"]["uuid"], w.job.as_str());
    assert_eq!(got["body"]["task"], t["uuid"]);
    assert_eq!(got["verified"], true);
}

#[tokio::test]
async fn drill_settings_that_could_hurt_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let (_, d, w) = fs_job(
        work.path(),
        ("fs", json!({"base_dir": work.path().join("blobs")})),
    )
    .await;
    let put = |changes: Value| {
        let d = &d;
        let job = w.job.clone();
        async move {
            let body = job_body(d, &job, changes).await;
            d.put(&format!("/v1/job/{job}"), &body).await.unwrap()
        }
    };
    assert_error(
        put(json!({"drill_target": w.target})).await,
        400,
        "must not be the job's own target",
    );
    let redis = d
        .create("/v1/targets", &json!({"name": "cache", "plugin": "redis", "endpoint": {"host": "127.0.0.1", "port": 1}, "agent": "127.0.0.1:1", "validate": false}))
        .await
        .unwrap();
    assert_error(
        put(json!({"drill_target": redis})).await,
        400,
        "uses the 'redis' plugin",
    );
    // A target some job backs up is never a scratch target.
    let other = wire(
        &d,
        ("fs", json!({"base_dir": work.path().join("other")})),
        ("fs", json!({"base_dir": work.path().join("b2")})),
        3600,
    )
    .await;
    assert_error(
        put(json!({"drill_target": other.target})).await,
        400,
        "is backed up by job",
    );
    // A scratch target no job may back up.
    let scratch = d
        .create("/v1/targets", &json!({"name": "scratch", "plugin": "fs", "endpoint": {"base_dir": work.path().join("scratch")}, "agent": "127.0.0.1:1"}))
        .await
        .unwrap();
    let (s, b) = put(json!({"drill_target": scratch})).await;
    assert_eq!(s, 200, "{b}");
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let body = json!({"name": "steal", "target": scratch, "store": j["store_uuid"], "schedule": j["schedule_uuid"], "retention": j["retention_uuid"], "paused": true});
    assert_error(
        d.post("/v1/jobs", &body).await.unwrap(),
        400,
        "is the drill target of job",
    );
    assert_error(
        d.delete(&format!("/v1/target/{scratch}")).await.unwrap(),
        409,
        "jobs",
    );
    // A redis job drills only into a scratch target.
    let body = json!({"name": "r", "target": redis, "store": j["store_uuid"], "schedule": j["schedule_uuid"], "retention": j["retention_uuid"], "paused": true, "drill_schedule": j["schedule_uuid"]});
    assert_error(
        d.post("/v1/jobs", &body).await.unwrap(),
        400,
        "needs drill_target",
    );
    body.as_object().unwrap();
    let mut no_drill = body.clone();
    no_drill.as_object_mut().unwrap().remove("drill_schedule");
    let rj = d.create("/v1/jobs", &no_drill).await.unwrap();
    assert_error(
        d.post(&format!("/v1/job/{rj}/drill"), &json!({}))
            .await
            .unwrap(),
        400,
        "has no drill target",
    );
    assert_error(
        put(json!({"drill_schedule": uuid::Uuid::new_v4()})).await,
        400,
        "does not exist",
    );
}

/// `bulwark plugin NAME ACTION` with `endpoint` in its environment and `input` on stdin.
pub(crate) fn plugin(
    name: &str,
    action: &str,
    endpoint: &Value,
    input: &[u8],
) -> (i32, Vec<u8>, String) {
    let mut child = Command::new(bin())
        .args(["plugin", name, action])
        .env("BULWARK_PLUGIN_ENDPOINT", endpoint.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn fs_and_sqlite_verify_find_what_differs() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree(&src);
    let (code, tar, err) = plugin("fs", "backup", &json!({"base_dir": src}), b"");
    assert_eq!(code, 0, "{err}");
    let copy = work.path().join("copy");
    let ep = json!({"base_dir": copy});
    assert_eq!(plugin("fs", "restore", &ep, &tar).0, 0);
    let (code, _, err) = plugin("fs", "verify", &ep, &tar);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("identical"), "{err}");
    scribble(&copy.join("f1.bin"), 100, 8);
    std::fs::remove_file(copy.join("sub/deeper/note.txt")).unwrap();
    let (code, _, err) = plugin("fs", "verify", &ep, &tar);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("file f1.bin differs at byte 10"), "{err}");
    assert!(err.contains("file sub/deeper/note.txt is missing"), "{err}");
    assert!(err.contains("in 2 of"), "{err}");
    assert_eq!(plugin("fs", "wipe", &ep, b"").0, 0);
    assert!(walk(&copy).is_empty());

    let db = work.path().join("app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO t SELECT i, 'row ' || i FROM n; CREATE TABLE empty (x);").unwrap();
    drop(conn);
    let (code, dump, err) = plugin("sqlite", "backup", &json!({"path": db}), b"");
    assert_eq!(code, 0, "{err}");
    let restored = work.path().join("restored.db");
    let ep = json!({"path": restored});
    assert_eq!(plugin("sqlite", "restore", &ep, &dump).0, 0);
    let (code, _, err) = plugin("sqlite", "verify", &ep, &dump);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 tables with their 500 rows"), "{err}");
    rusqlite::Connection::open(&restored)
        .unwrap()
        .execute_batch("DELETE FROM t WHERE id > 490; DROP TABLE empty;")
        .unwrap();
    let (code, _, err) = plugin("sqlite", "verify", &ep, &dump);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("table t has 490 rows, not 500"), "{err}");
    assert!(err.contains("table empty is missing"), "{err}");
    assert_eq!(plugin("sqlite", "wipe", &ep, b"").0, 0);
    assert!(!restored.exists());
}

#[tokio::test]
async fn a_sqlite_job_drills_on_its_schedule() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB); INSERT INTO t VALUES (1, randomblob(5000)), (2, randomblob(7000));").unwrap();
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("sqlite", json!({"path": db})),
        ("fs", json!({"base_dir": work.path().join("blobs")})),
        3600,
    )
    .await;
    backup_archive(&d, &w.job).await;
    let often = d
        .create(
            "/v1/schedules",
            &json!({"name": "often", "when": "every 2s"}),
        )
        .await
        .unwrap();
    let (s, b) = d
        .put(
            &format!("/v1/job/{}", w.job),
            &job_body(&d, &w.job, json!({"drill_schedule": often})).await,
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    assert_eq!(j["drill_schedule"], "every 2s");
    assert!(j["drill_target_uuid"].is_null());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let j = loop {
        let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
        if !j["last_drill"].is_null() {
            break j;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled drill: {j}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(j["last_drill"]["outcome"], "passed", "{j}");
    assert!(j["next_drill"].is_string(), "{j}");
    let t = d
        .get_ok(&format!(
            "/v1/task/{}",
            j["last_drill"]["task_uuid"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(t["owner"], "system");
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("passes PRAGMA integrity_check"),
        "{}",
        t["log"]
    );
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("Removed the temporary directory"),
        "{}",
        t["log"]
    );
    // The schedule is in use: it cannot be deleted while the job drills on it.
    assert_error(
        d.delete(&format!("/v1/schedule/{often}")).await.unwrap(),
        409,
        "jobs",
    );
}

#[tokio::test]
async fn the_cli_sets_drills_and_runs_one() {
    use crate::cli::{cli, fails};
    let work = tempfile::tempdir().unwrap();
    let (_, d, w) = fs_job(
        work.path(),
        ("fs", json!({"base_dir": work.path().join("blobs")})),
    )
    .await;
    let job = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    let name = job["name"].as_str().unwrap();
    let err = fails(&d, &["drill", "job", name]);
    assert!(err.contains("no good archive"), "{err}");
    backup_archive(&d, &w.job).await;
    let scratch = work.path().join("scratch");
    let (code, _, err) = cli(
        &d,
        &[
            "create",
            "target",
            "--name",
            "scratch",
            "--plugin",
            "fs",
            "--set",
            &format!("base_dir={}", scratch.display()),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(
        &d,
        &[
            "edit",
            "job",
            name,
            "--drill-target",
            "scratch",
            "--drill-schedule",
            job["schedule_name"].as_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    assert_eq!(j["drill_target_name"], "scratch");
    assert_eq!(j["drill_schedule"], "daily at 4:00");
    let (code, out, err) = cli(&d, &["drill", "job", name, "--wait"]);
    assert_eq!(code, 0, "{out} {err}");
    let (code, out, _) = cli(&d, &["show", "job", name]);
    assert_eq!(code, 0);
    assert!(
        out.contains("last_verified") && out.contains("outcome") && out.contains("passed"),
        "{out}"
    );
    let (code, _, err) = cli(
        &d,
        &[
            "edit",
            "job",
            name,
            "--drill-target",
            "",
            "--drill-schedule",
            "",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let j = d.get_ok(&format!("/v1/job/{}", w.job)).await.unwrap();
    assert!(
        j["drill_target_uuid"].is_null() && j["drill_schedule_uuid"].is_null(),
        "{j}"
    );
    assert!(walk(&scratch).is_empty());
}
