//! The conformance suite for plugins of the Plugin Calling Protocol: any target plugin and any
//! store plugin, built-in (through `bulwark plugin NAME`) or external (an executable), is run
//! through the same checks. Each check fails with a message that names the plugin, the call and
//! what was expected.
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use bulwark_testkit::conformance::{Plugin, store_suite};
//! let fs = Plugin::builtin("target/debug/bulwark".as_ref(), "fs");
//! let dir = tempfile::tempdir()?;
//! store_suite(&fs, &serde_json::json!({"base_dir": dir.path()}).to_string())?;
//! # Ok(()) }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::tree;

/// How to call one plugin.
#[derive(Debug, Clone)]
pub struct Plugin {
    /// Its name, for messages.
    pub name: String,
    program: PathBuf,
    prefix: Vec<String>,
}

/// What one call did.
#[derive(Debug)]
pub struct Output {
    /// The exit code (-1 for a signal).
    pub code: i32,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: String,
}

impl Plugin {
    /// A built-in plugin, called as `BULWARK plugin NAME ...`.
    pub fn builtin(bulwark: &Path, name: &str) -> Plugin {
        Plugin {
            name: name.into(),
            program: bulwark.to_path_buf(),
            prefix: vec!["plugin".into(), name.into()],
        }
    }

    /// An external plugin: an executable.
    pub fn external(path: &Path) -> Plugin {
        Plugin {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            program: path.to_path_buf(),
            prefix: Vec::new(),
        }
    }

    /// Calls `ACTION [--endpoint E] [--key K]` with `stdin` as input.
    pub fn call(
        &self,
        action: &str,
        endpoint: Option<&str>,
        key: Option<&str>,
        stdin: &[u8],
    ) -> Result<Output> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.prefix).arg(action);
        if let Some(e) = endpoint {
            cmd.arg("--endpoint").arg(e);
        }
        if let Some(k) = key {
            cmd.arg("--key").arg(k);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A script written a moment ago may be "busy" (ETXTBSY) while another test's child,
        // forked meanwhile, still holds it open: try again briefly.
        let mut tries = 0;
        let mut child = loop {
            match cmd.spawn() {
                Err(e) if e.raw_os_error() == Some(26) && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => break other.with_context(|| format!("starting {}", self.name))?,
            }
        };
        let mut input = child.stdin.take().context("no stdin")?;
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output()?;
        let _ = writer.join();
        Ok(Output {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn expect_exit(
        &self,
        action: &str,
        endpoint: Option<&str>,
        key: Option<&str>,
        code: i32,
    ) -> Result<()> {
        let out = self.call(action, endpoint, key, b"")?;
        ensure!(
            out.code == code,
            "{} {action} --endpoint {endpoint:?} --key {key:?}: expected exit {code}, got {} (stderr: {})",
            self.name,
            out.code,
            out.stderr.trim()
        );
        Ok(())
    }

    /// The `info` document, checked.
    pub fn info(&self) -> Result<Value> {
        let out = self.call("info", None, None, b"")?;
        ensure!(out.code == 0, "{} info exited {}", self.name, out.code);
        let info: Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("{} info printed no JSON", self.name))?;
        for key in ["name", "author", "version"] {
            ensure!(info[key].is_string(), "{} info has no '{key}'", self.name);
        }
        for f in ["target", "store"] {
            let v = &info["features"][f];
            ensure!(
                v == "yes" || v == "no",
                "{} info: features.{f} must be \"yes\" or \"no\", not {v}",
                self.name
            );
        }
        Ok(info)
    }
}

/// The checks every target plugin passes: a backup of a tree restores to the same tree, and
/// bad calls exit with the protocol's codes. `endpoint_for(dir)` is an endpoint that backs up
/// or restores `dir`.
pub fn target_suite(p: &Plugin, endpoint_for: &dyn Fn(&Path) -> String) -> Result<()> {
    let info = p.info()?;
    ensure!(
        info["features"]["target"] == "yes",
        "{} is not a target",
        p.name
    );
    let work = tempfile::tempdir()?;
    let src = work.path().join("source");
    std::fs::create_dir(&src)?;
    tree::tricky(&src, 3_000_000)?;
    let backup = p.call("backup", Some(&endpoint_for(&src)), None, b"")?;
    ensure!(
        backup.code == 0,
        "{} backup exited {}: {}",
        p.name,
        backup.code,
        backup.stderr
    );
    ensure!(!backup.stdout.is_empty(), "{} backup wrote nothing", p.name);
    let dst = work.path().join("restored");
    let restore = p.call("restore", Some(&endpoint_for(&dst)), None, &backup.stdout)?;
    ensure!(
        restore.code == 0,
        "{} restore exited {}: {}",
        p.name,
        restore.code,
        restore.stderr
    );
    tree::assert_same_tree(&src, &dst).with_context(|| format!("{} round trip", p.name))?;

    p.expect_exit("backup", Some("[]"), None, 10)?;
    p.expect_exit("backup", Some("not json"), None, 10)?;
    p.expect_exit("backup", Some("{}"), None, 12)?;
    p.expect_exit("frobnicate", Some("{}"), None, 1)?;
    if info["features"]["store"] == "no" {
        p.expect_exit("store", Some(&endpoint_for(&src)), None, 2)?;
    }
    Ok(())
}

/// The checks every store plugin passes: store, retrieve, purge, with the protocol's exit codes
/// for bad calls. `endpoint` is a working endpoint.
pub fn store_suite(p: &Plugin, endpoint: &str) -> Result<()> {
    let info = p.info()?;
    ensure!(
        info["features"]["store"] == "yes",
        "{} is not a store",
        p.name
    );
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let stored = p.call("store", Some(endpoint), None, &blob)?;
    ensure!(
        stored.code == 0,
        "{} store exited {}: {}",
        p.name,
        stored.code,
        stored.stderr
    );
    let doc: Value = serde_json::from_slice(&stored.stdout).with_context(|| {
        format!(
            "{} store must print one JSON object, printed {:?}",
            p.name,
            String::from_utf8_lossy(&stored.stdout)
        )
    })?;
    let key = doc["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .with_context(|| format!("{} store printed no key: {doc}", p.name))?
        .to_string();
    let second = p.call("store", Some(endpoint), None, b"another")?;
    ensure!(second.code == 0, "{} second store failed", p.name);
    let key2: Value = serde_json::from_slice(&second.stdout)?;
    ensure!(
        key2["key"] != key.as_str(),
        "{} gave two blobs one key",
        p.name
    );

    let back = p.call("retrieve", Some(endpoint), Some(&key), b"")?;
    ensure!(
        back.code == 0,
        "{} retrieve exited {}: {}",
        p.name,
        back.code,
        back.stderr
    );
    ensure!(
        back.stdout == blob,
        "{} retrieve returned other bytes",
        p.name
    );
    p.expect_exit("retrieve", Some(endpoint), None, 11)?;
    p.expect_exit("purge", Some(endpoint), None, 11)?;
    p.expect_exit("store", Some("[]"), None, 10)?;
    p.expect_exit("store", Some("{}"), None, 12)?;
    p.expect_exit("purge", Some(endpoint), Some(&key), 0)?;
    let gone = p.call("retrieve", Some(endpoint), Some(&key), b"")?;
    ensure!(gone.code != 0, "{} retrieved a purged key", p.name);
    ensure!(
        !gone.stderr.trim().is_empty(),
        "{} failed a retrieve without a message",
        p.name
    );
    let again = p.call("purge", Some(endpoint), Some(&key), b"")?;
    ensure!(
        again.code != 0,
        "{} purged a key twice without an error",
        p.name
    );
    if let Some(k2) = key2["key"].as_str() {
        p.expect_exit("purge", Some(endpoint), Some(k2), 0)?;
    }
    if info["features"]["target"] == "no" {
        p.expect_exit("backup", Some(endpoint), None, 2)?;
    }
    if p.call("frobnicate", Some(endpoint), None, b"")?.code == 0 {
        bail!("{} accepted an unknown action", p.name);
    }
    Ok(())
}
