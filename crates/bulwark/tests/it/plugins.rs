//! `/v1/plugins` and `/v1/plugin/{name}`: built-ins and external plugins in plugin directories.

use std::os::unix::fs::PermissionsExt;

use bulwark_testkit::TestDaemon;
use serde_json::json;

use crate::common::{assert_error, bin};

fn write(dir: &std::path::Path, name: &str, body: &str, mode: u32) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn lists_builtins_and_external_plugins() {
    let plugins = tempfile::tempdir().unwrap();
    let p = plugins.path();
    write(
        p,
        "memcached",
        r#"[ "$1" = info ] && echo '{"name":"My Memcached Plugin","author":"Joe Random Hacker","version":"1.0.0","features":{"target":"yes","store":"no"},"_private":1}'"#,
        0o755,
    );
    write(
        p,
        "broken",
        "echo 'cannot find redis-cli' >&2; exit 3",
        0o755,
    );
    write(p, "junk", "echo 'this is not json'", 0o755);
    write(p, "fs", "echo '{}'", 0o755); // a built-in's name: skipped
    write(p, "redis", "echo '{}'", 0o755); // so is a database target's
    write(p, "notexec", "exit 0", 0o644); // not executable: ignored
    write(p, "Bad Name", "exit 0", 0o755); // not a plugin name: ignored
    let d = TestDaemon::start_with(bin(), &format!("plugin_dirs = [\"{}\"]", p.display()))
        .await
        .unwrap();

    let list = d.get_ok("/v1/plugins").await.unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "fs",
            "repository",
            "postgres",
            "mysql",
            "redis",
            "sqlite",
            "rabbitmq",
            "scripts",
            "schelly",
            "broken",
            "junk",
            "memcached"
        ]
    );

    let fs = &list[0];
    assert_eq!(fs["kind"], "builtin");
    assert_eq!(
        fs["features"],
        json!({"target": "yes", "store": "yes", "endpoint": "env"})
    );
    assert_eq!(fs["fields"][0]["name"], "base_dir");
    assert_eq!(fs["error"], serde_json::Value::Null);

    let ext = d.get_ok("/v1/plugin/memcached").await.unwrap();
    assert_eq!(ext["kind"], "external");
    assert_eq!(ext["path"], p.join("memcached").display().to_string());
    assert_eq!(ext["title"], "My Memcached Plugin");
    assert_eq!(ext["author"], "Joe Random Hacker");
    assert_eq!(ext["version"], "1.0.0");
    assert_eq!(ext["features"], json!({"target": "yes", "store": "no"}));
    let redis = d.get_ok("/v1/plugin/redis").await.unwrap();
    assert_eq!(redis["kind"], "builtin");
    assert_eq!(
        redis["features"],
        json!({"target": "yes", "store": "no", "endpoint": "env"})
    );

    let broken = d.get_ok("/v1/plugin/broken").await.unwrap();
    let err = broken["error"].as_str().unwrap();
    assert!(
        err.contains("exit 3 (an external tool failed)") && err.contains("cannot find redis-cli"),
        "{err}"
    );
    let junk = d.get_ok("/v1/plugin/junk").await.unwrap();
    assert!(
        junk["error"]
            .as_str()
            .unwrap()
            .contains("not print a valid info document"),
        "{junk}"
    );

    assert_error(
        d.get("/v1/plugin/notexec").await.unwrap(),
        404,
        "plugin notexec is not installed",
    );
    assert_error(
        d.get("/v1/plugin/nothing").await.unwrap(),
        404,
        "is not installed",
    );
}

#[tokio::test]
async fn a_missing_plugin_directory_is_not_fatal() {
    let d = TestDaemon::start_with(bin(), "plugin_dirs = [\"/nonexistent/bulwark-plugins\"]")
        .await
        .unwrap();
    let list = d.get_ok("/v1/plugins").await.unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        9,
        "only the built-ins: {list}"
    );
    assert!(d.log().contains("Plugin directory cannot be read"));
}
