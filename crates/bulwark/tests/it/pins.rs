//! Pinned archives: an operator's `keep: true` holds an archive past its expiry while the
//! retention sweep purges its neighbours; unpinned, it goes at the next sweep.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::cli;
use crate::engine::{archives_of, backup_archive, engine_daemon, wire};

#[tokio::test]
async fn a_pinned_archive_outlives_its_expiry_until_unpinned() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let d =
        engine_daemon("[retention]\nminimum_expiry = 1\nsweep_interval = 1\npurge_retry = 1").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("store")})),
        3,
    )
    .await;
    let pinned = backup_archive(&d, &w.job).await;
    let other = backup_archive(&d, &w.job).await;
    let id = pinned["uuid"].as_str().unwrap();
    assert_eq!(pinned["keep"], false);
    // Pinned through the CLI, as an operator would.
    let (code, out, err) = cli(&d, &["edit", "archive", id, "--keep"]);
    assert_eq!(code, 0, "{out} {err}");
    let a = d.get_ok(&format!("/v1/archive/{id}")).await.unwrap();
    assert_eq!(a["keep"], true);
    assert_eq!(a["notes"], "", "pinning keeps the notes");
    let status = |list: &[serde_json::Value], uuid: &serde_json::Value| {
        list.iter()
            .find(|a| a["uuid"] == *uuid)
            .map(|a| a["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = archives_of(&d, &w.target).await;
        if status(&list, &other["uuid"]) == "purged" {
            assert_eq!(
                status(&list, &pinned["uuid"]),
                "valid",
                "a pinned archive was purged"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the unpinned archive was never purged: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Well past its expiry and several sweeps later, it is still there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status(&archives_of(&d, &w.target).await, &pinned["uuid"]),
        "valid"
    );
    // Unpinned through the API: the next sweep purges it.
    let (s, b) = d
        .put(
            &format!("/v1/archive/{id}"),
            &json!({"notes": "", "keep": false}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&archives_of(&d, &w.target).await, &pinned["uuid"]) != "purged" {
        assert!(
            Instant::now() < deadline,
            "the unpinned archive was never purged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
