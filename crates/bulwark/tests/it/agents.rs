//! Agents: real `bulwark agent` processes against a real daemon on loopback. Dial-out agents
//! enroll with single-use tokens and keep their identities whatever address they come from;
//! listen-mode agents are recorded at first contact and approved by fingerprint; wrong keys,
//! used, expired and malformed tokens, and revoked agents are refused with a clear error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::cli::cli;
use crate::common::{assert_error, bin};

/// An agent process and its files.
pub(crate) struct Agent {
    dir: PathBuf,
    child: Option<Child>,
    /// Where it listens (listen mode).
    pub(crate) listen: Option<String>,
    /// The network namespace it runs in (`ip netns exec`), when not the test's own.
    pub(crate) netns: Option<String>,
}

impl Agent {
    pub(crate) fn config(&self) -> PathBuf {
        self.dir.join("agent.toml")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    pub(crate) fn fingerprint(&self) -> String {
        let out = Command::new(bin())
            .args(["agent", "--fingerprint", "--config"])
            .arg(self.config())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Authorizes `d`'s core key, checked against its fingerprint, as an operator would.
    pub(crate) async fn authorize(&self, d: &TestDaemon) {
        let key = d.get_ok("/v1/meta/pubkey").await.unwrap();
        let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
        let fp = bulwark_link::PublicKey::from_openssh(&key)
            .unwrap()
            .fingerprint();
        let out = Command::new(bin())
            .args(["agent", "--config"])
            .arg(self.config())
            .args(["--authorize", &key, "--expect", &fp])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again), with a token or none.
    pub(crate) fn start(&mut self, token: Option<&str>) {
        self.start_with(token, false);
    }

    /// Starts it with its token in `BULWARK_AGENT_TOKEN` (out of `ps`).
    pub(crate) fn start_env(&mut self, token: &str) {
        self.start_with(Some(token), true);
    }

    fn start_with(&mut self, token: Option<&str>, env: bool) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))
            .unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(["agent", "--config"]).arg(self.config());
        match (token, env) {
            (Some(t), true) => {
                cmd.env("BULWARK_AGENT_TOKEN", t);
            }
            (Some(t), false) => {
                cmd.args(["--token", t]);
            }
            (None, _) => {}
        }
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = self.dir.join("agent.log");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()).unwrap();
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        self.listen = first
            .split("listening on ")
            .nth(1)
            .map(|a| a.trim().to_string());
        self.child = Some(child);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A new agent's directory and configuration: dialing `core`, or listening on loopback.
pub(crate) fn agent(root: &Path, name: &str, core: Option<&str>) -> Agent {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mode = match core {
        Some(c) => format!("core = \"{c}\""),
        None => "listen = \"127.0.0.1:0\"".into(),
    };
    std::fs::write(
        dir.join("agent.toml"),
        format!(
            "name = \"{name}\"\ndata_dir = \"{}\"\n{mode}\nplugins = [\"fs\", \"sqlite\"]\nkeepalive = 2\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    Agent {
        dir,
        child: None,
        listen: None,
        netns: None,
    }
}

pub(crate) async fn agents(d: &TestDaemon) -> Vec<Value> {
    d.get_ok("/v1/agents")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until `check` holds of the agent list.
pub(crate) async fn until(
    d: &TestDaemon,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = agents(d).await;
        if check(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what}: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the agent's log says `needle`.
async fn said(a: &Agent, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "never said '{needle}': {}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn token(d: &TestDaemon, address: &str, expires_in: Option<i64>) -> String {
    let mut body = json!({ "address": address });
    if let Some(e) = expires_in {
        body["expires_in"] = e.into();
    }
    d.post_ok("/v1/agent-tokens", &body).await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn dial_out_agents_enroll_once_and_keep_their_identities() {
    let root = tempfile::tempdir().unwrap();
    let clock = root.path().join("clock");
    let start = 1_900_000_000_i64;
    std::fs::write(&clock, start.to_string()).unwrap();
    let d = TestDaemon::start_with(
        bin(),
        &format!(
            "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2\n[testing]\nclock_file = \"{}\"",
            clock.display()
        ),
    )
    .await
    .unwrap();
    let core = d
        .agent_addr
        .clone()
        .expect("the daemon says where agents dial in");

    // Three agents on one host (one address, as behind a NAT) with three tokens: one from the
    // CLI, which prints it on stdout.
    let (code, out, err) = cli(&d, &["agent-token", "create", "--address", "db1:5444"]);
    assert_eq!(code, 0, "{err}");
    let first_token = out.trim().to_string();
    assert!(first_token.starts_with("bwa1_"), "{out}");
    assert!(err.contains("Single use"), "{err}");
    let mut fleet = Vec::new();
    for (i, t) in [
        first_token.clone(),
        token(&d, "db2:5444", None).await,
        token(&d, "db3:5444", Some(600)).await,
    ]
    .iter()
    .enumerate()
    {
        let mut a = agent(root.path(), &format!("db{}", i + 1), Some(&core));
        // The last one takes its token from the environment, as the README advises.
        if i == 2 {
            a.start_env(t);
        } else {
            a.start(Some(t));
        }
        fleet.push(a);
    }
    let list = until(&d, "three agents online", |l| {
        l.len() == 3 && l.iter().all(|a| a["online"] == true)
    })
    .await;
    let mut keys: Vec<&str> = list
        .iter()
        .map(|a| a["fingerprint"].as_str().unwrap())
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), 3, "three identities: {list:?}");
    for a in &fleet {
        let row = list
            .iter()
            .find(|r| r["fingerprint"] == a.fingerprint().as_str())
            .unwrap_or_else(|| panic!("{} is listed by its key: {list:?}", a.fingerprint()));
        assert_eq!(row["status"], "approved");
        assert_eq!(row["mode"], "dial");
        assert_eq!(row["version"], env!("CARGO_PKG_VERSION"));
        let plugins: Vec<&str> = row["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(plugins, ["fs", "sqlite"], "only its allow-list: {row}");
        assert!(row["last_seen"].is_string());
        said(a, "enrolled; the core's key").await;
    }
    let db1 = list
        .iter()
        .find(|r| r["address"] == "db1:5444")
        .unwrap()
        .clone();

    // A used token, an expired one, a malformed one, and no token at all: each refused.
    let mut late = agent(root.path(), "late", Some(&core));
    late.start(Some(&first_token));
    said(&late, "was used already").await;
    let expiring = token(&d, "db4:5444", Some(60)).await;
    std::fs::write(&clock, (start + 120).to_string()).unwrap();
    let mut expired = agent(root.path(), "expired", Some(&core));
    expired.start(Some(&expiring));
    said(&expired, "token expired").await;
    let mut garbled = agent(root.path(), "garbled", Some(&core));
    garbled.start(Some("bwa1_nonsense"));
    said(&garbled, "malformed").await;
    // A token that names another core's key: the agent refuses this core before saying a word.
    let other = token(&d, "db5:5444", None).await;
    let forged = format!(
        "{}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &other[..54]
    );
    let mut misled = agent(root.path(), "misled", Some(&core));
    misled.start(Some(&forged));
    said(&misled, "not pinned here").await;
    assert_eq!(agents(&d).await.len(), 3, "nobody else got in");

    // Restarted without its token, an enrolled agent comes back as itself.
    fleet[0].start(None);
    let list = until(&d, "db1 back", |l| {
        l.iter()
            .any(|a| a["address"] == "db1:5444" && a["online"] == true)
    })
    .await;
    assert_eq!(list.len(), 3);
    assert_eq!(
        list.iter().find(|r| r["address"] == "db1:5444").unwrap()["uuid"],
        db1["uuid"]
    );

    // Its key rotated: the core pins the new one, the agent uses it from its next connection.
    let old_fp = fleet[0].fingerprint();
    let (code, out, err) = cli(&d, &["rotate-key", "agent", "db1"]);
    assert_eq!(code, 0, "{out} {err}");
    let new_fp = fleet[0].fingerprint();
    assert_ne!(new_fp, old_fp);
    assert!(out.contains(&new_fp) && out.contains(&old_fp), "{out}");
    fleet[0].start(None);
    let list = until(&d, "db1 back with its new key", |l| {
        l.iter().any(|a| {
            a["address"] == "db1:5444" && a["online"] == true && a["fingerprint"] == new_fp.as_str()
        })
    })
    .await;
    assert_eq!(
        list.iter().find(|r| r["address"] == "db1:5444").unwrap()["uuid"],
        db1["uuid"],
        "the same agent"
    );

    // Revoked: its session ends at once and it is refused when it tries again.
    let (code, out, err) = cli(&d, &["revoke", "agent", "db2"]);
    assert_eq!(code, 0, "{out} {err}");
    until(&d, "db2 offline", |l| {
        l.iter()
            .any(|a| a["address"] == "db2:5444" && a["online"] == false && a["status"] == "revoked")
    })
    .await;
    said(&fleet[1], "was revoked on this core").await;
    // The CLI lists them.
    let (code, out, _) = cli(&d, &["list", "agents"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("ADDRESS") && out.contains("db3:5444") && out.contains("revoked"),
        "{out}"
    );
    // Deleted, an agent is forgotten and its session closed.
    let db3 = list.iter().find(|r| r["address"] == "db3:5444").unwrap();
    let (s, _) = d
        .delete(&format!("/v1/agent/{}", db3["uuid"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(s, 200);
    said(&fleet[2], "is not enrolled on this core").await;
}

#[tokio::test]
async fn listen_mode_agents_are_approved_by_their_fingerprint() {
    let root = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(bin()).await.unwrap();
    let core_key = d.get_ok("/v1/meta/pubkey").await.unwrap();
    let core_key = core_key
        .as_str()
        .map_or_else(|| core_key.to_string(), str::to_string);
    let core_fp = bulwark_link::PublicKey::from_openssh(&core_key)
        .unwrap()
        .fingerprint();

    let mut a = agent(root.path(), "db9", None);
    // Authorizing the core checks the fingerprint the operator was given.
    let out = Command::new(bin())
        .args(["agent", "--config"])
        .arg(a.config())
        .args(["--authorize", &core_key, "--expect", "SHA256:notthisone"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not authorized"));
    let out = Command::new(bin())
        .args(["agent", "--config"])
        .arg(a.config())
        .args(["--authorize", &core_key, "--expect", &core_fp])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    a.start(None);
    let address = a.listen.clone().expect("it says where it listens");

    // An agent that has not authorized this core refuses it, and the core says how to fix it.
    let mut stranger = agent(root.path(), "stranger", None);
    stranger.start(None);
    assert_error(
        d.post(
            "/v1/agents",
            &json!({"address": stranger.listen.clone().unwrap()}),
        )
        .await
        .unwrap(),
        400,
        "refused this core's key",
    );

    // First contact: recorded pending, with the key the agent holds.
    let id = d
        .create("/v1/agents", &json!({"address": address}))
        .await
        .unwrap();
    let row = d.get_ok(&format!("/v1/agent/{id}")).await.unwrap();
    assert_eq!(row["status"], "pending");
    assert_eq!(row["mode"], "listen");
    assert_eq!(row["name"], "db9");
    assert_eq!(row["fingerprint"], a.fingerprint().as_str());
    assert_eq!(row["online"], false);
    // The admin page shows it, waiting, with a form for the fingerprint.
    let (status, html) = d.text("/admin").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("data-approve=\"/v1/agent/{id}/approve\""))
            && html.contains(row["fingerprint"].as_str().unwrap())
            && html.contains("pending, offline"),
        "{html}"
    );
    assert_error(
        d.post("/v1/agents", &json!({"address": address}))
            .await
            .unwrap(),
        409,
        "recorded at",
    );
    // Approval needs the fingerprint the agent prints; a wrong one changes nothing.
    assert_error(
        d.post(
            &format!("/v1/agent/{id}/approve"),
            &json!({"fingerprint": "SHA256:AAAA"}),
        )
        .await
        .unwrap(),
        400,
        "presented key",
    );
    assert_eq!(
        d.get_ok(&format!("/v1/agent/{id}")).await.unwrap()["status"],
        "pending"
    );
    let (code, out, err) = cli(
        &d,
        &["approve", "agent", "db9", "--fingerprint", &a.fingerprint()],
    );
    assert_eq!(code, 0, "{out} {err}");
    let row = d.get_ok(&format!("/v1/agent/{id}")).await.unwrap();
    assert_eq!(row["status"], "approved");
    assert_eq!(
        row["online"], true,
        "the core dialed it with its key pinned: {row}"
    );
    assert_eq!(row["plugins"][0]["name"], "fs");
    // Bad requests change nothing.
    for (body, needle) in [
        (
            json!({"address": "local"}),
            "'local' is the daemon's own host",
        ),
        (json!({"address": "no port"}), "host:port"),
    ] {
        assert_error(d.post("/v1/agents", &body).await.unwrap(), 400, needle);
    }
    assert_error(
        d.post("/v1/agent-tokens", &json!({"address": address}))
            .await
            .unwrap(),
        409,
        "recorded at",
    );
    assert_error(
        d.post(
            "/v1/agent-tokens",
            &json!({"address": "db7:1", "expires_in": 5}),
        )
        .await
        .unwrap(),
        400,
        "expires_in must be 60",
    );
    assert_eq!(agents(&d).await.len(), 1);
}
