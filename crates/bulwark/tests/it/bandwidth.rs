//! A job's bandwidth limit: what a backup sends to its store is paced, into a sealed plugin
//! store (through the pipeline) and into a repository as a tree (by the repository plugin), and
//! compared with an unlimited run of the same backup.

use std::io::Write;
use std::time::Instant;

use bulwark_testkit::TestDaemon;
use serde_json::json;

use crate::common::bin;

/// 100 MB that do not compress, a sequence of its own for each seed.
fn noise(path: &std::path::Path, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = 100_000_000usize;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
}

async fn set_bandwidth(d: &TestDaemon, job: &str, bandwidth: &str) -> (u16, serde_json::Value) {
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    d.put(
        &format!("/v1/job/{job}"),
        &json!({"name": j["name"], "summary": "", "store": j["store_uuid"],
                "target": j["target_uuid"], "retention": j["retention_uuid"],
                "schedule": j["schedule_uuid"], "bandwidth": bandwidth}),
    )
    .await
    .unwrap()
}

/// Seconds one backup of `job` takes, end to end.
async fn timed(d: &TestDaemon, job: &str) -> f64 {
    let began = Instant::now();
    let t = crate::engine::finished(d, &crate::engine::run_job(d, job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    began.elapsed().as_secs_f64()
}

#[tokio::test]
async fn a_bandwidth_limit_paces_what_goes_to_the_store() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir(&src).unwrap();
    noise(&src.join("noise.bin"), 1);
    let d = TestDaemon::start_with(bin(), "").await.unwrap();
    let target = d
        .create(
            "/v1/targets",
            &json!({"name": "noise", "plugin": "fs", "agent": "local", "endpoint": {"base_dir": src}}),
        )
        .await
        .unwrap();
    let (blobs, schedule, policy) = crate::common::job_parts(&d, &root.path().join("blobs")).await;
    let repo = d
        .create(
            "/v1/stores",
            &json!({"name": "repo", "plugin": "repository", "endpoint": {"path": root.path().join("repo")}}),
        )
        .await
        .unwrap();
    for (store, name) in [(&blobs, "sealed"), (&repo, "tree")] {
        let job = d
            .create(
                "/v1/jobs",
                &json!({"name": name, "target": target, "store": store, "schedule": schedule,
                        "retention": policy, "paused": true}),
            )
            .await
            .unwrap();
        let free = timed(&d, &job).await;
        if name == "tree" {
            // The same data again would be deduplicated: the paced run needs new data.
            noise(&src.join("noise.bin"), 2);
        }
        let (s, b) = set_bandwidth(&d, &job, "20M").await;
        assert_eq!(s, 200, "{b}");
        let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
        assert_eq!(j["bandwidth"], 20 << 20);
        let paced = timed(&d, &job).await;
        eprintln!("{name}: {free:.2}s without a limit, {paced:.2}s at 20 MiB/s");
        // 100 MB at 20 MiB/s: at least 4.77 s.
        assert!(paced >= 4.5, "{name}: {paced:.2}s at 20 MiB/s");
        assert!(paced > free, "{name}: {paced:.2}s paced, {free:.2}s free");
        // Bad values are refused and change nothing; "0" lifts the limit.
        let (s, _) = set_bandwidth(&d, &job, "20X").await;
        assert_eq!(s, 400);
        let (s, _) = set_bandwidth(&d, &job, "0").await;
        assert_eq!(s, 200);
        let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
        assert!(j["bandwidth"].is_null(), "{j}");
    }
}

#[tokio::test]
async fn the_cli_takes_hen_backups_priority_words_and_rates() {
    let d = TestDaemon::start_with(bin(), "").await.unwrap();
    let root = tempfile::tempdir().unwrap();
    for args in [
        vec![
            "create", "store", "--name", "disk", "--plugin", "fs", "--set",
        ],
        vec![
            "create", "target", "--name", "files", "--plugin", "fs", "--set",
        ],
    ] {
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.push(format!("base_dir={}", root.path().display()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = crate::cli::cli(&d, &args);
        assert_eq!(code, 0, "{err}");
    }
    for args in [
        &[
            "create",
            "schedule",
            "--name",
            "nightly",
            "--when",
            "daily at 4am",
        ][..],
        &[
            "create",
            "retention",
            "policy",
            "--name",
            "week",
            "--expires",
            "7d",
        ],
        &[
            "create",
            "job",
            "--name",
            "idle",
            "--target",
            "files",
            "--store",
            "disk",
            "--schedule",
            "nightly",
            "--retention-policy",
            "week",
            "--priority",
            "on-idle",
            "--bandwidth",
            "50M",
            "--paused",
        ],
    ] {
        let (code, _, err) = crate::cli::cli(&d, args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let jobs = d.get_ok("/v1/jobs").await.unwrap();
    assert_eq!(jobs[0]["priority"], 100);
    assert_eq!(jobs[0]["bandwidth"], 50 << 20);
    let (code, _, _) = crate::cli::cli(
        &d,
        &[
            "edit",
            "job",
            "idle",
            "--priority",
            "superior",
            "--bandwidth",
            "0",
        ],
    );
    assert_eq!(code, 0);
    let jobs = d.get_ok("/v1/jobs").await.unwrap();
    assert_eq!(jobs[0]["priority"], 25);
    assert!(jobs[0]["bandwidth"].is_null());
    let (code, _, err) = crate::cli::cli(&d, &["edit", "job", "idle", "--priority", "sometime"]);
    assert_ne!(code, 0);
    assert!(err.contains("on-idle (100)"), "{err}");
}
