//! Real notification receivers, started by the tests on free ports: a webhook receiver that
//! checks signatures on its own (Python's hmac, not Bulwark's code) and an SMTP server
//! (aiosmtpd) that keeps what it receives in a maildir.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::servers::{free_port, have, kill_group, server_dir, wait_until};

fn receiver_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/receivers/webhook.py")
}

/// Waits until `what` is true, or fails after `secs`.
pub(crate) async fn within<F: FnMut() -> bool>(what: &str, secs: u64, mut ok: F) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The webhook receiver: `webhook.py PORT FILE` with the signing secret.
pub struct Webhook {
    pub port: u16,
    out: PathBuf,
    child: Option<Child>,
    _dir: TempDir,
}

impl Webhook {
    /// A receiver for `port` (from [`free_port`]) that is not running yet.
    pub fn on(port: u16) -> Webhook {
        let dir = server_dir(None);
        Webhook {
            port,
            out: dir.path().join("received.jsonl"),
            child: None,
            _dir: dir,
        }
    }

    /// Starts it, checking signatures with `secret`.
    pub fn run(&mut self, secret: &str) {
        assert!(have("/usr/bin/python3", "python3"));
        let child = Command::new("/usr/bin/python3")
            .arg(receiver_script())
            .arg(self.port.to_string())
            .arg(&self.out)
            .env("RECEIVER_SECRET", secret)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_until("the webhook receiver", 30, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// What it received: `{"verified", "event", "delivery", "body"}` with `body` parsed.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v["body"] =
                    serde_json::from_str(v["body"].as_str().unwrap()).unwrap_or(Value::Null);
                v
            })
            .collect()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            kill_group(c);
        }
    }
}

/// An SMTP server (aiosmtpd) that keeps each message in a maildir.
pub struct Smtp {
    pub port: u16,
    child: Child,
    dir: TempDir,
}

impl Smtp {
    pub fn start() -> Option<Smtp> {
        if !have("/usr/bin/aiosmtpd", "python3-aiosmtpd") {
            return None;
        }
        let dir = server_dir(None);
        let port = free_port();
        let child = Command::new("/usr/bin/aiosmtpd")
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        wait_until("aiosmtpd", 30, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Some(Smtp { port, child, dir })
    }

    /// The messages received, as text.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("mail/new");
        let mut out: Vec<String> = std::fs::read_dir(new)
            .map(|r| {
                r.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}
