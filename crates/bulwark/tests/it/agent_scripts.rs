//! OSB Backup Manager's lifecycle scripts (the `scripts` target) on an agent: the order they
//! run in, the file `backup` leaves kept and handed back to `restore`, and the cleanup and
//! unlock scripts after a failed `backup` and after a cancel.

use std::path::Path;
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use serde_json::json;

use crate::agent_tasks::{ended, enrolled, made};
use crate::common::bin;

const PASSWORD: &str = "osb-pa55-word-9731";

/// Every script appends "NAME STATUS DB_NAME" to `order`; `backup` does what the file `mode`
/// says: `ok`, `fail`, or `hang` (a sleeper whose pid it leaves in `hang.pid`).
fn write_scripts(root: &Path) -> std::path::PathBuf {
    let dir = root.join("scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let record = format!(
        "echo \"$BULWARK_PHASE $BULWARK_STATUS $DB_NAME\" >> {}/order\n",
        root.display()
    );
    let scripts = [
        ("pre-backup-lock", String::new()),
        ("pre-backup-check", String::new()),
        (
            "backup",
            format!(
                r#"echo "the password is $BULWARK_PASSWORD" >&2
test -z "$BULWARK_PLUGIN_ENDPOINT" || echo "the endpoint leaked" >&2
case $(cat {r}/mode) in
  fail) echo "dump failed: disk full" >&2; exit 1 ;;
  hang) sleep 3007 & echo $! > {r}/hang.pid; wait ;;
esac
echo "rows of $DB_NAME" > "$BULWARK_DIR/db1_2026_12_05_$DB_NAME.sql"
"#,
                r = root.display()
            ),
        ),
        ("backup-cleanup", String::new()),
        ("post-backup-unlock", String::new()),
        ("pre-restore-lock", String::new()),
        (
            "restore",
            format!(
                "cat \"$BULWARK_DIR\"/*.sql > {}/restored.sql\n",
                root.display()
            ),
        ),
        ("restore-cleanup", String::new()),
        ("post-restore-unlock", String::new()),
    ];
    for (name, body) in scripts {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{record}{body}")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// The lines of `order` since the last call, which empties it.
fn order(root: &Path) -> Vec<String> {
    let p = root.join("order");
    let s = std::fs::read_to_string(&p).unwrap_or_default();
    let _ = std::fs::remove_file(&p);
    s.lines().map(str::to_string).collect()
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn archives(d: &TestDaemon) -> usize {
    d.get_ok("/v1/archives")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn osb_scripts_run_in_order_and_always_unlock() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let scripts = write_scripts(&root);
    let d = TestDaemon::start_with(bin(), "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2")
        .await
        .unwrap();
    let _agent = enrolled(&d, &root, "db1", "db1:5444", &["scripts", "fs"]).await;
    let target = made(
        &d,
        "/v1/targets",
        json!({"name": "shop", "plugin": "scripts", "agent": "db1:5444",
               "endpoint": {"scripts": scripts, "work_dir": root.join("work"),
                            "parameters": ["DB_NAME=shop"], "password": PASSWORD}}),
    )
    .await;
    let store = made(
        &d,
        "/v1/stores",
        json!({"name": "blobs", "plugin": "fs", "endpoint": {"base_dir": root.join("store")},
               "validate": false}),
    )
    .await;
    let schedule = made(&d, "/v1/schedules", json!({"name": "n", "when": "daily"})).await;
    let policy = made(&d, "/v1/retention", json!({"name": "r", "keep_last": 3})).await;
    let job = made(
        &d,
        "/v1/jobs",
        json!({"name": "shop nightly", "target": target, "store": store,
               "schedule": schedule, "retention": policy, "paused": true}),
    )
    .await;

    // A good run: every script in order, the dump kept, the password hidden in the log and
    // the plugin's endpoint kept from the scripts.
    std::fs::write(root.join("mode"), "ok").unwrap();
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(
        order(&root),
        lines(&[
            "pre-backup-lock ok shop",
            "pre-backup-check ok shop",
            "backup ok shop",
            "backup-cleanup ok shop",
            "post-backup-unlock ok shop",
        ])
    );
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("the password is"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
    assert!(!log.contains("the endpoint leaked"), "{log}");
    assert!(log.contains("post-backup-unlock: done"), "{log}");
    let archive = t["archive_uuid"].as_str().unwrap().to_string();

    // The restore gets the file back in its directory before `restore` runs.
    let r = d
        .post_ok(
            &format!("/v1/archive/{archive}/restore"),
            &json!({"target": target}),
        )
        .await
        .unwrap();
    let r = ended(&d, r["task_uuid"].as_str().unwrap()).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    assert_eq!(
        order(&root),
        lines(&[
            "pre-restore-lock ok shop",
            "restore ok shop",
            "restore-cleanup ok shop",
            "post-restore-unlock ok shop",
        ])
    );
    assert_eq!(
        std::fs::read_to_string(root.join("restored.sql")).unwrap(),
        "rows of shop\n"
    );

    // A failing `backup`: cleanup and unlock still run, told so; no archive.
    std::fs::write(root.join("mode"), "fail").unwrap();
    let before = archives(&d).await;
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(log.contains("dump failed: disk full"), "{log}");
    assert!(log.contains("the backup script failed (exit 1)"), "{log}");
    assert_eq!(
        order(&root),
        lines(&[
            "pre-backup-lock ok shop",
            "pre-backup-check ok shop",
            "backup ok shop",
            "backup-cleanup failed shop",
            "post-backup-unlock failed shop",
        ])
    );
    assert_eq!(archives(&d).await, before);

    // A cancel while `backup` hangs: the script is stopped, cleanup and unlock run, and no
    // process is left behind.
    std::fs::write(root.join("mode"), "hang").unwrap();
    let task = crate::engine::run_job(&d, &job).await;
    let pid = crate::common::written(&root.join("hang.pid"), "the backup script's start").await;
    assert_eq!(d.delete(&format!("/v1/task/{task}")).await.unwrap().0, 200);
    let t = ended(&d, &task).await;
    assert_eq!(t["status"], "canceled", "{}", t["log"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(root.join("order"))
        .unwrap_or_default()
        .lines()
        .count()
        < 5
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        order(&root),
        lines(&[
            "pre-backup-lock ok shop",
            "pre-backup-check ok shop",
            "backup ok shop",
            "backup-cleanup canceled shop",
            "post-backup-unlock canceled shop",
        ])
    );
    crate::common::gone(&pid).await;
    assert_eq!(archives(&d).await, before);
    // Each run's working directory is gone.
    assert_eq!(std::fs::read_dir(root.join("work")).unwrap().count(), 0);
}

/// A job's steps run where its task runs: on the agent, around its backups and restores; the
/// agent starts only the step commands its configuration lists.
#[tokio::test]
async fn a_jobs_steps_run_on_its_agent() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let rec = root.join("record.sh");
    std::fs::write(
        &rec,
        format!(
            "#!/bin/sh\necho \"$BULWARK_PHASE $BULWARK_STATUS $1\" >> {}/order\n",
            root.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rec, std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a"), "a").unwrap();
    let d = TestDaemon::start_with(bin(), "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2")
        .await
        .unwrap();
    let mut a = enrolled(&d, &root, "db1", "db1:5444", &["fs"]).await;
    a.stop();
    let mut config = std::fs::read_to_string(a.config()).unwrap();
    config.push_str(&format!("step_commands = [\"{}\"]\n", rec.display()));
    std::fs::write(a.config(), config).unwrap();
    a.start(None);
    crate::agents::until(&d, "the agent back", |l| l[0]["online"] == true).await;

    let target = made(
        &d,
        "/v1/targets",
        json!({"name": "files", "plugin": "fs", "agent": "db1:5444", "endpoint": {"base_dir": src}, "validate": false}),
    )
    .await;
    let store = made(
        &d,
        "/v1/stores",
        json!({"name": "blobs", "plugin": "fs", "endpoint": {"base_dir": root.join("store")}, "validate": false}),
    )
    .await;
    let schedule = made(&d, "/v1/schedules", json!({"name": "n", "when": "daily"})).await;
    let policy = made(&d, "/v1/retention", json!({"name": "r", "keep_last": 3})).await;
    let step = |name: &str, when: &str| json!({"name": name, "when": when, "command": [rec, name]});
    let mut unlock = step("unlock", "after_backup");
    unlock["always"] = json!(true);
    let job = made(
        &d,
        "/v1/jobs",
        json!({"name": "files nightly", "target": target, "store": store, "schedule": schedule,
               "retention": policy, "paused": true,
               "steps": [step("lock", "before_backup"), unlock,
                         step("stop app", "before_restore"), step("start app", "after_restore")]}),
    )
    .await;
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(
        order(&root),
        lines(&["before_backup ok lock", "after_backup ok unlock"])
    );
    let archive = t["archive_uuid"].as_str().unwrap().to_string();
    let r = d
        .post_ok(
            &format!("/v1/archive/{archive}/restore"),
            &json!({"target": target}),
        )
        .await
        .unwrap();
    let r = ended(&d, r["task_uuid"].as_str().unwrap()).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    assert_eq!(
        order(&root),
        lines(&["before_restore ok stop app", "after_restore ok start app"])
    );

    // A command the agent does not list: refused there, nothing run.
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let (s, b) = d
        .put(
            &format!("/v1/job/{job}"),
            &json!({"name": j["name"], "summary": "", "store": store, "target": target,
                    "retention": policy, "schedule": schedule,
                    "steps": [{"name": "rm", "when": "before_backup", "command": ["/bin/rm", "-rf", src]}]}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("does not run the step command '/bin/rm'"),
        "{}",
        t["log"]
    );
    assert!(src.join("a").exists());
}
