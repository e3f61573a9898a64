//! Tasks on agents: a target's `agent` decides where its tasks run; backups and restores on
//! agents in both modes, data straight between the agent and the store; what the agent refuses;
//! cancel, and an agent killed mid-backup.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use serde_json::{Value, json};

use crate::agents::{Agent, agent, agents, token, until};
use crate::common::bin;

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
    a.authorize(&d).await;
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
pub(crate) async fn enrolled(
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
pub(crate) async fn made(d: &TestDaemon, path: &str, body: Value) -> String {
    d.create(path, &body).await.unwrap()
}

/// Runs a task to its end.
pub(crate) async fn ended(d: &TestDaemon, task: &str) -> Value {
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
    let d = TestDaemon::start_with(
        bin(),
        "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2\ngrace = 3",
    )
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
    db2.authorize(&d).await;
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
    let pid = crate::common::written(&pidfile, "the plugin's start").await;
    assert_eq!(d.delete(&format!("/v1/task/{task}")).await.unwrap().0, 200);
    let t = ended(&d, &task).await;
    assert_eq!(t["status"], "canceled", "{}", t["log"]);
    crate::common::gone(&pid).await;
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

/// A TCP relay in front of the core's agent port that a test can cut, hold cut, or freeze
/// (the connections stay open and carry nothing).
struct Relay {
    addr: String,
    hold: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<Link>>>,
}

/// One connection through the relay, and its freeze switch.
type Link = (tokio::task::JoinHandle<()>, Arc<AtomicBool>);

/// Copies one way, carrying nothing while `frozen`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hold = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (h, l) = (hold.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if h.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                let frozen = Arc::new(AtomicBool::new(false));
                let f = frozen.clone();
                let task = tokio::spawn(async move {
                    if let Ok(out) = tokio::net::TcpStream::connect(&upstream).await {
                        let (ir, iw) = inbound.into_split();
                        let (or, ow) = out.into_split();
                        tokio::select! {
                            () = pump(ir, ow, f.clone()) => {}
                            () = pump(or, iw, f) => {}
                        }
                    }
                });
                l.lock().unwrap().push((task, frozen));
            }
        });
        Relay { addr, hold, links }
    }

    /// Drops every connection through it; with `hold`, refuses new ones until released.
    fn cut(&self, hold: bool) {
        self.hold.store(hold, Ordering::SeqCst);
        for (link, _) in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Freezes every connection through it now: open, and silent.
    fn freeze(&self) {
        for (_, frozen) in self.links.lock().unwrap().iter() {
            frozen.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn a_cut_link_is_taken_up_again_and_one_cut_past_the_grace_fails() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "data that crosses a flaky link").unwrap();
    let d = TestDaemon::start_with(
        bin(),
        "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 1\ngrace = 8",
    )
    .await
    .unwrap();
    let relay = Relay::start(d.agent_addr.clone().unwrap()).await;
    let mut a = agent(&root, "db", Some(&relay.addr));
    let config = std::fs::read_to_string(a.config()).unwrap().replace(
        "plugins = [\"fs\", \"sqlite\"]",
        &format!(
            "plugins = [\"fs\", \"shtarget\"]\npaths = [\"{}\"]\nplugin_dirs = [\"{}\"]\ngrace = 4",
            root.display(),
            crate::engine::fixture_plugins().display()
        ),
    );
    std::fs::write(a.config(), config).unwrap();
    a.start(Some(&token(&d, "db:5444", None).await));
    until(&d, "online", |l| l.iter().any(|x| x["online"] == true)).await;
    let target = made(
        &d,
        "/v1/targets",
        json!({"name": "flaky", "plugin": "shtarget", "agent": "db:5444", "validate": false,
               "endpoint": {"base_dir": src, "mode": "sleepy"}}),
    )
    .await;
    let store_dir = root.join("store");
    let store = made(
        &d,
        "/v1/stores",
        json!({"name": "s", "plugin": "fs", "endpoint": {"base_dir": store_dir}, "validate": false}),
    )
    .await;
    let schedule = made(&d, "/v1/schedules", json!({"name": "n", "when": "daily"})).await;
    let policy = made(&d, "/v1/retention", json!({"name": "r", "keep_last": 9})).await;
    let job = made(
        &d,
        "/v1/jobs",
        json!({"name": "j", "target": target, "store": store, "schedule": schedule,
               "retention": policy, "paused": true}),
    )
    .await;

    // Cut while the target sleeps: the agent dials again, the core reads on, the backup ends.
    let task = crate::engine::run_job(&d, &job).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    relay.cut(false);
    let t = ended(&d, &task).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("broke; waiting up to 8s")
            && log.contains("is back; following the task again"),
        "{log}"
    );

    // Frozen (open and silent): the keepalives notice on both sides, the agent dials again,
    // and the core reads on.
    let task = crate::engine::run_job(&d, &job).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    relay.freeze();
    let t = ended(&d, &task).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains("broke; waiting up to 8s") && log.contains("is back"),
        "{log}"
    );

    // Cut and held past the grace: the task fails, nothing is recorded, the store keeps nothing.
    let (s, _) = d
        .put(
            &format!("/v1/target/{target}"),
            &json!({"name": "flaky", "summary": "", "plugin": "shtarget", "agent": "db:5444",
                    "endpoint": {"base_dir": src, "mode": "slow"}}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200);
    let blobs_before = std::fs::read_dir(&store_dir).unwrap().count();
    let task = crate::engine::run_job(&d, &job).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    relay.cut(true);
    let t = ended(&d, &task).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("did not come back within 8s"),
        "{}",
        t["log"]
    );
    // The agent's own grace ends too: it cancels the task and abandons the upload.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&store_dir).unwrap().count() != blobs_before {
        assert!(
            Instant::now() < deadline,
            "the agent left its upload: {:?}",
            std::fs::read_dir(&store_dir).unwrap().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    relay.cut(false);
    let archives = d
        .get_ok(&format!("/v1/archives?target={target}"))
        .await
        .unwrap();
    assert_eq!(archives.as_array().unwrap().len(), 2, "{archives}");
}

#[tokio::test]
async fn redis_on_the_agents_host_is_backed_up_and_restored_through_the_agent() {
    let secret = "agent rd pw";
    let Some(r) = crate::servers::Redis::start(secret) else {
        return;
    };
    let mut c = r.conn();
    let mut p = redis::pipe();
    for i in 0..2000 {
        p.cmd("SET").arg(format!("k:{i}")).arg(i).ignore();
        p.cmd("HSET")
            .arg(format!("h:{}", i % 40))
            .arg(i)
            .arg("v")
            .ignore();
    }
    p.cmd("SET")
        .arg("session")
        .arg("t")
        .arg("EX")
        .arg(3600)
        .ignore();
    p.exec(&mut c).unwrap();
    let before = crate::databases::redis_state(&r);

    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let d = TestDaemon::start_with(bin(), "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2")
        .await
        .unwrap();
    let _cache = enrolled(&d, &root, "cache1", "cache1:5444", &["redis", "fs"]).await;
    // The Redis is on the agent's host (loopback there); the daemon reaches it only through it.
    let target = made(
        &d,
        "/v1/targets",
        json!({"name": "sessions", "plugin": "redis", "endpoint": r.endpoint(),
               "agent": "cache1:5444", "validate": false}),
    )
    .await;
    let store = made(
        &d,
        "/v1/stores",
        json!({"name": "s", "plugin": "fs", "endpoint": {"base_dir": root.join("store")}, "validate": false}),
    )
    .await;
    let schedule = made(&d, "/v1/schedules", json!({"name": "n", "when": "hourly"})).await;
    let policy = made(&d, "/v1/retention", json!({"name": "r", "keep_hourly": 24})).await;
    let job = made(
        &d,
        "/v1/jobs",
        json!({"name": "sessions hourly", "target": target, "store": store,
               "schedule": schedule, "retention": policy, "paused": true}),
    )
    .await;
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert!(t["log"].as_str().unwrap().contains("on agent 'cache1'"));
    assert!(!t["log"].as_str().unwrap().contains(secret), "{}", t["log"]);
    let archive = t["archive_uuid"].as_str().unwrap().to_string();

    redis::cmd("FLUSHALL").exec(&mut c).unwrap();
    redis::cmd("SET").arg("junk").arg("x").exec(&mut c).unwrap();
    let r2 = d
        .post_ok(
            &format!("/v1/archive/{archive}/restore"),
            &json!({"target": target}),
        )
        .await
        .unwrap();
    let r2 = ended(&d, r2["task_uuid"].as_str().unwrap()).await;
    assert_eq!(r2["status"], "done", "{}", r2["log"]);
    assert!(r2["log"].as_str().unwrap().contains("on agent 'cache1'"));
    assert_eq!(crate::databases::redis_state(&r), before);

    // A user who may not SYNC: the replication snapshot is refused, the BGSAVE mode reads the
    // server's own dump file on the agent's host.
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("nosync")
        .arg("on")
        .arg(">nosync pw")
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .arg("-sync")
        .arg("-psync")
        .exec(&mut c)
        .unwrap();
    let mut ep = r.endpoint();
    ep["username"] = "nosync".into();
    ep["password"] = "nosync pw".into();
    let (s, b) = d
        .put(
            &format!("/v1/target/{target}"),
            &json!({"name": "sessions", "summary": "", "plugin": "redis", "endpoint": ep,
                    "agent": "cache1:5444"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "failed");
    assert!(
        t["log"].as_str().unwrap().contains("may not do this"),
        "{}",
        t["log"]
    );
    ep["mode"] = "bgsave".into();
    let (s, b) = d
        .put(
            &format!("/v1/target/{target}"),
            &json!({"name": "sessions", "summary": "", "plugin": "redis", "endpoint": ep,
                    "agent": "cache1:5444"}),
        )
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert!(
        t["log"].as_str().unwrap().contains("saved by BGSAVE"),
        "{}",
        t["log"]
    );
    let archive = t["archive_uuid"].as_str().unwrap().to_string();
    redis::cmd("FLUSHALL").exec(&mut c).unwrap();
    let r3 = d
        .post_ok(
            &format!("/v1/archive/{archive}/restore"),
            &json!({"target": target}),
        )
        .await
        .unwrap();
    let r3 = ended(&d, r3["task_uuid"].as_str().unwrap()).await;
    assert_eq!(r3["status"], "done", "{}", r3["log"]);
    assert_eq!(crate::databases::redis_state(&r), before);
}

#[tokio::test]
async fn a_task_timeout_applies_on_the_agent_and_leaves_no_process() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    let d = TestDaemon::start_with(
        bin(),
        "[tasks]\ntimeout = 3\n[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2",
    )
    .await
    .unwrap();
    let _a = enrolled(&d, &root, "slowpoke", "slow:5444", &["shtarget", "fs"]).await;
    let pidfile = root.join("hang.pid");
    let target = made(
        &d,
        "/v1/targets",
        json!({"name": "hangs", "plugin": "shtarget", "agent": "slow:5444", "validate": false,
               "endpoint": {"base_dir": src, "mode": "hang", "pidfile": pidfile}}),
    )
    .await;
    let store = made(
        &d,
        "/v1/stores",
        json!({"name": "s", "plugin": "fs", "endpoint": {"base_dir": root.join("store")}, "validate": false}),
    )
    .await;
    let schedule = made(&d, "/v1/schedules", json!({"name": "n", "when": "daily"})).await;
    let policy = made(&d, "/v1/retention", json!({"name": "r", "keep_last": 1})).await;
    let job = made(
        &d,
        "/v1/jobs",
        json!({"name": "j", "target": target, "store": store, "schedule": schedule,
               "retention": policy, "paused": true}),
    )
    .await;
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("did not finish within 3s"),
        "{}",
        t["log"]
    );
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
    {
        assert!(
            Instant::now() < deadline,
            "the sleeper {pid} survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
