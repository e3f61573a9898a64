//! Rotating the core's own key: every approved agent takes the new key before the core uses
//! it, so none is lost; an agent that cannot be reached stops the rotation, changing nothing.

use std::path::Path;
use std::time::Duration;

use bulwark_testkit::TestDaemon;
use serde_json::json;

use crate::agents::{agent, token, until};
use crate::cli::cli;
use crate::common::bin;

/// The core keys an agent authorizes, as its file has them.
fn authorized(root: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(root.join(name).join("data").join("authorized_cores"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

async fn pubkey(d: &TestDaemon) -> String {
    let v = d.get_ok("/v1/meta/pubkey").await.unwrap();
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    s.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn the_core_key_is_rotated_without_losing_an_agent() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    let d = TestDaemon::start_with(bin(), "[agents]\nlisten = \"127.0.0.1:0\"\nkeepalive = 2")
        .await
        .unwrap();
    let core = d.agent_addr.clone().unwrap();
    let old = pubkey(&d).await;

    // A dial-out agent, a listen-mode agent on a fixed port, and a dial-out agent that is
    // enrolled and then goes away.
    let mut db1 = agent(&root, "db1", Some(&core));
    db1.start(Some(&token(&d, "db1:5444", None).await));
    let port = crate::servers::free_port();
    let mut db2 = agent(&root, "db2", None);
    let config = std::fs::read_to_string(db2.config())
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(db2.config(), config).unwrap();
    db2.authorize(&d).await;
    db2.start(None);
    let address = db2.listen.clone().unwrap();
    let id2 = d
        .create("/v1/agents", &json!({"address": address}))
        .await
        .unwrap();
    d.post_ok(
        &format!("/v1/agent/{id2}/approve"),
        &json!({"fingerprint": db2.fingerprint()}),
    )
    .await
    .unwrap();
    let mut db3 = agent(&root, "db3", Some(&core));
    db3.start(Some(&token(&d, "db3:5444", None).await));
    until(&d, "three agents", |l| {
        l.iter().filter(|a| a["status"] == "approved").count() == 3
            && l.iter()
                .filter(|a| a["mode"] == "dial")
                .all(|a| a["online"] == true)
    })
    .await;
    db3.stop();
    until(&d, "db3 offline", |l| {
        l.iter().any(|a| a["name"] == "db3" && a["online"] == false)
    })
    .await;

    // db3 cannot take the new key: nothing changes, and the agents that took it forget it.
    let (code, _, err) = cli(&d, &["rotate-key", "core"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("'db3'") && err.contains("was not rotated"),
        "{err}"
    );
    assert_eq!(pubkey(&d).await, old);
    assert_eq!(authorized(&root, "db1"), vec![old.clone()]);
    assert_eq!(authorized(&root, "db2"), vec![old.clone()]);

    // Without db3 (revoked), the rotation goes through.
    let (code, _, err) = cli(&d, &["revoke", "agent", "db3"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&d, &["rotate-key", "core"]);
    assert_eq!(code, 0, "{err}");
    let new = pubkey(&d).await;
    assert_ne!(new, old);
    let fp = bulwark_link::PublicKey::from_openssh(&new)
        .unwrap()
        .fingerprint();
    assert!(out.contains(&fp), "{out}");
    assert!(out.contains("db1") && out.contains("db2"), "{out}");
    for name in ["db1", "db2"] {
        assert_eq!(authorized(&root, name), vec![new.clone()], "{name}");
    }

    // Both come back on fresh connections with the new key: db1 dials again, the core dials
    // db2 again (it rotates db2's key, which needs a session).
    db1.start(None);
    db2.start(None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    until(&d, "db1 back", |l| {
        l.iter().any(|a| a["name"] == "db1" && a["online"] == true)
    })
    .await;
    let (code, out, err) = cli(&d, &["rotate-key", "agent", "db2"]);
    assert_eq!(code, 0, "{out}{err}");

    // `agent` needs a reference.
    let (code, _, err) = cli(&d, &["rotate-key", "agent"]);
    assert_eq!(code, 2, "{err}");
}
