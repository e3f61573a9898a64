//! A job's steps before and after its backups and restores: their order, each `on_failure`,
//! `always` steps after a failure and after a cancel, a hanging step's timeout, secrets only for
//! the steps that name them, HTTP calls; and a Fossul-style workflow on a real MariaDB (quiesce,
//! dump, unquiesce even when the dump fails, then a copy into a second store that restores it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::common::bin;

const SECRET: &str = "st3p-s3cret-4417";

/// `record.sh NAME [exit]`: appends "PHASE STATUS NAME SECRET" to `order` and prints the
/// secret it was given; exits with the code in the file NAME.exit when there is one, or sleeps
/// when NAME.hang exists.
fn recorder(dir: &Path) -> PathBuf {
    let p = dir.join("record.sh");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\necho \"$BULWARK_PHASE $BULWARK_STATUS $1 ${{BULWARK_SECRET_PASSWORD:-none}}\" >> {d}/order\necho \"my secret is ${{BULWARK_SECRET_PASSWORD:-none}}\"\n[ -e {d}/$1.hang ] && exec sleep 3011\n[ -e {d}/$1.exit ] && exit $(cat {d}/$1.exit)\nexit 0\n",
            d = dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn order(dir: &Path) -> Vec<String> {
    let s = std::fs::read_to_string(dir.join("order")).unwrap_or_default();
    let _ = std::fs::remove_file(dir.join("order"));
    s.lines().map(str::to_string).collect()
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Sets the job's steps (a PUT with the rest unchanged).
async fn set_steps(d: &TestDaemon, job: &str, steps: Value) {
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let (s, b) = d
        .put(
            &format!("/v1/job/{job}"),
            &json!({"name": j["name"], "summary": "", "store": j["store_uuid"],
                    "target": j["target_uuid"], "retention": j["retention_uuid"],
                    "schedule": j["schedule_uuid"], "steps": steps}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
}

/// Waits for the copy of `origin` into `store`, and returns it.
async fn copied(d: &TestDaemon, store: &str, origin: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let all = d
            .get_ok(&format!("/v1/archives?store={store}"))
            .await
            .unwrap();
        if let Some(a) = all
            .as_array()
            .unwrap()
            .iter()
            .find(|a| &a["origin_uuid"] == origin)
        {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no copy of {origin} in {store}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn backup(d: &TestDaemon, job: &str) -> Value {
    crate::engine::finished(d, &crate::engine::run_job(d, job).await).await
}

async fn archives(d: &TestDaemon) -> usize {
    d.get_ok("/v1/archives")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

/// A paused job of `target` into an fs store in `store`.
async fn job_for(d: &TestDaemon, target: &str, store: &Path) -> String {
    let (store, schedule, policy) = crate::common::job_parts(d, store).await;
    d.create(
        "/v1/jobs",
        &json!({"name": "nightly", "target": target, "store": store, "schedule": schedule,
                "retention": policy, "paused": true}),
    )
    .await
    .unwrap()
}

fn cmd(rec: &Path, name: &str, when: &str) -> Value {
    json!({"name": name, "when": when, "command": [rec, name]})
}

#[tokio::test]
async fn steps_run_in_order_with_their_failure_policies() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let rec = recorder(&root);
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.txt"), "data").unwrap();
    let d = TestDaemon::start_with(bin(), "").await.unwrap();
    let target = d
        .create(
            "/v1/targets",
            &json!({"name": "app", "plugin": "fs", "agent": "local", "validate": false,
                    "endpoint": {"base_dir": src, "password": SECRET}}),
        )
        .await
        .unwrap();
    let job = job_for(&d, &target, &root.join("store")).await;
    let mut receiver = crate::receivers::Webhook::on(crate::servers::free_port());
    receiver.run("not the step's");

    // In order; the secret only for the step that names it (hidden in the log); an ignored
    // failure; an HTTP call with a secret in its body; `report` only after a success.
    let mut lock = cmd(&rec, "lock", "before_backup");
    lock["secrets"] = json!(["password"]);
    let mut check = cmd(&rec, "check", "before_backup");
    check["on_failure"] = json!("ignore");
    let mut unlock = cmd(&rec, "unlock", "after_backup");
    unlock["always"] = json!(true);
    let report = cmd(&rec, "report", "after_backup");
    let tell = json!({"name": "tell", "when": "after_backup", "on_failure": "ignore",
                      "http": {"url": receiver.url(), "headers": {"X-Bulwark-Event": "step"},
                               "body": "{\"token\": \"${secret:password}\"}"}});
    set_steps(&d, &job, json!([lock, check, unlock, report, tell])).await;
    std::fs::write(root.join("check.exit"), "3").unwrap();
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert_eq!(
        order(&root),
        lines(&[
            &format!("before_backup ok lock {SECRET}"),
            "before_backup ok check none",
            "after_backup ok unlock none",
            "after_backup ok report none",
        ])
    );
    let log = t["log"].as_str().unwrap();
    assert!(!log.contains(SECRET), "{log}");
    assert!(log.contains("step lock: my secret is <redacted>"), "{log}");
    assert!(
        log.contains("step 'check' failed (exit 3); ignored"),
        "{log}"
    );
    assert!(log.contains("401"), "{log}");
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["event"], "step");
    assert_eq!(got[0]["body"]["token"], SECRET);
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    assert_eq!(j["steps"].as_array().unwrap().len(), 5, "{j}");

    // `continue`: the run goes on, the archive is kept, the task fails saying why.
    let before = archives(&d).await;
    check["on_failure"] = json!("continue");
    set_steps(&d, &job, json!([check, unlock, report])).await;
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    let last = t["log"]
        .as_str()
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.contains("step 'check' failed (exit 3)") && last.contains("archive is kept"),
        "{last}"
    );
    assert_eq!(archives(&d).await, before + 1);
    assert_eq!(
        order(&root),
        lines(&[
            "before_backup ok check none",
            "after_backup ok unlock none",
            "after_backup ok report none",
        ])
    );

    // `break`: no backup; the `always` step still runs, told the run failed; `report` not.
    check["on_failure"] = json!("break");
    set_steps(&d, &job, json!([check, unlock, report])).await;
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"].as_str().unwrap().contains("no backup was made"),
        "{}",
        t["log"]
    );
    assert_eq!(archives(&d).await, before + 1);
    assert_eq!(
        order(&root),
        lines(&[
            "before_backup ok check none",
            "after_backup failed unlock none"
        ])
    );
    std::fs::remove_file(root.join("check.exit")).unwrap();

    // The backup itself fails: `unlock` runs, `report` does not.
    std::fs::rename(&src, root.join("moved")).unwrap();
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert_eq!(
        order(&root),
        lines(&[
            "before_backup ok check none",
            "after_backup failed unlock none"
        ])
    );
    std::fs::rename(root.join("moved"), &src).unwrap();

    // A hanging step times out.
    let mut slow = cmd(&rec, "slow", "before_backup");
    slow["timeout"] = json!(1);
    set_steps(&d, &job, json!([slow, unlock])).await;
    std::fs::write(root.join("slow.hang"), "").unwrap();
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("did not finish within 1s"),
        "{}",
        t["log"]
    );
    assert_eq!(
        order(&root),
        lines(&[
            "before_backup ok slow none",
            "after_backup failed unlock none"
        ])
    );

    // A cancel while a step runs: the step is stopped, `unlock` runs, told so.
    slow["timeout"] = json!(600);
    set_steps(&d, &job, json!([slow, unlock])).await;
    let task = crate::engine::run_job(&d, &job).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(root.join("order"))
        .unwrap_or_default()
        .contains("slow")
    {
        assert!(Instant::now() < deadline, "the step never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(d.delete(&format!("/v1/task/{task}")).await.unwrap().0, 200);
    let t = crate::engine::finished(&d, &task).await;
    assert_eq!(t["status"], "canceled", "{}", t["log"]);
    assert_eq!(
        order(&root),
        lines(&[
            "before_backup ok slow none",
            "after_backup canceled unlock none"
        ])
    );
    assert_eq!(archives(&d).await, before + 1);

    // Bad steps are refused, and nothing changes.
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    for bad in [
        json!([{"name": "x", "when": "before_backup"}]),
        json!([{"name": "x", "when": "before_backup", "always": true, "command": ["true"]}]),
        json!([{"name": "x", "when": "sometime", "command": ["true"]}]),
    ] {
        let (s, _) = d
            .put(
                &format!("/v1/job/{job}"),
                &json!({"name": j["name"], "summary": "", "store": j["store_uuid"],
                        "target": j["target_uuid"], "retention": j["retention_uuid"],
                        "schedule": j["schedule_uuid"], "steps": bad}),
            )
            .await
            .unwrap();
        assert_eq!(s, 400, "{bad}");
    }
    assert_eq!(
        d.get_ok(&format!("/v1/job/{job}")).await.unwrap()["steps"],
        j["steps"]
    );
}

#[tokio::test]
async fn a_fossul_workflow_quiesces_mariadb_and_always_unquiesces_it() {
    let Some(m) = crate::servers::Mariadb::start("fossul pw") else {
        return;
    };
    m.sql("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (1), (2);");
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let d = TestDaemon::start_with(bin(), "").await.unwrap();
    let target = d
        .create(
            "/v1/targets",
            &json!({"name": "shop", "plugin": "mysql", "agent": "local", "endpoint": m.endpoint(Some("shop"))}),
        )
        .await
        .unwrap();
    let job = job_for(&d, &target, &root.join("store")).await;
    // The password reaches the client in a private option file, never its command line.
    let sql = |statement: &str| {
        json!([
            "sh",
            "-c",
            format!(
                "umask 077; f=$(mktemp); printf '[client]\\npassword=%s\\n' \"$BULWARK_SECRET_PASSWORD\" > $f; \
             mariadb --defaults-file=$f -h127.0.0.1 -P{p} -uroot -e '{statement}' && \
             mariadb --defaults-file=$f -h127.0.0.1 -P{p} -uroot -N -e 'SELECT @@global.read_only' > {r}/read_only.$BULWARK_PHASE; \
             s=$?; rm -f $f; exit $s",
                p = m.port,
                r = root.display()
            )
        ])
    };
    // The workflow's last step: each archive is copied into a second store (a repository).
    let secondary = d
        .create(
            "/v1/stores",
            &json!({"name": "secondary", "plugin": "repository", "endpoint": {"path": root.join("secondary")}}),
        )
        .await
        .unwrap();
    let keep = d
        .create("/v1/retention", &json!({"name": "copies", "keep_last": 3}))
        .await
        .unwrap();
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let (s, b) = d
        .put(
            &format!("/v1/job/{job}"),
            &json!({"name": j["name"], "summary": "", "store": j["store_uuid"],
                    "target": j["target_uuid"], "retention": j["retention_uuid"],
                    "schedule": j["schedule_uuid"],
                    "copies": [{"store": secondary, "retention": keep}],
                    "steps": [
                {"name": "quiesce", "when": "before_backup", "command": sql("SET GLOBAL read_only = 1"), "secrets": ["password"]},
                {"name": "unquiesce", "when": "after_backup", "always": true, "command": sql("SET GLOBAL read_only = 0"), "secrets": ["password"]},
            ]}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let seen = |phase: &str| {
        std::fs::read_to_string(root.join(format!("read_only.{phase}")))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(seen("before_backup"), "1", "quiesced for the dump");
    assert_eq!(seen("after_backup"), "0", "unquiesced after it");
    assert_eq!(m.sql("SELECT @@global.read_only").trim(), "0");
    assert!(!t["log"].as_str().unwrap().contains("fossul pw"));
    // The copy in the second store restores the database.
    let copy = copied(&d, &secondary, &t["archive_uuid"]).await;
    m.sql("DELETE FROM shop.t WHERE id = 2;");
    let r = crate::repository::restore(&d, &copy, &target).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    assert_eq!(m.sql("SELECT COUNT(*) FROM shop.t").trim(), "2");

    // The dump fails (a database that is not there): unquiesced all the same.
    let mut ep = m.endpoint(Some("gone"));
    ep["password"] = "fossul pw".into();
    let (s, b) = d
        .put(
            &format!("/v1/target/{target}"),
            &json!({"name": "shop", "summary": "", "plugin": "mysql", "agent": "local", "endpoint": ep}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let _ = std::fs::remove_file(root.join("read_only.after_backup"));
    let t = backup(&d, &job).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert_eq!(seen("after_backup"), "0");
    assert_eq!(m.sql("SELECT @@global.read_only").trim(), "0");
}
