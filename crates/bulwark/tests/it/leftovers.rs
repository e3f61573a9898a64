//! Plugins that misbehave cannot hang a task: a plugin that exits 0 but leaves a child holding
//! its output (in a session of its own, out of its process group) ends its backup within the
//! grace, and a child that called setsid does not outlive the task.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::engine::{engine_daemon, finished, run_job, wire};

fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[tokio::test]
async fn what_a_plugin_leaves_behind_is_killed_and_never_hangs_the_task() {
    // A task timeout far above the test's patience: only the grace can end these backups.
    let d = engine_daemon("[tasks]\ntimeout = 3600").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    for mode in ["leaky", "setsid"] {
        let pidfile = dir.path().join(format!("{mode}.pid"));
        let w = wire(
            &d,
            (
                "shtarget",
                json!({"base_dir": src, "mode": mode, "pidfile": pidfile}),
            ),
            (
                "fs",
                json!({"base_dir": dir.path().join(format!("store-{mode}"))}),
            ),
            3600,
        )
        .await;
        let started = Instant::now();
        let t = finished(&d, &run_job(&d, &w.job).await).await;
        let took = started.elapsed();
        assert_eq!(t["status"], "done", "{mode}: {}", t["log"]);
        assert!(
            took < Duration::from_secs(30),
            "{mode}: the backup took {took:?}"
        );
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        assert!(
            !alive(&pid),
            "{mode}: the plugin's child {pid} outlived the task"
        );
        let log = t["log"].as_str().unwrap();
        if mode == "leaky" {
            assert!(
                log.contains("exited, but processes it left behind still held its output"),
                "{log}"
            );
        }
        // The archive restores: the stream was whole.
        let archive = t["archive_uuid"].as_str().unwrap();
        std::fs::remove_file(src.join("f")).unwrap();
        let r = d
            .post_ok(&format!("/v1/archive/{archive}/restore"), &json!({}))
            .await
            .unwrap();
        let r = finished(&d, r["task_uuid"].as_str().unwrap()).await;
        assert_eq!(r["status"], "done", "{}", r["log"]);
        assert_eq!(std::fs::read_to_string(src.join("f")).unwrap(), "data");
    }
}
