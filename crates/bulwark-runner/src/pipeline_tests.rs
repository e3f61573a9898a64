//! The pipelines' tests: real child processes on both ends of the pipe.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A plugin written as a shell script; `$1` is the action.
fn script(dir: &Path, name: &str, body: &str) -> PluginCommand {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\nD={}\n{body}\n", dir.display())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    PluginCommand::External {
        name: name.into(),
        path,
        endpoint_env: false,
    }
}

/// A store that commits only after reading the whole input, like a real one.
const STORE: &str = r#"case $1 in
  store) cat > $D/incoming && mv $D/incoming $D/blob && echo '{"key":"blob","archive_size":1}' ;;
  retrieve) cat $D/$5 ;;
esac"#;

struct Run {
    result: Result<Backup, PipelineError>,
    log: Vec<String>,
}

async fn run_backup(dir: &Path, target: &str, store: &str, timeout_ms: u64) -> Run {
    run_backup_with(dir, target, store, timeout_ms, CancellationToken::new()).await
}

async fn run_backup_with(
    dir: &Path,
    target: &str,
    store: &str,
    timeout_ms: u64,
    cancel: CancellationToken,
) -> Run {
    let t = script(dir, "t", target);
    let s = script(dir, "s", store);
    let secrets = vec!["hunter2".to_string()];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let limits = Limits {
        timeout: Duration::from_millis(timeout_ms),
        cancel,
        progress: Arc::default(),
        bandwidth: None,
    };
    let side = |p| Side {
        plugin: p,
        endpoint: r#"{"password":"hunter2"}"#,
        secrets: &secrets,
        env: &[],
        key: None,
    };
    let result = backup(side(&t), side(&s), "up-1", &limits, &tx).await;
    drop(tx);
    let mut log = Vec::new();
    while let Some(l) = rx.recv().await {
        log.push(l);
    }
    Run { result, log }
}

fn failure(r: &Run) -> String {
    r.result.as_ref().unwrap_err().to_string()
}

#[tokio::test]
async fn backup_and_restore_stream_through() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = run_backup(
        d,
        "echo \"target says $BULWARK_UPLOAD_ID hunter2\" >&2; head -c 30000000 /dev/urandom",
        &format!("echo \"upload $BULWARK_UPLOAD_ID\" >&2\n{STORE}"),
        60_000,
    )
    .await;
    let b = r.result.unwrap();
    assert_eq!(b.bytes, 30_000_000);
    assert_eq!(b.stored.key, "blob");
    assert!(
        r.log
            .contains(&"target t: target says  <redacted>".to_string()),
        "{:?}",
        r.log
    );
    assert!(
        r.log.contains(&"store s: upload up-1".to_string()),
        "{:?}",
        r.log
    );

    let t = script(d, "rt", "cat > $D/restored");
    let s = script(d, "rs", STORE);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let limits = Limits {
        timeout: Duration::from_secs(60),
        cancel: CancellationToken::new(),
        progress: Arc::default(),
        bandwidth: None,
    };
    let side = |p| Side {
        plugin: p,
        endpoint: "{}",
        secrets: &[],
        env: &[],
        key: None,
    };
    let n = restore(side(&s), "blob", side(&t), &limits, &tx)
        .await
        .unwrap();
    assert_eq!(n, 30_000_000);
    // The caller's progress counter saw every byte.
    assert_eq!(limits.progress.load(Ordering::Relaxed), 30_000_000);
    assert!(std::fs::read(d.join("restored")).unwrap() == std::fs::read(d.join("blob")).unwrap());
}

#[tokio::test]
async fn a_target_failing_midway_never_lets_the_store_commit() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_backup(
        dir.path(),
        "head -c 5000000 /dev/zero; echo 'disk on fire' >&2; exit 3",
        STORE,
        60_000,
    )
    .await;
    let msg = failure(&r);
    assert!(
        msg.starts_with(
            "the target plugin t failed: exit 3 (an external tool failed): disk on fire"
        ),
        "{msg}"
    );
    assert!(!dir.path().join("blob").exists());
}

#[tokio::test]
async fn a_failing_store_is_blamed() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_backup(
        dir.path(),
        "head -c 50000000 /dev/zero",
        "head -c 1000 > /dev/null; echo 'bucket is gone' >&2; exit 4",
        60_000,
    )
    .await;
    let msg = failure(&r);
    assert!(
        msg.starts_with("the store plugin s failed: exit 4 (plugin failure): bucket is gone"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_store_printing_junk_fails() {
    let dir = tempfile::tempdir().unwrap();
    for junk in [
        "echo 'stored it!'",
        "echo '{\"nokey\":1}'",
        "true",
        "echo '{\"key\":\"a\"}{\"key\":\"b\"}'",
    ] {
        let r = run_backup(
            dir.path(),
            "echo data",
            &format!("cat > /dev/null; {junk}"),
            60_000,
        )
        .await;
        let msg = failure(&r);
        assert!(
            msg.starts_with("the store plugin s failed: its output is not the key document"),
            "{junk}: {msg}"
        );
    }
}

#[tokio::test]
async fn an_empty_backup_fails() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_backup(dir.path(), "exit 0", STORE, 60_000).await;
    let msg = failure(&r);
    assert!(
        msg.contains("target plugin t failed: it exited 0 but wrote nothing"),
        "{msg}"
    );
    assert!(!dir.path().join("blob").exists());
}

#[tokio::test]
async fn a_hanging_target_times_out_and_a_cancel_kills() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_backup(dir.path(), "echo x; sleep 300", STORE, 1000).await;
    assert_eq!(
        r.result.unwrap_err().failure,
        Failure::TimedOut(Duration::from_secs(1))
    );
    assert!(!dir.path().join("blob").exists());

    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let r = run_backup_with(dir.path(), "echo x; sleep 300", STORE, 60_000, cancel).await;
    assert_eq!(r.result.unwrap_err().failure, Failure::Canceled);
}

#[tokio::test]
async fn a_canceled_target_is_asked_to_stop_and_may_clean_up_first() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        c.cancel();
    });
    // It unlocks on SIGTERM, after a moment's work, and its store never commits.
    let target = "trap 'sleep 1; echo bye > $D/unlocked; exit 3' TERM; echo x; sleep 300 & wait";
    let began = std::time::Instant::now();
    let r = run_backup_with(dir.path(), target, STORE, 60_000, cancel).await;
    assert_eq!(r.result.unwrap_err().failure, Failure::Canceled);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("unlocked")).unwrap(),
        "bye\n"
    );
    assert!(!dir.path().join("blob").exists());
    assert!(began.elapsed() < crate::exec::STOP_GRACE);
}

#[tokio::test]
async fn a_missing_plugin_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let t = PluginCommand::External {
        name: "ghost".into(),
        path: dir.path().join("ghost"),
        endpoint_env: false,
    };
    let s = script(dir.path(), "s", STORE);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let limits = Limits {
        timeout: Duration::from_secs(5),
        cancel: CancellationToken::new(),
        progress: Arc::default(),
        bandwidth: None,
    };
    let side = |p| Side {
        plugin: p,
        endpoint: "{}",
        secrets: &[],
        env: &[],
        key: None,
    };
    let err = backup(side(&t), side(&s), "u", &limits, &tx)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the target plugin ghost failed: it could not be started"),
        "{err}"
    );
}
