//! The web UI in a real browser: `tests/fixtures/browser/suite.py` drives Debian's chromium
//! through chromedriver (Selenium) against a daemon this test seeds through the API: sign in,
//! run a job and watch its log grow without a reload, cancel a long task, restore into another
//! target after the review, restore in place with the keyboard alone, and a viewer offered no
//! action. Screenshots of every screen land in `target/ui-shots/`. The files are checked on
//! disk here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::engine::{backup_archive, engine_daemon, wire};
use crate::servers::have;

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/browser/suite.py")
}

/// Where the screenshots go.
pub(crate) fn shots() -> PathBuf {
    std::env::var_os("BULWARK_UI_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-shots"))
}

fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("orders.csv"), "id,total\n1,10\n2,20\n").unwrap();
    std::fs::write(dir.join("docs/readme.txt"), "keep me").unwrap();
}

/// Gives a job, and its target and store, names a person would (for the screenshots).
async fn rename(d: &bulwark_testkit::TestDaemon, job: &str, name: &str, target: &str, store: &str) {
    let j = d.get_ok(&format!("/v1/job/{job}")).await.unwrap();
    let body = json!({"name": name, "summary": "", "store": j["store_uuid"], "target": j["target_uuid"],
        "retention": j["retention_uuid"], "schedule": j["schedule_uuid"]});
    assert_eq!(
        d.put(&format!("/v1/job/{job}"), &body).await.unwrap().0,
        200
    );
    let t = d
        .get_ok(&format!(
            "/v1/target/{}",
            j["target_uuid"].as_str().unwrap()
        ))
        .await
        .unwrap();
    let body = json!({"name": target, "summary": "", "plugin": t["plugin"], "endpoint": t["endpoint"], "agent": t["agent"]});
    assert_eq!(
        d.put(
            &format!("/v1/target/{}", t["uuid"].as_str().unwrap()),
            &body
        )
        .await
        .unwrap()
        .0,
        200
    );
    let st = d
        .get_ok(&format!("/v1/store/{}", j["store_uuid"].as_str().unwrap()))
        .await
        .unwrap();
    let body =
        json!({"name": store, "summary": "", "plugin": st["plugin"], "endpoint": st["endpoint"]});
    let (status, b) = d
        .put(
            &format!("/v1/store/{}", st["uuid"].as_str().unwrap()),
            &body,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{b}");
}

#[tokio::test]
async fn the_ui_in_a_real_browser() {
    if !have("/usr/bin/chromium", "chromium")
        || !have("/usr/bin/chromedriver", "chromium-driver")
        || !have("/usr/bin/python3", "python3-selenium")
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree(&src);
    let d = engine_daemon("").await;
    let sleepy = wire(
        &d,
        ("shtarget", json!({"base_dir": src, "mode": "sleepy"})),
        ("fs", json!({"base_dir": work.path().join("b1")})),
        3600,
    )
    .await;
    let slow = wire(
        &d,
        ("shtarget", json!({"base_dir": src, "mode": "slow"})),
        ("fs", json!({"base_dir": work.path().join("b2")})),
        3600,
    )
    .await;
    let files = wire(
        &d,
        ("fs", json!({"base_dir": src})),
        ("fs", json!({"base_dir": work.path().join("b3")})),
        3600,
    )
    .await;
    rename(
        &d,
        &sleepy.job,
        "orders-db nightly",
        "orders-db",
        "local disk",
    )
    .await;
    rename(&d, &slow.job, "media hourly", "media", "archive disk").await;
    rename(
        &d,
        &files.job,
        "web-files nightly",
        "web-files",
        "backup disk",
    )
    .await;
    let archive = backup_archive(&d, &files.job).await;
    let copy = work.path().join("copy");
    let copy_target = d
        .create("/v1/targets", &json!({"name": "orders copy", "plugin": "fs", "endpoint": {"base_dir": copy}, "agent": "127.0.0.1:1"}))
        .await
        .unwrap();
    d.add_user("watcher", "viewer", &[], "watcher pw 123456")
        .unwrap();
    let own = d
        .get_ok(&format!("/v1/target/{}", files.target))
        .await
        .unwrap();
    // The in-place restore must bring back what changes after the backup.
    std::fs::write(src.join("orders.csv"), "scribbled over").unwrap();
    let shots = shots();
    std::fs::create_dir_all(&shots).unwrap();
    let profile = work.path().join("profile");
    let sleepy_retention =
        d.get_ok(&format!("/v1/job/{}", sleepy.job)).await.unwrap()["retention_uuid"].clone();
    let env = json!({
        "sleepy_retention": sleepy_retention,
        "base": d.base_url, "shots": shots, "profile": profile,
        "admin": "admin", "admin_password": d.admin_password,
        "viewer": "watcher", "viewer_password": "watcher pw 123456",
        "sleepy_job": sleepy.job, "slow_job": slow.job, "archive": archive["uuid"],
        "copy_target": copy_target, "copy_name": "orders copy", "own_name": own["name"],
        "new_target_dir": src, "new_store_dir": work.path().join("b4"),
    });
    let out = Command::new("/usr/bin/python3")
        .arg(suite())
        .env("SUITE", env.to_string())
        .env("SE_OFFLINE", "true")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("every step passed"), "{said}");
    assert_eq!(
        std::fs::read_to_string(copy.join("orders.csv")).unwrap(),
        "id,total\n1,10\n2,20\n"
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("docs/readme.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(
        std::fs::read_to_string(src.join("orders.csv")).unwrap(),
        "id,total\n1,10\n2,20\n",
        "the keyboard restore put the archive back in place"
    );
    for name in [
        "dashboard",
        "job",
        "task",
        "restore-review",
        "archives",
        "viewer-job",
    ] {
        for width in [1280, 390] {
            assert!(
                shots.join(format!("{name}-{width}.png")).exists(),
                "{name}-{width}"
            );
        }
    }
}
