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
struct Agent {
    dir: PathBuf,
    child: Option<Child>,
    /// Where it listens (listen mode).
    listen: Option<String>,
}

impl Agent {
    fn config(&self) -> PathBuf {
        self.dir.join("agent.toml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    fn fingerprint(&self) -> String {
        let out = Command::new(bin())
            .args(["agent", "--fingerprint", "--config"])
            .arg(self.config())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again), with a token or none.
    fn start(&mut self, token: Option<&str>) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("agent.log"))
            .unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["agent", "--config"]).arg(self.config());
        if let Some(t) = token {
            cmd.args(["--token", t]);
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
fn agent(root: &Path, name: &str, core: Option<&str>) -> Agent {
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
    }
}

async fn agents(d: &TestDaemon) -> Vec<Value> {
    d.get_ok("/v1/agents")
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until `check` holds of the agent list.
async fn until(d: &TestDaemon, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
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

async fn token(d: &TestDaemon, address: &str, expires_in: Option<i64>) -> String {
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
        a.start(Some(t));
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

#[tokio::test]
async fn a_task_runs_only_where_its_target_says() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data").unwrap();
    let d = TestDaemon::start(bin()).await.unwrap();
    let w = crate::engine::wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": root.path().join("store")})),
        86_400,
    )
    .await;
    let set_agent = async |agent: &str| {
        let (s, b) = d
            .put(
                &format!("/v1/target/{}", w.target),
                &json!({"name": "t", "summary": "", "plugin": "fs", "endpoint": {"base_dir": src},
                        "agent": agent}),
            )
            .await
            .unwrap();
        assert_eq!(s, 200, "{b}");
    };
    let last_line = |t: &Value| {
        t["log"]
            .as_str()
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    // An address nobody is enrolled at: the task fails saying how to enroll an agent there.
    set_agent("10.255.0.1:5444").await;
    let t = crate::engine::finished(&d, &crate::engine::run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "failed");
    assert!(
        last_line(&t).contains("no agent is enrolled there")
            && last_line(&t).contains("bulwark agent-token create --address 10.255.0.1:5444"),
        "{}",
        t["log"]
    );
    // An enrolled agent: the backup runs there (and this agent allows no directory at all),
    // never on the daemon's host in its place.
    let mut a = agent(root.path(), "db", None);
    a.start(None);
    let address = a.listen.clone().unwrap();
    let key = d.get_ok("/v1/meta/pubkey").await.unwrap();
    let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
    let fp = bulwark_link::PublicKey::from_openssh(&key)
        .unwrap()
        .fingerprint();
    let out = Command::new(bin())
        .args(["agent", "--config"])
        .arg(a.config())
        .args(["--authorize", &key, "--expect", &fp])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = d
        .create("/v1/agents", &json!({"address": address}))
        .await
        .unwrap();
    set_agent(&address).await;
    // Pending, it runs nothing.
    let t = crate::engine::finished(&d, &crate::engine::run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "failed");
    assert!(last_line(&t).contains("which is pending"), "{}", t["log"]);
    d.post_ok(
        &format!("/v1/agent/{id}/approve"),
        &json!({"fingerprint": a.fingerprint()}),
    )
    .await
    .unwrap();
    let t = crate::engine::finished(&d, &crate::engine::run_job(&d, &w.job).await).await;
    assert_eq!(t["status"], "failed");
    assert!(
        t["log"].as_str().unwrap().contains("on agent 'db' at")
            && last_line(&t).contains("is not under this agent's paths"),
        "{}",
        t["log"]
    );
    // `local`, and a loopback address no agent holds, are the daemon's own host.
    for here in ["local", "127.0.0.1:9"] {
        set_agent(here).await;
        let t = crate::engine::finished(&d, &crate::engine::run_job(&d, &w.job).await).await;
        assert_eq!(t["status"], "done", "{here}: {}", t["log"]);
    }
}

/// An agent that dials `d`, enrolled at `address`, allowed `plugins` under `root`.
async fn enrolled(
    d: &TestDaemon,
    root: &Path,
    name: &str,
    address: &str,
    plugins: &[&str],
) -> Agent {
    let core = d.agent_addr.clone().unwrap();
    let a = agent(root, name, Some(&core));
    let list: Vec<String> = plugins.iter().map(|p| format!("\"{p}\"")).collect();
    let config = std::fs::read_to_string(a.config()).unwrap().replace(
        "plugins = [\"fs\", \"sqlite\"]",
        &format!(
            "plugins = [{}]\npaths = [\"{}\"]\nplugin_dirs = [\"{}\"]",
            list.join(", "),
            root.display(),
            crate::engine::fixture_plugins().display()
        ),
    );
    std::fs::write(a.config(), config).unwrap();
    let mut a = a;
    a.start(Some(&token(d, address, None).await));
    until(d, "the agent online", |l| {
        l.iter()
            .any(|x| x["address"] == address && x["online"] == true)
    })
    .await;
    a
}

/// Ids made through the API.
async fn made(d: &TestDaemon, path: &str, body: Value) -> String {
    d.create(path, &body).await.unwrap()
}

/// Runs a task to its end.
async fn ended(d: &TestDaemon, task: &str) -> Value {
    crate::engine::finished(d, task).await
}

/// Through the agent at `address`: `src` backed up into a sealed plugin store and into a
/// repository as a tree, each archive restored onto the agent's host and onto the daemon's,
/// byte for byte. Returns the target.
async fn round_trip(d: &TestDaemon, root: &Path, src: &Path, address: &str, tag: &str) -> String {
    let target = made(
        d,
        "/v1/targets",
        json!({"name": format!("{tag} data"), "plugin": "fs", "endpoint": {"base_dir": src},
               "agent": address, "validate": false}),
    )
    .await;
    let schedule = made(
        d,
        "/v1/schedules",
        json!({"name": format!("{tag} n"), "when": "daily"}),
    )
    .await;
    let policy = made(
        d,
        "/v1/retention",
        json!({"name": format!("{tag} r"), "keep_last": 5}),
    )
    .await;
    let blobs = made(
        d,
        "/v1/stores",
        json!({"name": format!("{tag} blobs"), "plugin": "fs",
               "endpoint": {"base_dir": root.join(format!("{tag}-store"))}, "validate": false}),
    )
    .await;
    let repo = made(
        d,
        "/v1/stores",
        json!({"name": format!("{tag} repo"), "plugin": "repository",
               "endpoint": {"path": root.join(format!("{tag}-repo"))}, "validate": false}),
    )
    .await;
    for (store, format) in [(&blobs, "sealed"), (&repo, "tree")] {
        let job = made(
            d,
            "/v1/jobs",
            json!({"name": format!("{tag} into {format}"), "target": target, "store": store,
                   "schedule": schedule, "retention": policy, "paused": true}),
        )
        .await;
        let t = ended(d, &crate::engine::run_job(d, &job).await).await;
        assert_eq!(t["status"], "done", "{}", t["log"]);
        let log = t["log"].as_str().unwrap();
        assert!(log.contains(&format!("at {address} into store")), "{log}");
        let archive = t["archive_uuid"].as_str().unwrap().to_string();
        let a = d.get_ok(&format!("/v1/archive/{archive}")).await.unwrap();
        assert_eq!(a["format"], format, "{a}");
        // Onto the agent's host (a target of its own), and onto the daemon's.
        for (place, agent) in [("agent", address), ("core", "local")] {
            let out = root.join(format!("{tag}-{format}-{place}"));
            let into = made(
                d,
                "/v1/targets",
                json!({"name": format!("{tag} {format} {place}"), "plugin": "fs",
                       "endpoint": {"base_dir": out}, "agent": agent, "validate": false}),
            )
            .await;
            let r = d
                .post_ok(
                    &format!("/v1/archive/{archive}/restore"),
                    &json!({"target": into}),
                )
                .await
                .unwrap();
            let r = ended(d, r["task_uuid"].as_str().unwrap()).await;
            assert_eq!(r["status"], "done", "{}", r["log"]);
            if place == "agent" {
                assert!(
                    r["log"]
                        .as_str()
                        .unwrap()
                        .contains("the data goes from the store to the agent"),
                    "{}",
                    r["log"]
                );
            }
            bulwark_testkit::tree::assert_same_tree(src, &out).unwrap();
        }
    }
    target
}

/// The bytes of every file under `dir`.
fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                size_of(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

#[tokio::test]
async fn backups_and_restores_run_on_agents_in_both_modes() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    bulwark_testkit::tree::tricky(&src, 8 * 1024 * 1024).unwrap();
    let data = size_of(&src);
    let d = TestDaemon::start_with(bin(), "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2")
        .await
        .unwrap();

    // Dial-out.
    let mut db1 = enrolled(
        &d,
        &root,
        "db1",
        "db1:5444",
        &["fs", "repository", "shtarget"],
    )
    .await;
    let target = round_trip(&d, &root, &src, "db1:5444", "dial").await;

    // Listen mode: authorized, recorded, approved.
    let mut db2 = agent(&root, "db2", None);
    let config = std::fs::read_to_string(db2.config()).unwrap().replace(
        "plugins = [\"fs\", \"sqlite\"]",
        &format!(
            "plugins = [\"fs\", \"repository\"]\npaths = [\"{}\"]",
            root.display()
        ),
    );
    std::fs::write(db2.config(), config).unwrap();
    let key = d.get_ok("/v1/meta/pubkey").await.unwrap();
    let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
    let fp = bulwark_link::PublicKey::from_openssh(&key)
        .unwrap()
        .fingerprint();
    let out = Command::new(bin())
        .args(["agent", "--config"])
        .arg(db2.config())
        .args(["--authorize", &key, "--expect", &fp])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    db2.start(None);
    let address = db2.listen.clone().unwrap();
    let id = made(&d, "/v1/agents", json!({"address": address})).await;
    d.post_ok(
        &format!("/v1/agent/{id}/approve"),
        &json!({"fingerprint": db2.fingerprint()}),
    )
    .await
    .unwrap();
    round_trip(&d, &root, &src, &address, "listen").await;

    // The data went between the agents and the stores: what crossed each agent's link with the
    // core (orders, events, log lines) is a small part of it.
    for a in agents(&d).await {
        let crossed = a["link_bytes"].as_u64().unwrap();
        eprintln!(
            "agent {}: {crossed} bytes over its link for {data} bytes of data",
            a["name"]
        );
        assert!(crossed > 0, "{a}");
        assert!(
            crossed < data / 100,
            "{} bytes crossed the link of {} for {data} bytes of data, backed up twice and restored four times",
            crossed,
            a["name"]
        );
    }

    // Refused by the agent: a directory outside its paths.
    let (s, _) = d
        .put(
            &format!("/v1/target/{target}"),
            &json!({"name": "dial data", "summary": "", "plugin": "fs", "endpoint": {"base_dir": "/etc"}, "agent": "db1:5444"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    let blobs = made(
        &d,
        "/v1/stores",
        json!({"name": "more blobs", "plugin": "fs", "endpoint": {"base_dir": root.join("more")}, "validate": false}),
    )
    .await;
    let job = async |name: &str| {
        let schedule = made(&d, "/v1/schedules", json!({"name": name, "when": "daily"})).await;
        let policy = made(&d, "/v1/retention", json!({"name": name, "keep_last": 1})).await;
        made(
            &d,
            "/v1/jobs",
            json!({"name": name, "target": target, "store": blobs, "schedule": schedule,
                   "retention": policy, "paused": true}),
        )
        .await
    };
    let j = job("outside").await;
    let t = ended(&d, &crate::engine::run_job(&d, &j).await).await;
    assert_eq!(t["status"], "failed");
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("is not under this agent's paths"),
        "{}",
        t["log"]
    );

    // Canceled on the core: the plugins on the agent are killed, sleeper and all.
    let pidfile = root.join("hang.pid");
    let (s, _) = d
        .put(
            &format!("/v1/target/{target}"),
            &json!({"name": "dial data", "summary": "", "plugin": "shtarget",
                    "endpoint": {"base_dir": src, "mode": "hang", "pidfile": pidfile}, "agent": "db1:5444"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    let j = job("hangs").await;
    let task = crate::engine::run_job(&d, &j).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&pidfile)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the plugin never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(d.delete(&format!("/v1/task/{task}")).await.unwrap().0, 200);
    let t = ended(&d, &task).await;
    assert_eq!(t["status"], "canceled", "{}", t["log"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    {
        assert!(
            Instant::now() < deadline,
            "the sleeper {pid} survived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The agent killed mid-backup: the link breaks, the task fails, nothing is recorded.
    let _ = std::fs::remove_file(&pidfile);
    let task = crate::engine::run_job(&d, &j).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&pidfile)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the plugin never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db1.stop();
    let t = ended(&d, &task).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("the link to agent 'db1' broke"),
        "{}",
        t["log"]
    );
    // The failed, canceled and broken backups left no archive.
    let archives = d
        .get_ok(&format!("/v1/archives?target={target}"))
        .await
        .unwrap();
    assert_eq!(archives.as_array().unwrap().len(), 2, "{archives}");
}
