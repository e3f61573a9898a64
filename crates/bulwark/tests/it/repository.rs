//! Repository stores end to end: backups into restic-format repositories on a local directory
//! and on a real S3-compatible server (s3s-fs), dedup, purge, prune, check, faults, a stock
//! restic reading what Bulwark wrote, and the sealed streams of plugin stores.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use bulwark_testkit::tree;
use serde_json::{Value, json};

use crate::common::bin;
use crate::engine::{Wired, archives_of, engine_daemon, finished, run_job, wire};

/// The store's secret, through the disaster-recovery command.
pub(crate) fn store_secret(d: &TestDaemon, store: &str) -> String {
    let out = Command::new(bin())
        .args(["store-secret", store, "--config"])
        .arg(d.config_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A tool the tests need: present, or (outside CI) a loud skip.
pub(crate) fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "{name} is not installed; .ci/run installs it"
        );
        eprintln!("SKIPPED: {name} is not installed (apt-get install {name})");
    }
    found
}

pub(crate) fn restic(repo: &str, password: &str, args: &[&str]) -> std::process::Output {
    Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(args)
        // No cache: restic's default lives in the user's home, outside the test's directories.
        .arg("--no-cache")
        .env("RESTIC_PASSWORD", password)
        .output()
        .unwrap()
}

pub(crate) async fn post_task(d: &TestDaemon, path: &str, body: &Value) -> Value {
    let t = d.post_ok(path, body).await.unwrap()["task_uuid"]
        .as_str()
        .unwrap()
        .to_string();
    finished(d, &t).await
}

/// A built-in fs target at `dir`.
pub(crate) async fn fs_target(d: &TestDaemon, name: &str, dir: &Path) -> String {
    d.create(
        "/v1/targets",
        &json!({"name": name, "plugin": "fs", "endpoint": {"base_dir": dir}, "agent": "127.0.0.1:1"}),
    )
    .await
    .unwrap()
}

/// Restores `archive` into `target` and waits for the task's end.
pub(crate) async fn restore(d: &TestDaemon, archive: &Value, target: &str) -> Value {
    post_task(
        d,
        &format!("/v1/archive/{}/restore", archive["uuid"].as_str().unwrap()),
        &json!({"target": target}),
    )
    .await
}

pub(crate) async fn backup(d: &TestDaemon, w: &Wired) -> (Value, Value) {
    let task = finished(d, &run_job(d, &w.job).await).await;
    assert_eq!(task["status"], "done", "{}", task["log"]);
    let archive = archives_of(d, &w.target)
        .await
        .into_iter()
        .find(|a| a["uuid"] == task["archive_uuid"])
        .unwrap_or_else(|| panic!("no archive for {task}"));
    (task, archive)
}

fn dir_size(dir: &Path) -> u64 {
    walk(dir)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What a contiguous change costs beyond its own bytes, at most: the chunks on either side of it
/// that it cuts (the chunker's chunks average 1 MiB and are at most 8 MiB), and new tree blobs.
const STRADDLE: i64 = 2 * (8 << 20) + (1 << 20);

/// Overwrites `len` bytes of a file at `at` with other bytes, random so that compression
/// cannot hide how much changed.
pub(crate) fn scribble(file: &Path, at: u64, len: usize) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&bytes).unwrap();
}

#[tokio::test]
async fn a_local_repository_through_backup_restore_purge_prune_and_check() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    // Large against the chunker's 1 MiB average chunk, so that 1% is many chunks' worth.
    tree::tricky(&src, 96 << 20).unwrap();
    let repo_dir = work.path().join("repo");
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("repository", json!({"path": repo_dir})),
        3600,
    )
    .await;
    // The store was created with its repository, and its password is nowhere in the API.
    assert!(repo_dir.join("config").is_file());
    let password = store_secret(&d, &w.store);
    assert_eq!(password.len(), 64);
    let store = d.get_ok(&format!("/v1/store/{}", w.store)).await.unwrap();
    assert_eq!(store["encrypted"], true);
    assert_eq!(store["prune_schedule"], "daily at 3:00");
    assert!(!store.to_string().contains(&password));

    // First backup: a tree snapshot holding everything, with one file only it will hold.
    let only_first = work.path().join("src/only-in-the-first.bin");
    let mut random = vec![0u8; 24 << 20];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").unwrap(),
        &mut random,
    )
    .unwrap();
    std::fs::write(&only_first, &random).unwrap();
    let (task1, a1) = backup(&d, &w).await;
    std::fs::remove_file(&only_first).unwrap();
    assert_eq!(a1["format"], "tree");
    assert_eq!(a1["store_key"].as_str().unwrap().len(), 64);
    let size = a1["size"].as_i64().unwrap();
    let added1 = a1["added"].as_i64().unwrap();
    assert!(size > 96 << 20, "logical size {size}");
    assert!(added1 > 96 << 20, "the random file cannot shrink: {added1}");
    assert!(
        task1["log"]
            .as_str()
            .unwrap()
            .contains("no earlier snapshot")
    );

    // Unchanged (but for a file removed): almost nothing added, and no file read again.
    let (task2, a2) = backup(&d, &w).await;
    let added2 = a2["added"].as_i64().unwrap();
    assert!(
        added2 < 64 * 1024,
        "unchanged re-backup added {added2} bytes"
    );
    let log2 = task2["log"].as_str().unwrap();
    assert!(log2.contains("unchanged (not read again)"), "{log2}");
    assert!(
        log2.contains(a1["store_key"].as_str().unwrap()),
        "parent named: {log2}"
    );

    // 1% of the data changed: the changed bytes are added, and no more than the chunks the
    // change straddles besides (the bench measures the realistic "next day" of the data set).
    let change = size / 100;
    scribble(&src.join("big.bin"), 40 << 20, change as usize);
    let (_, a3) = backup(&d, &w).await;
    let added3 = a3["added"].as_i64().unwrap();
    assert!(
        added3 > change && added3 < change + STRADDLE,
        "a 1% change ({change} bytes) added {added3} of {size}"
    );

    // Restore the first archive into a new place: the tree as it was then.
    let dst = work.path().join("restored");
    let t2 = fs_target(&d, "elsewhere", &dst).await;
    let restored = restore(&d, &a3, &t2).await;
    assert_eq!(restored["status"], "done", "{}", restored["log"]);
    tree::assert_same_tree(&src, &dst).unwrap();

    // A stock restic lists the three snapshots and restores one byte for byte.
    if tool("restic") {
        let repo = repo_dir.to_str().unwrap();
        let out = restic(repo, &password, &["snapshots", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let snaps: Value = serde_json::from_slice(&out.stdout).unwrap();
        let ids: Vec<&str> = snaps
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        for a in [&a1, &a2, &a3] {
            assert!(ids.contains(&a["store_key"].as_str().unwrap()), "{ids:?}");
        }
        let tags = snaps[0]["tags"].to_string();
        assert!(tags.contains(&format!("job={}", w.job)), "{tags}");
        assert!(tags.contains(&format!("target={}", w.target)), "{tags}");
        let by_restic = work.path().join("by-restic");
        let out = restic(
            repo,
            &password,
            &[
                "restore",
                a3["store_key"].as_str().unwrap(),
                "--target",
                by_restic.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let inner = by_restic.join(src.strip_prefix("/").unwrap());
        tree::assert_same_tree(&src, &inner).unwrap();
    }

    // Purge the first archive: its snapshot is forgotten. Prune then removes what only it
    // held, and a check finds the repository sound.
    let (code, _) = d
        .delete(&format!("/v1/archive/{}", a1["uuid"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let purge = d
        .get_ok("/v1/tasks?limit=1000")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "purge")
        .cloned()
        .unwrap();
    let purge = finished(&d, purge["uuid"].as_str().unwrap()).await;
    assert_eq!(purge["status"], "done", "{}", purge["log"]);
    let snapshots = walk(&repo_dir.join("snapshots")).len();
    assert_eq!(snapshots, 2, "one snapshot forgotten");
    let before = dir_size(&repo_dir.join("data"));
    let prune = post_task(&d, &format!("/v1/store/{}/prune", w.store), &json!({})).await;
    assert_eq!(prune["status"], "done", "{}", prune["log"]);
    let after = dir_size(&repo_dir.join("data"));
    assert!(after < before, "prune reclaimed space: {before} -> {after}");
    assert!(
        prune["log"]
            .as_str()
            .unwrap()
            .contains("that no archive used were removed")
    );
    let check = post_task(
        &d,
        &format!("/v1/store/{}/check", w.store),
        &json!({"read_data": "all"}),
    )
    .await;
    assert_eq!(check["status"], "done", "{}", check["log"]);
    let store = d.get_ok(&format!("/v1/store/{}", w.store)).await.unwrap();
    assert_eq!(store["last_check"]["status"], "done");
    assert_eq!(store["last_prune"]["status"], "done");
    // The remaining archives still restore after the prune.
    std::fs::remove_dir_all(&dst).unwrap();
    let again = restore(&d, &a3, &t2).await;
    assert_eq!(again["status"], "done", "{}", again["log"]);
    tree::assert_same_tree(&src, &dst).unwrap();

    // The password never reached a task log.
    for t in d
        .get_ok("/v1/tasks?limit=1000")
        .await
        .unwrap()
        .as_array()
        .unwrap()
    {
        let full = d
            .get_ok(&format!("/v1/task/{}", t["uuid"].as_str().unwrap()))
            .await
            .unwrap();
        assert!(!full.to_string().contains(&password));
    }
    assert!(!d.log().contains(&password));
}

#[tokio::test]
async fn streams_deduplicate_and_a_damaged_pack_is_caught() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree::tricky(&src, 96 << 20).unwrap();
    let repo_dir = work.path().join("repo");
    let d = engine_daemon("").await;
    // An exclude pattern makes the fs target stream a tar: the stream path of the store.
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src, "exclude": ["*.tmp"]})),
        ("repository", json!({"path": repo_dir})),
        3600,
    )
    .await;
    let (_, a1) = backup(&d, &w).await;
    assert_eq!(a1["format"], "stream");
    let (_, a2) = backup(&d, &w).await;
    let added2 = a2["added"].as_i64().unwrap();
    assert!(added2 < 64 * 1024, "the same stream again added {added2}");
    let size = a2["size"].as_i64().unwrap();
    let change = size / 100;
    scribble(&src.join("big.bin"), 30 << 20, change as usize);
    let (_, a3) = backup(&d, &w).await;
    let added3 = a3["added"].as_i64().unwrap();
    assert!(
        added3 > change && added3 < change + STRADDLE,
        "a 1% change ({change} bytes) of the stream added {added3} of {size}"
    );

    // The stream is one file named after the target; restic dumps it byte for byte.
    let password = store_secret(&d, &w.store);
    let dst = work.path().join("out");
    let t2 = fs_target(&d, "out", &dst).await;
    let r = restore(&d, &a3, &t2).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    tree::assert_same_tree(&src, &dst).unwrap();
    if tool("restic") {
        let target_name = d.get_ok(&format!("/v1/target/{}", w.target)).await.unwrap()["name"]
            .as_str()
            .unwrap()
            .to_string();
        let out = restic(
            repo_dir.to_str().unwrap(),
            &password,
            &[
                "dump",
                a3["store_key"].as_str().unwrap(),
                &format!("/{target_name}"),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let untar = work.path().join("untar");
        std::fs::create_dir_all(&untar).unwrap();
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(&untar)
            .arg("-xf")
            .arg("-")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        tar.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        assert!(tar.wait().unwrap().success());
        tree::assert_same_tree(&src, &untar).unwrap();
    }

    // Damage every pack file a little: check reports it, and a restore fails rather than
    // hand back wrong bytes.
    for pack in walk(&repo_dir.join("data")) {
        let len = std::fs::metadata(&pack).unwrap().len();
        let mut perms = std::fs::metadata(&pack).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&pack, perms).unwrap();
        scribble(&pack, len / 2, 16);
    }
    let check = post_task(
        &d,
        &format!("/v1/store/{}/check", w.store),
        &json!({"read_data": "100%"}),
    )
    .await;
    assert_eq!(check["status"], "failed", "{}", check["log"]);
    let log = check["log"].as_str().unwrap();
    assert!(log.contains("error"), "{log}");
    std::fs::remove_dir_all(&dst).unwrap();
    let r = restore(&d, &a3, &t2).await;
    assert_eq!(r["status"], "failed", "{}", r["log"]);
    assert!(archives_of(&d, &w.target).await.len() == 3);
}

/// A throwaway s3s-fs server on a free port, keeping its objects in `root`.
pub(crate) struct S3Server {
    child: Child,
    pub(crate) port: u16,
}

const ACCESS: &str = "bulwark-test-access";
pub(crate) const SECRET: &str = "bulwark-test-secret-key-0123456789";

pub(crate) fn s3s_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BULWARK_S3S_FS") {
        return Some(PathBuf::from(p));
    }
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/var/cache/bulwark/tools/bin"])
    {
        let p = Path::new(dir).join("s3s-fs");
        if p.is_file() {
            return Some(p);
        }
    }
    assert!(
        std::env::var("CI").is_err(),
        "s3s-fs is not installed; .ci/run installs it"
    );
    eprintln!("SKIPPED: s3s-fs is not installed (cargo install s3s-fs --features binary)");
    None
}

impl S3Server {
    pub(crate) fn start(bin: &Path, root: &Path, port: Option<u16>) -> S3Server {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS, "--secret-key", SECRET])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server { child, port }
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn endpoint(&self, prefix: &str, secret: &str) -> Value {
        json!({"backend": "s3", "bucket": "backups", "endpoint": format!("http://127.0.0.1:{}", self.port),
               "region": "us-east-1", "access_key_id": ACCESS, "secret_access_key": secret, "prefix": prefix})
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn an_s3_repository_with_wrong_keys_and_a_server_that_dies_mid_backup() {
    let Some(s3s) = s3s_binary() else { return };
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("s3");
    std::fs::create_dir_all(root.join("backups")).unwrap();
    let mut s3 = S3Server::start(&s3s, &root, None);
    let d = engine_daemon("").await;

    // Wrong credentials: the store is refused with a clear error, and nothing is created.
    let (code, body) = d
        .post(
            "/v1/stores",
            &json!({"name": "bad", "plugin": "repository", "endpoint": s3.endpoint("r", "wrong-secret")}),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("the repository could not be created"), "{msg}");
    assert!(!msg.contains("wrong-secret"), "{msg}");
    assert!(
        d.get_ok("/v1/stores")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty()
    );
    // validate says the same without creating anything.
    let v = d
        .post_ok(
            "/v1/plugin/repository/validate",
            &json!({"endpoint": s3.endpoint("r", "wrong-secret")}),
        )
        .await
        .unwrap();
    assert_eq!(v["valid"], false, "{v}");

    // The whole cycle on S3.
    let src = work.path().join("src");
    tree::tricky(&src, 3 << 20).unwrap();
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("repository", s3.endpoint("team/db1", SECRET)),
        3600,
    )
    .await;
    assert!(root.join("backups/team/db1/config").is_file());
    let (_, a1) = backup(&d, &w).await;
    let (_, a2) = backup(&d, &w).await;
    assert!(a2["added"].as_i64().unwrap() < 64 * 1024);
    let dst = work.path().join("restored");
    let t2 = fs_target(&d, "there", &dst).await;
    let r = restore(&d, &a1, &t2).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    tree::assert_same_tree(&src, &dst).unwrap();
    d.delete(&format!("/v1/archive/{}", a1["uuid"].as_str().unwrap()))
        .await
        .unwrap();
    let prune = post_task(&d, &format!("/v1/store/{}/prune", w.store), &json!({})).await;
    assert_eq!(prune["status"], "done", "{}", prune["log"]);
    let check = post_task(&d, &format!("/v1/store/{}/check", w.store), &json!({})).await;
    assert_eq!(check["status"], "done", "{}", check["log"]);

    // The server dies in the middle of a backup: the task fails, no archive appears, and
    // once the server is back the repository checks clean and the next backup works.
    let slow = wire(
        &d,
        ("shtarget", json!({"base_dir": src, "mode": "slowrand"})),
        ("repository", s3.endpoint("team/slow", SECRET)),
        3600,
    )
    .await;
    let task = run_job(&d, &slow.job).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let port = s3.port;
    s3.stop();
    let t = finished(&d, &task).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(archives_of(&d, &slow.target).await.is_empty());
    let s3 = S3Server::start(&s3s, &root, Some(port));
    let check = post_task(&d, &format!("/v1/store/{}/check", slow.store), &json!({})).await;
    assert_eq!(check["status"], "done", "{}", check["log"]);
    let quick = d
        .put(
            &format!("/v1/target/{}", slow.target),
            &json!({"name": "slow again", "summary": "", "plugin": "shtarget",
                    "endpoint": {"base_dir": src}, "agent": "127.0.0.1:5444"}),
        )
        .await
        .unwrap();
    assert_eq!(quick.0, 200, "{}", quick.1);
    let (_, a) = backup(&d, &slow).await;
    assert_eq!(a["format"], "stream");

    // A stock restic reads and restores what Bulwark wrote into S3: trees and streams.
    if tool("restic") {
        let s3_restic = |prefix: &str, store: &str, args: &[&str]| {
            let out = Command::new("restic")
                .arg("-r")
                .arg(format!("s3:http://127.0.0.1:{port}/backups/{prefix}"))
                .args(args)
                .arg("--no-cache")
                .env("RESTIC_PASSWORD", store_secret(&d, store))
                .env("AWS_ACCESS_KEY_ID", ACCESS)
                .env("AWS_SECRET_ACCESS_KEY", SECRET)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "restic {args:?} on {prefix}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        // restic lists `data/` in one recursive listing, which s3s-fs answers empty; so `restic
        // check` reads the very objects Bulwark wrote over S3 where s3s-fs keeps them, a file
        // per key.
        for (prefix, store) in [("team/db1", &w.store), ("team/slow", &slow.store)] {
            let out = Command::new("restic")
                .arg("-r")
                .arg(root.join("backups").join(prefix))
                .args(["check", "--read-data", "--no-cache"])
                .env("RESTIC_PASSWORD", store_secret(&d, store))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "restic check of {prefix}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let by_restic = work.path().join("by-restic");
        let key = a2["store_key"].as_str().unwrap();
        s3_restic(
            "team/db1",
            &w.store,
            &["restore", key, "--target", by_restic.to_str().unwrap()],
        );
        tree::assert_same_tree(&src, &by_restic.join(src.strip_prefix("/").unwrap())).unwrap();
        let snaps: Value = serde_json::from_slice(&s3_restic(
            "team/slow",
            &slow.store,
            &["snapshots", "--json"],
        ))
        .unwrap();
        let stream = snaps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == a["store_key"])
            .unwrap_or_else(|| panic!("{snaps}"));
        let file = stream["paths"][0].as_str().unwrap();
        let dumped = s3_restic(
            "team/slow",
            &slow.store,
            &["dump", a["store_key"].as_str().unwrap(), file],
        );
        assert_eq!(dumped.len() as i64, a["size"].as_i64().unwrap());
    }
    drop(s3);
}

#[tokio::test]
async fn plugin_store_streams_are_sealed_and_open_by_hand() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree::tricky(&src, 1 << 20).unwrap();
    let blobs = work.path().join("blobs");
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": blobs})),
        3600,
    )
    .await;
    let (_, a) = backup(&d, &w).await;
    assert_eq!(a["format"], "sealed");
    let blob = blobs.join(a["store_key"].as_str().unwrap());
    let sealed = std::fs::read(&blob).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1"));
    // Nothing of the plain data shows through.
    let plain = "crème brûlée".as_bytes();
    assert!(!sealed.windows(plain.len()).any(|w| w == plain));
    assert!(!sealed.windows(8).any(|w| w == b"#!/bin/s"));
    if tool("age") && tool("zstd") {
        let key = work.path().join("key.txt");
        std::fs::write(&key, store_secret(&d, &w.store)).unwrap();
        let by_hand = work.path().join("by-hand");
        std::fs::create_dir_all(&by_hand).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "age --decrypt -i '{}' '{}' | zstd -d | tar -C '{}' -xf -",
                key.display(),
                blob.display(),
                by_hand.display()
            ))
            .output();
        let out = out.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tree::assert_same_tree(&src, &by_hand).unwrap();
    }
    // A blob altered in the store fails its restore.
    let mut bytes = sealed.clone();
    let at = bytes.len() - 200;
    bytes[at] ^= 0x40;
    std::fs::write(&blob, &bytes).unwrap();
    let dst = work.path().join("out");
    let t2 = fs_target(&d, "out", &dst).await;
    let r = restore(&d, &a, &t2).await;
    assert_eq!(r["status"], "failed", "{}", r["log"]);
    assert!(
        r["log"].as_str().unwrap().contains("damaged"),
        "{}",
        r["log"]
    );
}

#[tokio::test]
async fn a_prune_waits_for_the_backup_running_into_its_store() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let d = engine_daemon("").await;
    let w = wire(
        &d,
        ("shtarget", json!({"base_dir": src, "mode": "hang"})),
        ("repository", json!({"path": work.path().join("repo")})),
        3600,
    )
    .await;
    let backup = run_job(&d, &w.job).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.get_ok(&format!("/v1/task/{backup}")).await.unwrap()["status"] != "running" {
        assert!(Instant::now() < deadline, "the backup never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let prune = d
        .post_ok(&format!("/v1/store/{}/prune", w.store), &json!({}))
        .await
        .unwrap()["task_uuid"]
        .as_str()
        .unwrap()
        .to_string();
    // A second request while the first is pending is the same task.
    let again = d
        .post_ok(&format!("/v1/store/{}/prune", w.store), &json!({}))
        .await
        .unwrap();
    assert_eq!(again["task_uuid"], prune.as_str());
    // A worker is free, yet the prune waits while the backup into its store runs.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        d.get_ok(&format!("/v1/task/{prune}")).await.unwrap()["status"],
        "pending"
    );
    let (code, _) = d.delete(&format!("/v1/task/{backup}")).await.unwrap();
    assert_eq!(code, 200);
    let p = finished(&d, &prune).await;
    assert_eq!(p["status"], "done", "{}", p["log"]);
    // A plugin store is neither checked nor pruned.
    let fs_store = d
        .create(
            "/v1/stores",
            &json!({"name": "plain", "plugin": "fs", "endpoint": {"base_dir": work.path().join("blobs")}}),
        )
        .await
        .unwrap();
    let (code, body) = d
        .post(&format!("/v1/store/{fs_store}/prune"), &json!({}))
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    let (code, body) = d
        .post(
            &format!("/v1/store/{}/check", w.store),
            &json!({"read_data": "lots"}),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
}
