//! Restores people can trust: a restore from a damaged archive fails with one clear line and
//! leaves its target exactly as it was; a restore that cannot work is refused before it starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::engine::{engine_daemon, wire};
use crate::repository::{backup, fs_target, restore, scribble, walk};
use bulwark_testkit::TestDaemon;

/// Sixty files of random bytes, as the reliability test had.
fn files(dir: &Path) {
    use std::io::Read;
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let mut rnd = std::fs::File::open("/dev/urandom").unwrap();
    for i in 0..60 {
        let mut bytes = vec![0u8; 200_000 + i * 1000];
        rnd.read_exact(&mut bytes).unwrap();
        let at = if i % 2 == 0 {
            dir.to_path_buf()
        } else {
            dir.join("sub")
        };
        std::fs::write(at.join(format!("f{i}.bin")), bytes).unwrap();
    }
}

/// Every file under `dir` with its bytes.
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

/// Restores `archive` into its own target, which must fail, leaving the target as it was and
/// the task's log ending in one clear line (no backtrace).
async fn fails_and_changes_nothing(d: &TestDaemon, archive: &Value, dir: &Path, what: &str) {
    let before = contents(dir);
    let r = restore(d, archive, archive["target_uuid"].as_str().unwrap()).await;
    assert_eq!(r["status"], "failed", "{what}: {}", r["log"]);
    let log = r["log"].as_str().unwrap();
    let last = log.lines().last().unwrap();
    assert!(last.starts_with("Failed: "), "{what}: {last}");
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!log.contains(bad), "{what}: a panic in the log: {log}");
    }
    let after = contents(dir);
    assert_eq!(
        before.len(),
        after.len(),
        "{what}: files came or went: {log}"
    );
    for (path, bytes) in &before {
        assert!(
            after.get(path) == Some(bytes),
            "{what}: {} changed: {log}",
            path.display()
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".bulwark-restore-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{what}: a staging directory was left");
}

fn writable(p: &Path) {
    let mut perms = std::fs::metadata(p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(p, perms).unwrap();
}

#[tokio::test]
async fn a_damaged_blob_in_a_plugin_store_never_reaches_the_target() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    files(&src);
    let store_dir = work.path().join("store");
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": store_dir})),
        3600,
    )
    .await;
    let (_, a) = backup(&d, &w).await;
    let blobs = walk(&store_dir);
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    let blob = &blobs[0];
    let good = std::fs::read(blob).unwrap();

    // One byte flipped, late in the stream (the files before it would have been overwritten).
    let mut bad = good.clone();
    let at = bad.len() * 9 / 10;
    bad[at] ^= 0x40;
    std::fs::write(blob, &bad).unwrap();
    fails_and_changes_nothing(&d, &a, &src, "a flipped byte").await;

    // Cut short.
    std::fs::write(blob, &good[..good.len() * 9 / 10]).unwrap();
    fails_and_changes_nothing(&d, &a, &src, "a blob cut short").await;

    // Whole again: the restore works, and puts back what changed since.
    std::fs::write(blob, &good).unwrap();
    let want = contents(&src);
    std::fs::write(src.join("f0.bin"), b"changed").unwrap();
    let r = restore(&d, &a, &w.target).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    assert!(
        r["log"]
            .as_str()
            .unwrap()
            .contains("the target is not touched until"),
        "{}",
        r["log"]
    );
    assert_eq!(contents(&src), want);
    let staging = d.data_dir().join("staging");
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        0,
        "the staging file is removed"
    );
}

#[tokio::test]
async fn a_damaged_pack_fails_a_tree_or_stream_restore_with_the_target_untouched() {
    let work = tempfile::tempdir().unwrap();
    let d = engine_daemon("").await;
    for (kind, exclude) in [("tree", json!([])), ("stream", json!(["*.tmp"]))] {
        let src = work.path().join(format!("src-{kind}"));
        files(&src);
        let repo = work.path().join(format!("repo-{kind}"));
        let w = wire(
            &d,
            ("fs", json!({"base_dir": src, "exclude": exclude})),
            ("repository", json!({"path": repo})),
            3600,
        )
        .await;
        let (_, a) = backup(&d, &w).await;
        assert_eq!(a["format"], kind);
        for pack in walk(&repo.join("data")) {
            let len = std::fs::metadata(&pack).unwrap().len();
            writable(&pack);
            scribble(&pack, len * 3 / 4, 64);
        }
        fails_and_changes_nothing(&d, &a, &src, kind).await;
    }
}

#[tokio::test]
async fn a_restore_that_cannot_work_is_refused_before_it_starts() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    files(&src);
    let d = engine_daemon("").await;
    let stream = wire(
        &d,
        ("shtarget", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("blobs")})),
        3600,
    )
    .await;
    let tree = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("repository", json!({"path": work.path().join("repo")})),
        3600,
    )
    .await;
    let (_, sa) = backup(&d, &stream).await;
    let (_, ta) = backup(&d, &tree).await;
    assert_eq!(sa["plugin"], "shtarget");
    assert_eq!(ta["plugin"], "fs");
    let elsewhere = fs_target(&d, "elsewhere", &work.path().join("elsewhere")).await;
    let tasks = d
        .get_ok("/v1/tasks")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .len();
    for (archive, target, says) in [
        (&sa, &elsewhere, "made by the 'shtarget' plugin"),
        (&ta, &stream.target, "is a directory tree"),
    ] {
        let (status, v) = d
            .post(
                &format!("/v1/archive/{}/restore", archive["uuid"].as_str().unwrap()),
                &json!({"target": target}),
            )
            .await
            .unwrap();
        assert_eq!(status, 400, "{v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{v}");
    }
    assert_eq!(
        d.get_ok("/v1/tasks")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        tasks,
        "no task"
    );
    assert!(!work.path().join("elsewhere").exists(), "nothing was made");
}

#[tokio::test]
async fn a_restore_says_what_it_will_do_and_asks_first() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    files(&src);
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("blobs")})),
        3600,
    )
    .await;
    let (_, a) = backup(&d, &w).await;
    let id = a["uuid"].as_str().unwrap();
    let tasks = || async {
        d.get_ok("/v1/tasks")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    let before = tasks().await;

    let p = d
        .post_ok(
            &format!("/v1/archive/{id}/restore"),
            &json!({"dry_run": true}),
        )
        .await
        .unwrap();
    assert_eq!(p["dry_run"], true);
    assert_eq!(p["archive_uuid"], id);
    assert_eq!(p["size"], a["size"]);
    assert_eq!(p["taken_at"], a["taken_at"]);
    assert!((0..600).contains(&p["age"].as_i64().unwrap()), "{p}");
    assert_eq!(p["format"], a["format"]);
    assert_eq!(p["plugin"], "fs");
    assert_eq!(p["target_uuid"], w.target.as_str());
    assert_eq!(p["target_plugin"], "fs");
    assert!(
        p["target_endpoint"]
            .as_str()
            .unwrap()
            .contains(src.to_str().unwrap()),
        "{p}"
    );
    assert_eq!(p["in_place"], true);
    assert!(p["effect"].as_str().unwrap().contains("left alone"), "{p}");
    let elsewhere = fs_target(&d, "elsewhere", &work.path().join("elsewhere")).await;
    let p2 = d
        .post_ok(
            &format!("/v1/archive/{id}/restore"),
            &json!({"dry_run": true, "target": elsewhere}),
        )
        .await
        .unwrap();
    assert_eq!(p2["in_place"], false);
    assert_eq!(p2["target_name"], "elsewhere");
    assert_eq!(tasks().await, before, "a dry run queues nothing");

    // The CLI: off a terminal an in-place restore needs --yes; --dry-run only tells.
    let err = crate::cli::fails(&d, &["restore", "archive", id]);
    assert!(err.contains("--yes"), "{err}");
    let (code, out, _) = crate::cli::cli(&d, &["restore", "archive", id, "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("the target it was taken from") && out.contains("left alone"),
        "{out}"
    );
    assert_eq!(tasks().await, before);

    // On a terminal it shows the preview and asks.
    let mut t = crate::cli::Terminal::start(&d, &["restore", "archive", id]);
    t.expect("the target it was taken from");
    t.expect("Restore? [y/N]");
    t.send("n");
    let (code, text) = t.finish();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("not restored"), "{text}");
    assert_eq!(tasks().await, before);
    let mut t = crate::cli::Terminal::start(&d, &["restore", "archive", id, "--wait"]);
    t.expect("Restore? [y/N]");
    t.send("y");
    let (code, text) = t.finish();
    assert_eq!(code, 0, "{text}");
    assert_eq!(tasks().await, before + 1);
    let (code, _, err) = crate::cli::cli(&d, &["restore", "archive", id, "--yes", "--wait"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(tasks().await, before + 2);
}
