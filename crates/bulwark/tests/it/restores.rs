//! Restores people can trust: a restore from a damaged archive fails with one clear line and
//! leaves its target exactly as it was; a restore that cannot work is refused before it starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::engine::{Wired, engine_daemon, wire};
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

/// A daemon; a work directory whose `src` holds [`files`]; and a job of an fs target over `src`
/// into a store of `plugin` (`fs` or `repository`) in the work directory's `store`.
async fn world(plugin: &str) -> (tempfile::TempDir, PathBuf, TestDaemon, Wired) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    files(&src);
    let at = work.path().join("store");
    let store = match plugin {
        "fs" => json!({"base_dir": at}),
        _ => json!({"path": at}),
    };
    let d = engine_daemon("").await;
    let w = wire(&d, ("fs", json!({"base_dir": src})), (plugin, store), 3600).await;
    (work, src, d, w)
}

/// `GET .../files/content?path=PATH` of an archive, which must answer 200.
async fn content(d: &TestDaemon, archive: &str, path: &str) -> reqwest::Response {
    let r = d
        .bare(
            reqwest::Method::GET,
            &format!("/v1/archive/{archive}/files/content?path={path}"),
        )
        .bearer_auth(d.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r
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
    let (work, src, d, w) = world("fs").await;
    let store_dir = work.path().join("store");
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
    let (work, src, d, w) = world("fs").await;
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

#[tokio::test]
async fn browse_pick_and_restore_anywhere() {
    let (work, src, d, tree) = world("repository").await;
    std::fs::write(src.join("notes.txt"), "what the backup holds\n").unwrap();
    let (_, a) = backup(&d, &tree).await;
    let id = a["uuid"].as_str().unwrap();
    let files_of = |q: &str| format!("/v1/archive/{id}/files?{q}");

    // Browse: the root, a page of it, a directory, a file; what is refused.
    let root = d.get_ok(&files_of("")).await.unwrap();
    assert_eq!(root["total"], 32, "30 files, notes.txt and sub/: {root}");
    let names: Vec<&str> = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"sub") && names.contains(&"f0.bin") && names.contains(&"notes.txt"));
    let sub = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "sub")
        .unwrap();
    assert_eq!(sub["type"], "dir");
    let f0 = root["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "f0.bin")
        .unwrap();
    assert_eq!(f0["type"], "file");
    assert_eq!(f0["size"], 200_000);
    assert!(f0["mtime"].is_string() && f0["mode"].is_number());
    let page = d.get_ok(&files_of("offset=25&limit=10")).await.unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 7);
    assert_eq!(page["offset"], 25);
    let inside = d.get_ok(&files_of("path=sub")).await.unwrap();
    assert_eq!(inside["total"], 30);
    assert_eq!(inside["entries"][0]["path"], "sub/f1.bin");
    let one = d.get_ok(&files_of("path=sub/f1.bin")).await.unwrap();
    assert_eq!(one["total"], 1);
    for (q, status) in [
        ("path=../etc", 400),
        ("path=nothing-here", 400),
        ("limit=0", 400),
    ] {
        assert_eq!(d.get(&files_of(q)).await.unwrap().0, status, "{q}");
    }

    // One file's bytes, over the API and with the CLI.
    let r = content(&d, id, "sub/f1.bin").await;
    assert_eq!(r.headers()["content-length"], "201000");
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        std::fs::read(src.join("sub/f1.bin")).unwrap()
    );
    assert_eq!(
        d.get(&format!("/v1/archive/{id}/files/content?path=sub"))
            .await
            .unwrap()
            .0,
        400
    );
    let (code, out, _) = crate::cli::cli(&d, &["cat", "archive", id, "notes.txt"]);
    assert_eq!((code, out.as_str()), (0, "what the backup holds\n"));
    let (code, out, _) = crate::cli::cli(&d, &["ls", "archive", id, "sub"]);
    assert_eq!(code, 0);
    assert!(out.contains("f1.bin") && out.contains("201000"), "{out}");

    // Only some paths, into a new directory on the daemon's host.
    let out_dir = work.path().join("picked");
    let t = crate::repository::post_task(
        &d,
        &format!("/v1/archive/{id}/restore"),
        &json!({"to_dir": out_dir, "paths": ["sub/f1.bin", "notes.txt"]}),
    )
    .await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let got = contents(&out_dir);
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        vec![PathBuf::from("notes.txt"), PathBuf::from("sub/f1.bin")]
    );
    assert_eq!(
        got[&PathBuf::from("sub/f1.bin")],
        std::fs::read(src.join("sub/f1.bin")).unwrap()
    );
    for (body, says) in [
        (json!({"to_dir": out_dir}), "not empty"),
        (json!({"to_dir": "relative/dir"}), "absolute"),
        (json!({"to_dir": d.data_dir().join("x")}), "data directory"),
        (
            json!({"to_dir": work.path().join("n"), "target": tree.target}),
            "not both",
        ),
        (json!({"paths": ["../x"]}), ".."),
    ] {
        crate::common::assert_error(
            d.post(&format!("/v1/archive/{id}/restore"), &body)
                .await
                .unwrap(),
            400,
            says,
        );
    }

    // A stream lands as one file; `restore latest` finds the newest archive of a job.
    let stream = wire(
        &d,
        ("shtarget", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("blobs")})),
        3600,
    )
    .await;
    let (_, sa) = backup(&d, &stream).await;
    let stream_dir = work.path().join("stream-out");
    let (code, _, err) = crate::cli::cli(
        &d,
        &[
            "restore",
            "latest",
            "--job",
            &stream.job,
            "--to-dir",
            stream_dir.to_str().unwrap(),
            "--yes",
            "--wait",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let landed = walk(&stream_dir);
    assert_eq!(landed.len(), 1, "{landed:?}");
    assert_eq!(
        std::fs::metadata(&landed[0]).unwrap().len(),
        sa["size"].as_u64().unwrap()
    );
    let err = crate::cli::fails(&d, &["restore", "latest"]);
    assert!(err.contains("--job"), "{err}");
    // Browsing needs a repository store.
    assert_eq!(
        d.get(&format!(
            "/v1/archive/{}/files",
            sa["uuid"].as_str().unwrap()
        ))
        .await
        .unwrap()
        .0,
        400
    );
}

/// The daemon's peak resident memory so far, in KiB.
fn peak_kib(d: &TestDaemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid().unwrap())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_tree_restore_killed_midway_leaves_whole_files_and_a_big_file_streams_flat() {
    let (_work, src, mut d, w) = world("repository").await;
    // 500 MB of zeros (sparse): cheap to store, as long as any file to stream.
    let big = std::fs::File::create(src.join("big.img")).unwrap();
    big.set_len(500 << 20).unwrap();
    drop(big);
    let (_, a) = backup(&d, &w).await;
    let id = a["uuid"].as_str().unwrap().to_string();

    // `cat` of the 500 MB file: the daemon's memory stays flat.
    let before = peak_kib(&d);
    let mut r = content(&d, &id, "big.img").await;
    let mut n = 0u64;
    while let Some(chunk) = r.chunk().await.unwrap() {
        assert!(chunk.iter().all(|b| *b == 0));
        n += chunk.len() as u64;
    }
    assert_eq!(n, 500 << 20);
    let grew = peak_kib(&d).saturating_sub(before);
    assert!(
        grew < 64 * 1024,
        "the daemon's peak memory grew by {grew} KiB streaming 500 MB"
    );

    // New contents in the target, then a restore of the old archive killed with the daemon.
    let old = contents(&src);
    for (i, (path, _)) in old
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| p.extension().is_some_and(|e| e == "bin"))
    {
        std::fs::write(src.join(path), format!("new {i}")).unwrap();
    }
    std::fs::remove_file(src.join("big.img")).unwrap();
    let new = contents(&src);
    let task = d
        .post_ok(&format!("/v1/archive/{id}/restore"), &json!({}))
        .await
        .unwrap()["task_uuid"]
        .as_str()
        .unwrap()
        .to_string();
    // Kill it once the restore is under way (its staging directory exists), or at the latest
    // after a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let staging = std::fs::read_dir(&src).unwrap().flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".bulwark-restore-")
        });
        if staging {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    d.kill().unwrap();
    for path in old.keys().chain(new.keys()) {
        let Ok(now) = std::fs::read(src.join(path)) else {
            continue;
        };
        assert!(
            old.get(path) == Some(&now) || new.get(path) == Some(&now),
            "{} is torn: neither its old nor its new bytes",
            path.display()
        );
    }
    // Started again, the task is failed, and a new restore cleans up and completes.
    d.restart().unwrap();
    let t = crate::engine::finished(&d, &task).await;
    assert!(
        ["failed", "done"].contains(&t["status"].as_str().unwrap()),
        "{t}"
    );
    let r = restore(&d, &a, &w.target).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    assert_eq!(contents(&src), old);
}
