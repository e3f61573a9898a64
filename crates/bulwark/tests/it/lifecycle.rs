//! The daemon as a process: restart with data kept, clean shutdown, one daemon per data
//! directory, configuration errors, and configuration that changes behaviour.

use std::process::Command;

use bulwark_testkit::TestDaemon;
use serde_json::json;

use crate::common::{HOLD_TASKS, assert_error, bin, fixture, snapshot};

#[tokio::test]
async fn restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = TestDaemon::start_in(bin(), dir.path(), HOLD_TASKS)
        .await
        .unwrap();
    let f = fixture(&d, "keep").await;
    d.post_ok(&format!("/v1/job/{}/run", f.job), &serde_json::Value::Null)
        .await
        .unwrap();
    let key = d.get_ok("/v1/meta/pubkey").await.unwrap();
    let before = snapshot(&d).await;

    let status = d.stop().unwrap();
    assert!(
        status.success(),
        "SIGTERM ends the daemon cleanly: {status}"
    );
    assert!(d.log().contains("Daemon stopped."));

    d.restart().unwrap();
    assert_eq!(snapshot(&d).await, before, "the catalog survives a restart");
    assert_eq!(
        d.get_ok("/v1/meta/pubkey").await.unwrap(),
        key,
        "the key pair survives a restart"
    );
    assert_eq!(
        d.get_ok("/v1/status").await.unwrap()["catalog"]["schema_version"],
        13
    );

    // And survives SIGKILL too: every answered write was committed.
    d.kill().unwrap();
    d.restart().unwrap();
    assert_eq!(snapshot(&d).await, before);
}

#[tokio::test]
async fn one_daemon_per_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start_in(bin(), dir.path(), "").await.unwrap();
    let out = Command::new(bin())
        .args(["server", "--config"])
        .arg(d.config_path())
        .env_remove("BULWARK_LISTEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by another bulwark server"), "{err}");
    // The first daemon is unharmed.
    assert_eq!(d.get_ok("/v1/status").await.unwrap()["health"], "ok");
}

#[test]
fn bad_configuration_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "listen = \"127.0.0.1:0\"\nlisten_port = 5\n",
            "unknown field",
        ),
        (
            "timezone = \"Mars/Olympus\"\n",
            "timezone 'Mars/Olympus' is not an IANA time zone",
        ),
        ("mode = \"fast\"\n", "unknown variant"),
        (
            "[retention]\nminimum_expiry = 0\n",
            "minimum_expiry must be at least 1",
        ),
        ("listen = \"nowhere\"\n", "invalid"),
    ];
    for (toml, needle) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            format!(
                "data_dir = \"{}\"\n{toml}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let out = Command::new(bin())
            .args(["server", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{toml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{toml}: {err}");
    }
    let out = Command::new(bin())
        .args(["server", "--config", "/nonexistent/bulwark.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    // Nothing was created for a refused configuration.
    assert!(!dir.path().join("data").exists());
}

#[tokio::test]
async fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bulwark.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:1\"\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(bin())
        .args(["server", "--config"])
        .arg(&config)
        .env("BULWARK_LISTEN", "127.0.0.1:0")
        .env("BULWARK_TIMEZONE", "Europe/Berlin")
        .env("BULWARK_MODE", "DEV")
        .env("BULWARK_RETENTION__MINIMUM_EXPIRY", "60")
        .env("BULWARK_URL", "http://elsewhere:1") // another command's variable: ignored
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .trim_end_matches("/v1")
        .to_string();
    // A user, made on the host while the daemon runs, logs in.
    let password = bulwark_testkit::random_password();
    let mut add = Command::new(bin())
        .args([
            "user",
            "add",
            "ops",
            "--role",
            "admin",
            "--password-stdin",
            "--config",
        ])
        .arg(&config)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    assert!(add.wait().unwrap().success());
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"username": "ops", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let status: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["timezone"], "Europe/Berlin");
    assert_eq!(status["mode"], "dev");
    // The lowered minimum retention is in force.
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/retention"))
        .bearer_auth(&token)
        .json(&json!({"name": "short", "expires": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn dev_mode_fires_every_minute() {
    let d = TestDaemon::start_with(bin(), "mode = \"dev\"")
        .await
        .unwrap();
    let id = d
        .create(
            "/v1/schedules",
            &json!({"name": "monthly", "when": "monthly at 4am on 1st"}),
        )
        .await
        .unwrap();
    let s = d.get_ok(&format!("/v1/schedule/{id}")).await.unwrap();
    assert_eq!(
        (&s["when"], &s["canonical"]),
        (
            &json!("monthly at 4am on 1st"),
            &json!("monthly at 4:00 on 1st")
        ),
        "the schedule itself is kept"
    );
    let next =
        chrono::NaiveDateTime::parse_from_str(s["next_run"].as_str().unwrap(), "%Y-%m-%d %H:%M:%S")
            .unwrap();
    let now = chrono::Utc::now().naive_utc();
    let ahead = (next - now).num_seconds();
    assert!(
        (0..=60).contains(&ahead),
        "next run is within the minute: {ahead}s"
    );
}

#[tokio::test]
async fn minimum_expiry_is_enforced_by_default() {
    let d = TestDaemon::start(bin()).await.unwrap();
    assert_error(
        d.post("/v1/retention", &json!({"name": "x", "expires": 60}))
            .await
            .unwrap(),
        400,
        "at least 3600",
    );
}
