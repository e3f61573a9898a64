//! Mistakes caught at creation: a new target or store goes through its plugin's `validate`;
//! what the plugin calls invalid is refused and changes nothing, what may be temporary is a
//! warning; stored endpoints can be checked again, through the API and the CLI.

use serde_json::json;

use crate::cli::{cli, fails, json as cli_json};
use crate::common::{assert_error, snapshot};
use crate::engine::engine_daemon;
use crate::servers::free_port;

#[tokio::test]
async fn invalid_endpoints_are_refused_and_temporary_trouble_is_a_warning() {
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&d).await;
    for (plugin, endpoint, needle) in [
        (
            "fs",
            json!({"base_dir": "../../../../etc"}),
            "must be an absolute path",
        ),
        ("fs", json!({"base_dir": 5}), "invalid"),
        ("fs", json!({}), "base_dir"),
        (
            "postgres",
            json!({"host": "127.0.0.1"}),
            "'database' is required",
        ),
    ] {
        let (s, body) = d
            .post(
                "/v1/stores",
                &json!({"name": "bad", "plugin": plugin, "endpoint": endpoint}),
            )
            .await
            .unwrap();
        if plugin == "postgres" {
            // Not a store plugin: its validate is asked all the same, and refuses the endpoint.
            assert_eq!(s, 400, "{body}");
        }
        assert_error((s, body), 400, needle);
    }
    let (s, body) = d
        .post(
            "/v1/targets",
            &json!({"name": "bad", "plugin": "postgres", "agent": "127.0.0.1:5444",
                    "endpoint": {"host": "127.0.0.1", "port": "not a port", "database": "x"}}),
        )
        .await
        .unwrap();
    assert_error((s, body), 400, "nothing was created");
    assert_eq!(
        snapshot(&d).await,
        before,
        "a refused create changed the catalog"
    );

    // Unreachable: made, with a warning that says why.
    let port = free_port();
    let made = d
        .post_ok(
            "/v1/targets",
            &json!({"name": "later", "plugin": "postgres", "agent": "127.0.0.1:5444",
                    "endpoint": {"host": "127.0.0.1", "port": port, "database": "x", "password": "pw"}}),
        )
        .await
        .unwrap();
    let warning = made["warning"].as_str().unwrap();
    assert!(warning.contains("cannot reach PostgreSQL"), "{warning}");
    assert!(!warning.contains("pw\""), "{warning}");
    // A plugin this host does not have: made, with a warning.
    let made = d
        .post_ok("/v1/targets", &json!({"name": "elsewhere", "plugin": "memcached", "agent": "127.0.0.1:5444", "endpoint": {}}))
        .await
        .unwrap();
    assert!(
        made["warning"].as_str().unwrap().contains("not installed"),
        "{made}"
    );
    // A good one: no warning. And "validate": false skips the check.
    let made = d
        .post_ok("/v1/stores", &json!({"name": "good", "plugin": "fs", "endpoint": {"base_dir": dir.path().join("s")}}))
        .await
        .unwrap();
    assert!(made.get("warning").is_none(), "{made}");
    let unchecked = d
        .post_ok("/v1/stores", &json!({"name": "unchecked", "plugin": "fs", "validate": false, "endpoint": {"base_dir": "relative"}}))
        .await
        .unwrap();
    assert!(unchecked.get("warning").is_none());

    // Checking stored endpoints again.
    let target = d.get_ok("/v1/targets").await.unwrap();
    let later = target
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "later")
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let v = d
        .post_ok(&format!("/v1/target/{later}/validate"), &json!({}))
        .await
        .unwrap();
    assert_eq!(v["valid"], false);
    assert!(
        v["output"].as_str().unwrap().contains("cannot reach"),
        "{v}"
    );
    let v = d
        .post_ok(
            &format!("/v1/store/{}/validate", made["uuid"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(v["valid"], true, "{v}");

    // The CLI: refused, forced, warned, checked.
    let err = fails(
        &d,
        &[
            "create",
            "store",
            "--name",
            "x",
            "--plugin",
            "fs",
            "--set",
            "base_dir=../x",
        ],
    );
    assert!(
        err.contains("must be an absolute path") && err.contains("(400)"),
        "{err}"
    );
    assert_eq!(
        cli_json(
            &d,
            &[
                "create",
                "store",
                "--name",
                "x",
                "--plugin",
                "fs",
                "--set",
                "base_dir=../x",
                "--no-validate"
            ]
        )["ok"],
        "created"
    );
    let set_port = format!("port={port}");
    let (code, _, err) = cli(
        &d,
        &[
            "create",
            "target",
            "--name",
            "pg",
            "--plugin",
            "postgres",
            "--set",
            "host=127.0.0.1",
            "--set",
            &set_port,
            "--set",
            "database=x",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("bulwark: warning: the postgres plugin could not use the endpoint now"),
        "{err}"
    );
    let (code, out, err) = cli(&d, &["validate", "target", "pg"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("target 'pg': the endpoint does NOT work") && out.contains("cannot reach"),
        "{out}"
    );
    assert!(err.contains("does not work"), "{err}");
    let (code, out, _) = cli(&d, &["validate", "store", "good"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("store 'good': the endpoint works"), "{out}");
}

#[tokio::test]
async fn plugin_stores_are_checked_by_reading_their_archives_back() {
    use crate::engine::{backup_archive, finished, wire};
    let d = engine_daemon("").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), vec![7u8; 300_000]).unwrap();
    let blobs = dir.path().join("blobs");
    let w = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": blobs})),
        3600,
    )
    .await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        let a = backup_archive(&d, &w.job).await;
        keys.push((
            a["uuid"].as_str().unwrap().to_string(),
            a["store_key"].as_str().unwrap().to_string(),
        ));
    }
    let check = async |read: Option<&str>| {
        let body = read.map_or(json!({}), |r| json!({"read_data": r}));
        let t = d
            .post_ok(&format!("/v1/store/{}/check", w.store), &body)
            .await
            .unwrap();
        finished(&d, t["task_uuid"].as_str().unwrap()).await
    };
    let t = check(None).await;
    assert_eq!(t["status"], "done", "{}", t["log"]);
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("Done: 3 archives read back"),
        "{}",
        t["log"]
    );
    let t = check(Some("34%")).await;
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("reading back 2 of its 3 archives"),
        "{}",
        t["log"]
    );

    // One blob altered, one gone: both found, and named.
    let (damaged, gone) = (&keys[0], &keys[1]);
    let path = blobs.join(&damaged.1);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
    std::fs::remove_file(blobs.join(&gone.1)).unwrap();
    let t = check(Some("all")).await;
    assert_eq!(t["status"], "failed", "{}", t["log"]);
    let log = t["log"].as_str().unwrap();
    assert!(
        log.contains(&format!("Archive {} ", damaged.0)) && log.contains(": damaged: "),
        "{log}"
    );
    assert!(
        log.contains(&format!("Archive {} ", gone.0)) && log.contains(": missing: "),
        "{log}"
    );
    assert!(
        log.trim_end()
            .ends_with("Failed: of 3 archives read back, 1 damaged and 1 missing (see above)."),
        "{log}"
    );
    // Pruning stays for repositories.
    let (s, body) = d
        .post(&format!("/v1/store/{}/prune", w.store), &json!({}))
        .await
        .unwrap();
    assert_error((s, body), 400, "only repository stores are pruned");
}
