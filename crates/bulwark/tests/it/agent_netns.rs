//! An agent on another host, for real: a network namespace with its own address, reached from
//! the daemon's only over a veth pair, with a Redis that listens on that host's loopback alone.
//! The daemon cannot reach the Redis; the agent backs it up and restores it; the agent's address
//! changes and it comes back as the same agent. Needs root and `ip` (iproute2); skipped without.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bulwark_testkit::TestDaemon;
use serde_json::json;

use crate::agent_tasks::{ended, made};
use crate::agents::{agent, agents, token, until};
use crate::common::bin;

/// A network namespace joined to the test's by a veth pair on `10.213.N.0/24`: the test's
/// side is `.1`, the namespace's `.2`. Removed when dropped.
struct Host {
    ns: String,
    host_if: String,
    ns_if: String,
    net: String,
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("ip runs")
}

fn ok(out: Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Host {
    fn make() -> Option<Host> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n");
        if !matches!(root, Ok(true)) || Command::new("ip").arg("-V").output().is_err() {
            eprintln!("network namespaces need root and iproute2; skipped");
            return None;
        }
        let id = std::process::id();
        let h = Host {
            ns: format!("bwtest{id}"),
            host_if: format!("bwh{id}"),
            ns_if: format!("bwn{id}"),
            net: format!("10.213.{}", id % 200 + 20),
        };
        ok(ip(&["netns", "add", &h.ns]), "netns add");
        ok(
            ip(&[
                "link", "add", &h.host_if, "type", "veth", "peer", "name", &h.ns_if,
            ]),
            "veth",
        );
        ok(ip(&["link", "set", &h.ns_if, "netns", &h.ns]), "move veth");
        ok(
            ip(&["addr", "add", &format!("{}.1/24", h.net), "dev", &h.host_if]),
            "host address",
        );
        ok(ip(&["link", "set", &h.host_if, "up"]), "host up");
        h.address(2);
        ok(h.exec(&["ip", "link", "set", &h.ns_if, "up"]), "ns up");
        ok(h.exec(&["ip", "link", "set", "lo", "up"]), "ns lo");
        Some(h)
    }

    /// Runs a command in the namespace.
    fn exec(&self, args: &[&str]) -> Output {
        ip(&[&["netns", "exec", &self.ns][..], args].concat())
    }

    /// Gives the namespace's side the address `.last` (only that one).
    fn address(&self, last: u8) {
        ok(
            self.exec(&["ip", "addr", "flush", "dev", &self.ns_if]),
            "flush",
        );
        ok(
            self.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{}.{last}/24", self.net),
                "dev",
                &self.ns_if,
            ]),
            "address",
        );
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.ns]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

/// A process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PASSWORD: &str = "ns redis pw";

/// Runs redis-cli in the namespace with `commands` on its stdin; returns its stdout.
fn redis_cli(h: &Host, port: u16, commands: &str) -> String {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &h.ns, "redis-cli", "-p", &port.to_string()])
        .args(["-a", PASSWORD, "--no-auth-warning"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// Every key and its value.
fn state(h: &Host, port: u16) -> BTreeMap<String, String> {
    let keys = redis_cli(h, port, "KEYS *\n");
    let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
    let gets: String = keys.iter().map(|k| format!("GET {k}\n")).collect();
    let values = redis_cli(h, port, &gets);
    keys.iter()
        .map(|k| k.to_string())
        .zip(values.lines().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn an_agent_in_another_network_reaches_what_the_daemon_cannot() {
    let Some(host) = Host::make() else {
        return;
    };
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let port = crate::servers::free_port();
    let _redis = Killed(
        Command::new("ip")
            .args(["netns", "exec", &host.ns, "redis-server"])
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--requirepass",
                PASSWORD,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&root)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis_cli(&host, port, "PING\n").trim() != "PONG" {
        assert!(
            Instant::now() < deadline,
            "redis in the namespace never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sets: String = (0..300).map(|i| format!("SET k:{i} v{i}\n")).collect();
    redis_cli(&host, port, &sets);
    let before = state(&host, port);
    assert_eq!(before.len(), 300);

    let d = TestDaemon::start_with(
        bin(),
        &format!(
            "[agents]\nlisten = \"{}.1:0\"\nkeepalive = 2\ngrace = 30",
            host.net
        ),
    )
    .await
    .unwrap();
    let core = d.agent_addr.clone().unwrap();
    let mut cache = agent(&root, "cache1", Some(&core));
    let config = std::fs::read_to_string(cache.config()).unwrap().replace(
        "plugins = [\"fs\", \"sqlite\"]",
        &format!(
            "plugins = [\"redis\", \"fs\"]\npaths = [\"{}\"]",
            root.display()
        ),
    );
    std::fs::write(cache.config(), config).unwrap();
    cache.netns = Some(host.ns.clone());
    cache.start(Some(&token(&d, "cache1:5444", None).await));
    let first = until(&d, "the agent online", |l| {
        l.len() == 1 && l[0]["online"] == true
    })
    .await;

    let endpoint = json!({"host": "127.0.0.1", "port": port, "password": PASSWORD});
    let store = made(
        &d,
        "/v1/stores",
        json!({"name": "s", "plugin": "fs", "endpoint": {"base_dir": root.join("store")}, "validate": false}),
    )
    .await;
    let schedule = made(&d, "/v1/schedules", json!({"name": "n", "when": "hourly"})).await;
    let policy = made(&d, "/v1/retention", json!({"name": "r", "keep_last": 5})).await;
    let job_of = |name: &'static str, target: String| {
        let (d, store, schedule, policy) = (&d, &store, &schedule, &policy);
        async move {
            made(
                d,
                "/v1/jobs",
                json!({"name": name, "target": target, "store": store, "schedule": schedule,
                       "retention": policy, "paused": true}),
            )
            .await
        }
    };

    // The daemon's own host cannot reach that Redis: a target on `local` fails.
    let here = made(
        &d,
        "/v1/targets",
        json!({"name": "from here", "plugin": "redis", "endpoint": endpoint, "agent": "local", "validate": false}),
    )
    .await;
    let job = job_of("from here", here).await;
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    assert!(
        t["log"].as_str().unwrap().contains("cannot reach Redis"),
        "{}",
        t["log"]
    );

    // Through the agent it can.
    let there = made(
        &d,
        "/v1/targets",
        json!({"name": "through the agent", "plugin": "redis", "endpoint": endpoint, "agent": "cache1:5444", "validate": false}),
    )
    .await;
    let job = job_of("through the agent", there.clone()).await;
    let t = ended(&d, &crate::engine::run_job(&d, &job).await).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    let archive = t["archive_uuid"].as_str().unwrap().to_string();

    // Its address changes: the link breaks, the agent dials again from the new address, and it
    // is the same agent.
    host.address(3);
    until(&d, "the link noticed broken", |l| l[0]["online"] == false).await;
    until(&d, "the agent back from its new address", |l| {
        l.len() == 1 && l[0]["online"] == true
    })
    .await;
    let now = agents(&d).await;
    assert_eq!(now[0]["uuid"], first[0]["uuid"]);
    assert_eq!(now[0]["fingerprint"], first[0]["fingerprint"]);

    redis_cli(&host, port, "FLUSHALL\nSET junk x\n");
    let r = d
        .post_ok(
            &format!("/v1/archive/{archive}/restore"),
            &json!({"target": there}),
        )
        .await
        .unwrap();
    let r = ended(&d, r["task_uuid"].as_str().unwrap()).await;
    assert_eq!(r["status"], "done", "{}", r["log"]);
    assert_eq!(state(&host, port), before);
}
