//! Knowing at a glance: every job says its last run, last success, next run, RPO and health;
//! the list filters by health; `/v1/status` counts them; the CLI shows them and `status` exits 1
//! while a job needs attention.

use serde_json::{Value, json};

use crate::cli::cli;
use crate::engine::{engine_daemon, finished, run_job, wire};

fn job<'a>(jobs: &'a Value, id: &str) -> &'a Value {
    jobs.as_array()
        .unwrap()
        .iter()
        .find(|j| j["uuid"] == id)
        .unwrap()
}

#[tokio::test]
async fn every_job_says_how_it_is_doing() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let store = json!({"base_dir": dir.path().join("store")});
    let good = wire(
        &d,
        ("shtarget", json!({"base_dir": src})),
        ("fs", store.clone()),
        3600,
    )
    .await;
    let bad = wire(
        &d,
        ("shtarget", json!({"base_dir": src, "mode": "fail"})),
        ("fs", store.clone()),
        3600,
    )
    .await;
    let fresh = wire(
        &d,
        ("shtarget", json!({"base_dir": src})),
        ("fs", store.clone()),
        3600,
    )
    .await;
    let held = wire(
        &d,
        ("shtarget", json!({"base_dir": src})),
        ("fs", store.clone()),
        3600,
    )
    .await;
    d.post_ok(&format!("/v1/job/{}/pause", held.job), &json!({}))
        .await
        .unwrap();
    let ok_task = run_job(&d, &good.job).await;
    assert_eq!(finished(&d, &ok_task).await["status"], "done");
    let bad_task = run_job(&d, &bad.job).await;
    assert_eq!(finished(&d, &bad_task).await["status"], "failed");

    let jobs = d.get_ok("/v1/jobs").await.unwrap();
    let g = job(&jobs, &good.job);
    assert_eq!(g["health"], "ok", "{g}");
    assert_eq!(g["last_run"]["status"], "done");
    assert_eq!(g["last_run"]["task_uuid"], ok_task.as_str());
    assert!(g["last_success"]["archive_uuid"].is_string());
    assert!(g["next_run"].is_string());
    assert_eq!(g["rpo"], Value::Null);
    assert_eq!(
        g["effective_rpo"],
        2 * 86_400,
        "daily at 4am: twice a day's gap"
    );
    let b = job(&jobs, &bad.job);
    assert_eq!(b["health"], "failing");
    assert_eq!(b["last_run"]["status"], "failed");
    assert_eq!(b["last_success"], Value::Null);
    assert_eq!(job(&jobs, &fresh.job)["health"], "never");
    let h = job(&jobs, &held.job);
    assert_eq!(h["health"], "paused");
    assert_eq!(h["next_run"], Value::Null);

    let failing = d.get_ok("/v1/jobs?health=failing").await.unwrap();
    assert_eq!(failing.as_array().unwrap().len(), 1);
    assert_eq!(failing[0]["uuid"], bad.job.as_str());
    assert_eq!(d.get("/v1/jobs?health=sick").await.unwrap().0, 400);

    // Late: the good archive is older than the job's own RPO.
    let g = d.get_ok(&format!("/v1/job/{}", good.job)).await.unwrap();
    let update = json!({"name": g["name"], "summary": "", "store": g["store_uuid"], "target": g["target_uuid"],
        "retention": g["retention_uuid"], "schedule": g["schedule_uuid"], "rpo": 3600});
    let (s, body) = d
        .put(&format!("/v1/job/{}", good.job), &update)
        .await
        .unwrap();
    assert_eq!(s, 200, "{body}");
    let db = rusqlite::Connection::open(d.data_dir().join("catalog.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute(
        "UPDATE tasks SET stopped_at = stopped_at - 7200 WHERE job_uuid = ?1",
        [&good.job],
    )
    .unwrap();
    let g = d.get_ok(&format!("/v1/job/{}", good.job)).await.unwrap();
    assert_eq!(g["health"], "late", "{g}");
    assert_eq!(g["rpo"], 3600);
    let mut bad_rpo = update.clone();
    bad_rpo["rpo"] = 5.into();
    assert_eq!(
        d.put(&format!("/v1/job/{}", good.job), &bad_rpo)
            .await
            .unwrap()
            .0,
        400
    );

    // The status counts them and names the ones that need attention.
    let s = d.get_ok("/v1/status").await.unwrap();
    assert_eq!(
        s["jobs"],
        json!({"ok": 0, "late": 1, "failing": 1, "retrying": 0, "never": 1, "paused": 1})
    );
    let attention: Vec<&str> = s["attention"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(attention.len(), 3, "{attention:?}");

    // The CLI.
    let (code, out, err) = cli(&d, &["status"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("3 job(s) need attention"), "{err}");
    let (code, out, _) = cli(&d, &["list", "jobs"]);
    assert_eq!(code, 0);
    let header = out.lines().next().unwrap();
    assert!(
        header.contains("LAST") && header.contains("HEALTH") && header.contains("NEXT"),
        "{out}"
    );
    assert!(
        out.contains("failing") && out.contains("late") && !out.contains('\u{1b}'),
        "{out}"
    );
    let (_, out, _) = cli(
        &d,
        &[
            "list", "tasks", "--job", &bad.job, "--status", "failed", "--limit", "1", "--json",
        ],
    );
    let tasks: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(tasks.as_array().unwrap().len(), 1);
    assert_eq!(tasks[0]["uuid"], bad_task.as_str());
    // --rpo on the command line, as a duration.
    let (code, _, err) = cli(&d, &["edit", "job", &fresh.job, "--rpo", "2d"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        d.get_ok(&format!("/v1/job/{}", fresh.job)).await.unwrap()["rpo"],
        2 * 86_400
    );
    let (code, out, _) = cli(&d, &["log", "task", &bad_task[..8], "--follow"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("the disk caught fire") && out.contains("Failed:"),
        "{out}"
    );
}

#[tokio::test]
async fn json_log_lines_of_a_task_carry_its_task_job_and_target() {
    let d = engine_daemon("log_format = \"json\"").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "x").unwrap();
    let w = wire(
        &d,
        ("shtarget", json!({"base_dir": dir.path()})),
        ("fs", json!({"base_dir": dir.path().join("store")})),
        3600,
    )
    .await;
    let task = run_job(&d, &w.job).await;
    assert_eq!(finished(&d, &task).await["status"], "done");
    let log = d.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}"))
        })
        .collect();
    let of_task: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["fields"]["message"] == "Backup done." || l["fields"]["message"] == "Task started."
        })
        .collect();
    assert_eq!(of_task.len(), 2, "{log}");
    for l in of_task {
        assert_eq!(l["span"]["task"], task.as_str(), "{l}");
        assert_eq!(l["span"]["job"], w.job.as_str(), "{l}");
        assert_eq!(l["span"]["target"], w.target.as_str(), "{l}");
    }
    assert!(!log.contains('\u{1b}'));
}
