//! SIGKILL at seeded random points of backups and restores into a repository store: the
//! daemon and its plugins die at once; after each kill a stock `restic check` passes, no
//! restored file is torn, and the next backup or restore succeeds.

use std::path::Path;
use std::time::{Duration, Instant};

use bulwark_testkit::tree;
use serde_json::json;

use crate::engine::{archives_of, engine_daemon, finished, run_job, wire};
use crate::repository::{backup, fs_target, restic, restore, scribble, store_secret, tool};

/// Deterministic delays: xorshift from a fixed seed, so a failure can be replayed.
struct Points(u64);

impl Points {
    /// A point in `0..span`.
    fn next(&mut self, span: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        span.mul_f64((self.0 % 1000) as f64 / 1000.0)
    }
}

const SEED: u64 = 0x2026_1206;
const POINTS: usize = 10;

fn check_passes(repo: &Path, password: &str, when: &str) {
    let out = restic(repo.to_str().unwrap(), password, &["check"]);
    assert!(
        out.status.success(),
        "restic check failed {when}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file under `dir` with its bytes.
fn contents(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    crate::repository::walk(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(".bulwark-restore-"))
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            Some((p.strip_prefix(dir).unwrap().to_path_buf(), bytes))
        })
        .collect()
}

#[tokio::test]
async fn kills_at_seeded_points_of_backups_and_restores_leave_a_sound_repository() {
    if !tool("restic") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree::tricky(&src, 32 << 20).unwrap();
    let repo_dir = work.path().join("repo");
    let mut d = engine_daemon("").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("repository", json!({"path": repo_dir})),
        3600,
    )
    .await;
    let password = store_secret(&d, &w.store);
    let started = Instant::now();
    backup(&d, &w).await;
    // The span the kill points fall in: one backup with new data, and a little more.
    let span = started.elapsed().mul_f64(1.5);
    let mut points = Points(SEED);

    for round in 0..POINTS {
        // New data every round, so each backup has packs to write.
        std::fs::write(src.join(format!("round-{round}.bin")), vec![0u8; 1]).unwrap();
        scribble(&src.join(format!("round-{round}.bin")), 0, 12 << 20);
        let task = run_job(&d, &w.job).await;
        let at = points.next(span);
        tokio::time::sleep(at).await;
        d.kill().unwrap();
        check_passes(
            &repo_dir,
            &password,
            &format!("after a kill {at:?} into backup {round}"),
        );
        d.restart().unwrap();
        let t = finished(&d, &task).await;
        assert!(
            ["failed", "done"].contains(&t["status"].as_str().unwrap()),
            "{t}"
        );
    }
    let (_, last) = backup(&d, &w).await;
    check_passes(&repo_dir, &password, "after the last backup");
    let live = archives_of(&d, &w.target).await;
    assert!(live.iter().all(|a| a["status"] == "valid"), "{live:?}");

    // Restores into another directory, killed at seeded points: every file there is its old
    // or its new self, never torn.
    let dst = work.path().join("dst");
    let target = fs_target(&d, "elsewhere", &dst).await;
    std::fs::create_dir_all(&dst).unwrap();
    for round in 0..POINTS {
        for (i, name) in ["round-0.bin", "round-1.bin", "round-2.bin"]
            .iter()
            .enumerate()
        {
            std::fs::write(dst.join(name), format!("old {round} {i}")).unwrap();
        }
        let before = contents(&dst);
        let task = d
            .post_ok(
                &format!("/v1/archive/{}/restore", last["uuid"].as_str().unwrap()),
                &json!({"target": target}),
            )
            .await
            .unwrap()["task_uuid"]
            .as_str()
            .unwrap()
            .to_string();
        let at = points.next(span);
        tokio::time::sleep(at).await;
        d.kill().unwrap();
        let whole = contents(&src);
        for (path, now) in contents(&dst) {
            assert!(
                before.get(&path) == Some(&now) || whole.get(&path) == Some(&now),
                "{} is torn after a kill {at:?} into restore {round}",
                path.display()
            );
        }
        check_passes(
            &repo_dir,
            &password,
            &format!("after a kill into restore {round}"),
        );
        d.restart().unwrap();
        finished(&d, &task).await;
    }
    let r = restore(&d, &last, &target).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    tree::assert_same_tree(&src, &dst).unwrap();
    // And the next backup after all that is whole too.
    scribble(&src.join("round-0.bin"), 0, 1 << 20);
    backup(&d, &w).await;
    check_passes(&repo_dir, &password, "at the end");
}
