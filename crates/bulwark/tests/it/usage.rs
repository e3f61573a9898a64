//! How much disk the backups use: a store answers its archives, their bytes and what it keeps,
//! checked against the files of a plugin store and the pack files of a local repository.

use std::path::Path;

use serde_json::json;

use crate::cli::cli;
use crate::engine::{backup_archive, engine_daemon, finished, run_job, wire};

/// The apparent size of every file under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            bytes_under(&e.path())
        } else {
            m.len()
        };
    }
    total
}

#[tokio::test]
async fn stores_say_how_much_they_hold() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), vec![1u8; 200_000]).unwrap();
    std::fs::write(src.join("b"), "some text\n".repeat(5000)).unwrap();

    // A plugin store: its blobs.
    let blobs = dir.path().join("blobs");
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": blobs})),
        3600,
    )
    .await;
    let mut size = 0;
    for _ in 0..2 {
        let a = backup_archive(&d, &w.job).await;
        size += a["size"].as_u64().unwrap();
    }
    let s = d.get_ok(&format!("/v1/store/{}", w.store)).await.unwrap();
    let u = &s["usage"];
    assert_eq!(u["archives"], 2);
    assert_eq!(u["size"].as_u64().unwrap(), size);
    assert_eq!(u["stored"].as_u64().unwrap(), bytes_under(&blobs), "{u}");
    assert_eq!(u["added_day"], u["stored"]);
    assert_eq!(u["added_week"], u["stored"]);
    let (_, table, _) = cli(&d, &["list", "stores"]);
    assert!(
        table.lines().next().unwrap().contains("ARCHIVES") && table.contains("STORED"),
        "{table}"
    );

    // A local repository, measured at its prune.
    let repo = dir.path().join("repo");
    let r = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("repository", json!({"path": repo})),
        3600,
    )
    .await;
    let t = finished(&d, &run_job(&d, &r.job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let p = d
        .post_ok(&format!("/v1/store/{}/prune", r.store), &json!({}))
        .await
        .unwrap();
    let p = finished(&d, p["task_uuid"].as_str().unwrap()).await;
    assert_eq!(p["status"], "done", "{}", p["log"]);
    let u = d.get_ok(&format!("/v1/store/{}", r.store)).await.unwrap()["usage"].clone();
    assert_eq!(u["archives"], 1);
    assert_eq!(
        u["stored"].as_u64().unwrap(),
        bytes_under(&repo.join("data")),
        "{u}"
    );
    assert!(u["measured_at"].is_string(), "{u}");
    let (_, table, _) = cli(&d, &["list", "archives", "--store", &r.store]);
    assert!(table.lines().next().unwrap().contains("ADDED"), "{table}");
}
