//! `bulwark plugin NAME ACTION`: built-in plugins through the protocol, as real processes.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::bin;

fn plugin(args: &[&str], stdin: &[u8], env_endpoint: Option<&str>) -> (i32, Vec<u8>, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("plugin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ep) = env_endpoint {
        cmd.env("BULWARK_PLUGIN_ENDPOINT", ep);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fs_store_round_trip_through_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let ep = serde_json::json!({"base_dir": dir.path().join("store")}).to_string();
    let data: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();

    let (code, out, err) = plugin(&["fs", "store", "--endpoint", &ep], &data, None);
    assert_eq!(code, 0, "{err}");
    let stored: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let key = stored["key"].as_str().unwrap().to_string();
    assert_eq!(stored["archive_size"], data.len() as u64);

    // The endpoint may come from the environment instead of argv.
    let (code, out, err) = plugin(&["fs", "retrieve", "-k", &key], b"", Some(&ep));
    assert_eq!(code, 0, "{err}");
    assert!(
        out == data,
        "retrieved {} bytes, stored {}",
        out.len(),
        data.len()
    );

    let (code, _, err) = plugin(&["fs", "purge", "-e", &ep, "-k", &key], b"", None);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = plugin(&["fs", "retrieve", "-e", &ep, "-k", &key], b"", None);
    assert_eq!(code, 4);
    assert!(out.is_empty());
    assert!(err.contains(&format!("no archive with key {key}")), "{err}");
}

#[test]
fn protocol_errors_and_exit_codes() {
    let (code, out, _) = plugin(&["fs", "info"], b"", None);
    assert_eq!(code, 0);
    let info: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        info["features"],
        serde_json::json!({"target": "yes", "store": "yes", "endpoint": "env"})
    );
    assert_eq!(info["fields"][0]["name"], "base_dir");

    assert_eq!(plugin(&["fs"], b"", None).0, 1);
    assert_eq!(plugin(&["fs", "frobnicate"], b"", None).0, 1);
    assert_eq!(plugin(&["fs", "backup", "-e", "{}"], b"", None).0, 12);
    assert_eq!(
        plugin(
            &[
                "fs",
                "abandon",
                "-e",
                "{\"base_dir\":\"/nonexistent/bulwark-test\"}"
            ],
            b"",
            None
        )
        .0,
        11
    );
    assert_eq!(plugin(&["fs", "store", "-e", "\"text\""], b"", None).0, 10);
    assert_eq!(
        plugin(
            &[
                "fs",
                "purge",
                "-e",
                "{\"base_dir\":\"/nonexistent/bulwark-test\"}"
            ],
            b"",
            None
        )
        .0,
        11
    );
    assert_eq!(plugin(&["fs", "store", "-e", "{}"], b"x", None).0, 12);
    assert_eq!(
        plugin(
            &["fs", "validate", "-e", "{\"base_dir\":\"here\"}"],
            b"",
            None
        )
        .0,
        13
    );
    let (code, _, err) = plugin(&["nosuch", "info"], b"", None);
    assert_eq!(code, 1);
    assert!(err.contains("no built-in plugin named 'nosuch'"), "{err}");
}

/// The last `bulwark-progress: N` a plugin printed.
fn last_progress(stderr: &str) -> Option<u64> {
    stderr.lines().rev().find_map(bulwark_plugin::progress_line)
}

#[test]
fn the_repository_plugin_reports_tree_progress_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    bulwark_testkit::tree::tricky(&src, 4_000_000).unwrap();
    let files: u64 = bulwark_testkit::tree::entries(&src)
        .unwrap()
        .keys()
        .map(|p| src.join(p))
        .filter(|p| p.symlink_metadata().unwrap().is_file())
        .map(|p| p.metadata().unwrap().len())
        .sum();
    let ep = serde_json::json!({"path": dir.path().join("repo")}).to_string();
    let run = |args: &[&str]| {
        let out = Command::new(bin())
            .args(["plugin", "repository"])
            .args(args)
            .env("BULWARK_PLUGIN_ENDPOINT", &ep)
            .env("BULWARK_REPOSITORY_PASSWORD", "pw")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {err}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    };
    run(&["init"]);
    let (out, err) = run(&["backup-tree", "--dir", src.to_str().unwrap()]);
    // The count ends at the bytes of every file read.
    assert_eq!(last_progress(&err), Some(files), "{err}");
    let key = serde_json::from_str::<serde_json::Value>(&out).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let dst = dir.path().join("dst");
    let (_, err) = run(&[
        "restore-tree",
        "--key",
        &key,
        "--dir",
        dst.to_str().unwrap(),
    ]);
    assert_eq!(last_progress(&err), Some(files), "{err}");
    bulwark_testkit::tree::assert_same_tree(&src, &dst).unwrap();
}
