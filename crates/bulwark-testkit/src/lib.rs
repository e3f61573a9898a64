//! Test harness for Bulwark: [`TestDaemon`] runs the real `bulwark server` binary with a
//! throwaway data directory on a free loopback port, and talks to it over HTTP.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! // In an integration test of the `bulwark` crate: env!("CARGO_BIN_EXE_bulwark").
//! let daemon = bulwark_testkit::TestDaemon::start("target/debug/bulwark".as_ref()).await?;
//! let (status, body) = daemon.get("/v1/status").await?;
//! assert_eq!(status, 200);
//! # Ok(()) }
//! ```
//!
//! Each daemon gets an admin user ([`ADMIN`], with a random password) made through
//! `bulwark user add` before it starts, and every request of [`TestDaemon`] carries that
//! admin's session token. [`TestDaemon::request_as`] sends one with another credential, or
//! none.

pub mod conformance;
pub mod process;
pub mod tree;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// How long a daemon may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin user every test daemon has.
pub const ADMIN: &str = "admin";

/// A random password (32 hex digits).
pub fn random_password() -> String {
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A running `bulwark server` process.
pub struct TestDaemon {
    child: Option<Child>,
    bin: PathBuf,
    dir: PathBuf,
    extra_config: String,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// Where dial-out agents connect (`127.0.0.1:PORT`), when `[agents] listen` is set.
    pub agent_addr: Option<String>,
    client: reqwest::Client,
    /// The admin's password.
    pub admin_password: String,
    /// The admin's session token, sent with every request.
    token: Option<String>,
    // Keeps the temporary directory alive when the daemon made it.
    _temp: Option<tempfile::TempDir>,
}

impl TestDaemon {
    /// Starts a daemon in a new temporary directory.
    pub async fn start(bin: &Path) -> Result<TestDaemon> {
        Self::start_with(bin, "").await
    }

    /// Starts a daemon in a new temporary directory with extra TOML configuration appended.
    pub async fn start_with(bin: &Path, extra_config: &str) -> Result<TestDaemon> {
        let temp = tempfile::tempdir()?;
        let mut d = Self::start_in(bin, temp.path(), extra_config).await?;
        d._temp = Some(temp);
        Ok(d)
    }

    /// Starts a daemon whose files live in `dir` (the data directory is `dir/data`), so a test
    /// can stop it and start another on the same data.
    pub async fn start_in(bin: &Path, dir: &Path, extra_config: &str) -> Result<TestDaemon> {
        let mut d = TestDaemon {
            child: None,
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            extra_config: extra_config.to_string(),
            base_url: String::new(),
            agent_addr: None,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            admin_password: random_password(),
            token: None,
            _temp: None,
        };
        d.write_config()?;
        match d.add_user(ADMIN, "admin", &[], &d.admin_password.clone()) {
            Ok(()) => {}
            // A data directory of an earlier daemon keeps its admin; log in with its password.
            Err(e) if e.to_string().contains("already exists") => {
                let saved = std::fs::read_to_string(dir.join("admin.password"))?;
                d.admin_password = saved.trim().to_string();
            }
            Err(e) => return Err(e),
        }
        std::fs::write(dir.join("admin.password"), &d.admin_password)?;
        d.spawn()?;
        let pw = d.admin_password.clone();
        d.token = Some(d.login(ADMIN, &pw).await?);
        Ok(d)
    }

    /// Adds a user with `bulwark user add` on the daemon's data directory.
    pub fn add_user(&self, name: &str, role: &str, targets: &[&str], password: &str) -> Result<()> {
        use std::io::Write;
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--config",
        ])
        .arg(self.config_path());
        for t in targets {
            cmd.args(["--target", t]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no stdin"))?
            .write_all(format!("{password}\n").as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "bulwark user add {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, user: &str, password: &str) -> Result<String> {
        let (status, v) = self
            .request_as(
                None,
                "POST",
                "/v1/auth/login",
                Some(&serde_json::json!({"username": user, "password": password})),
            )
            .await?;
        if status != 200 {
            bail!("login as {user} answered {status}: {v}");
        }
        v["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no token in {v}"))
    }

    /// The admin's session token.
    pub fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }

    /// Sends a request with `token` as its bearer credential (or none), and a JSON body if
    /// given; returns the status and the body (JSON, or a string).
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// The status of `GET path` with `token` (or no credential).
    pub async fn status_as(&self, token: Option<&str>, path: &str) -> Result<u16> {
        Ok(self.request_as(token, "GET", path, None).await?.0)
    }

    /// A request builder for `path` without credentials, for tests of headers and cookies.
    pub fn bare(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// The daemon's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The configuration file the daemon was started with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("bulwark.toml")
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    fn write_config(&self) -> Result<()> {
        let config = format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\n{}\n",
            self.data_dir().display(),
            self.extra_config
        );
        std::fs::write(self.config_path(), config)?;
        Ok(())
    }

    fn spawn(&mut self) -> Result<()> {
        self.write_config()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.log"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("server")
            .arg("--config")
            .arg(self.config_path())
            .env("BULWARK_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("BULWARK_") && k != "BULWARK_LOG" {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.bin.display()))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Keep draining so the daemon never blocks on a full pipe.
            for _ in lines {}
        });
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!("daemon did not start ({status}); its log:\n{}", self.log());
            }
        };
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or_else(|| anyhow!("unexpected first line from the daemon: {first}"))?;
        self.base_url = url.trim_end_matches("/v1").to_string();
        self.agent_addr = first
            .split("agents dial in on ")
            .nth(1)
            .map(|a| a.trim().to_string());
        self.child = Some(child);
        Ok(())
    }

    /// Stops the daemon with SIGTERM and waits for it; returns its exit status.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| anyhow!("daemon is not running"))?;
        process::signal_process(child.id(), nix::sys::signal::Signal::SIGTERM)
            .map_err(|e| anyhow!("cannot signal the daemon: {e:?}"))?;
        for _ in 0..200 {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        bail!("daemon did not stop within 10 s of SIGTERM");
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the daemon again on the same data directory (and a new port).
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.stop()?;
        }
        self.spawn()
    }

    /// `GET path`: status and JSON body (`Value::String` when the body is not JSON).
    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        self.send(self.client.get(self.url(path))).await
    }

    /// `DELETE path`
    pub async fn delete(&self, path: &str) -> Result<(u16, Value)> {
        self.send(self.client.delete(self.url(path))).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        self.send(self.client.put(self.url(path)).json(body)).await
    }

    /// Any method, with a raw body (for malformed JSON and the like).
    pub async fn raw(&self, method: &str, path: &str, body: &str) -> Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        self.send(
            self.client
                .request(method, self.url(path))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// `GET path` as text (for plain-text answers such as task logs).
    pub async fn text(&self, path: &str) -> Result<(u16, String)> {
        let r = self.authed(self.client.get(self.url(path))).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.text().await?))
    }

    /// `POST path` with a JSON body; fails unless the answer is 200, and returns the body.
    pub async fn post_ok(&self, path: &str, body: &Value) -> Result<Value> {
        let (status, v) = self.post(path, body).await?;
        if status != 200 {
            bail!("POST {path} answered {status}: {v}");
        }
        Ok(v)
    }

    /// `GET path`; fails unless the answer is 200.
    pub async fn get_ok(&self, path: &str) -> Result<Value> {
        let (status, v) = self.get(path).await?;
        if status != 200 {
            bail!("GET {path} answered {status}: {v}");
        }
        Ok(v)
    }

    /// Creates a record through `POST path` and returns its uuid.
    pub async fn create(&self, path: &str, body: &Value) -> Result<String> {
        let v = self.post_ok(path, body).await?;
        v["uuid"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no uuid in {v}"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let res = self.authed(req).send().await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, body))
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
