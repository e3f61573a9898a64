//! The CLI's first verbs (`status`, `list`, `show`) driven as a user would: the real binary
//! against a real daemon, over HTTP only.

use std::process::Command;

use bulwark_testkit::TestDaemon;
use serde_json::Value;

use crate::common::{bin, daemon, fixture};

/// Runs `bulwark ARGS --api URL`; returns (exit code, stdout, stderr).
fn cli(d: &TestDaemon, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .args(["--api", &d.base_url])
        .env_remove("BULWARK_API")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(d: &TestDaemon, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (code, out, err) = cli(d, &a);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn status_list_and_show_with_filters_names_and_prefixes() {
    let d = daemon().await;
    let a = fixture(&d, "alpha").await;
    let _b = fixture(&d, "beta").await;
    d.post_ok(&format!("/v1/job/{}/pause", a.job), &serde_json::json!({}))
        .await
        .unwrap();

    let (code, out, err) = cli(&d, &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is up"), "{out}");

    // Tables by default, JSON on request, the API's filters.
    let (code, out, _) = cli(&d, &["list", "targets"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("UUID"), "{out}");
    assert!(out.contains("alpha db") && out.contains("beta db"), "{out}");
    assert_eq!(
        names(&json(&d, &["list", "targets", "--plugin", "postgres"])),
        ["alpha db", "beta db"]
    );
    assert!(
        json(&d, &["list", "targets", "--plugin", "mysql"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(&json(&d, &["list", "schedules", "--used"])),
        ["alpha nightly", "beta nightly"]
    );
    assert!(
        json(&d, &["list", "schedules", "--unused"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(names(&json(&d, &["list", "jobs", "--paused"])).len(), 1);
    assert_eq!(names(&json(&d, &["list", "jobs", "--unpaused"])).len(), 1);
    let by_target = json(&d, &["list", "jobs", "--target", "alpha db"]);
    assert_eq!(by_target[0]["uuid"], a.job.as_str());
    let by_store = json(&d, &["list", "jobs", "--store", &a.store[..8]]);
    assert_eq!(by_store[0]["uuid"], a.job.as_str());
    assert_eq!(
        json(&d, &["list", "jobs", "--retention-policy", "alpha 7d"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(json(&d, &["list", "archives", "--after", "20260101"]).is_array());
    assert!(json(&d, &["list", "tasks", "--all"]).is_array());
    assert!(json(&d, &["list", "plugins"]).as_array().unwrap().len() >= 7);

    // Show by name, by UUID, by prefix; an ambiguous or unknown reference says so.
    let job = json(&d, &["show", "target", "alpha db"]);
    assert_eq!(job["uuid"], a.target.as_str());
    assert_eq!(json(&d, &["show", "target", &a.target])["name"], "alpha db");
    assert_eq!(
        json(&d, &["show", "store", &a.store[..6]])["name"],
        "alpha disk"
    );
    let (code, out, _) = cli(&d, &["show", "schedule", "alpha nightly"]);
    assert_eq!(code, 0);
    assert!(out.contains("daily at 4:00"), "{out}");
    let (code, _, err) = cli(&d, &["show", "target", "nothing-like-this"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), "bulwark: no target matches 'nothing-like-this'");
    let (code, _, err) = cli(&d, &["show", "target", ""]);
    assert_eq!(code, 1);
    assert!(
        err.contains("matches 2 targets") && err.contains("alpha db") && err.contains("beta db"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);

    // Bad input and an unreachable daemon: one line, non-zero.
    let (code, _, err) = cli(&d, &["list", "archives", "--after", "2026-01-01"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a day written YYYYMMDD"), "{err}");
    let out = Command::new(bin())
        .args(["status", "--api", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("bulwark: cannot reach the Bulwark daemon at http://127.0.0.1:9"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // The environment names the daemon when the flag does not.
    let out = Command::new(bin())
        .args(["list", "stores", "--json"])
        .env("BULWARK_API", &d.base_url)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stores: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stores.as_array().unwrap().len(), 2);
}
