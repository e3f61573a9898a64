//! Archives: list filters, show, annotate, delete (purge request) and restore. Archives are made
//! by backups, which this daemon does not run yet, so the tests record them in the catalog
//! directly while the daemon is stopped.

use bulwark_catalog::Catalog;
use bulwark_testkit::TestDaemon;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::common::{
    Fixture, HOLD_TASKS, assert_error, bin, fixture, record_archive, snapshot, uuids,
};

struct World {
    d: TestDaemon,
    a: Fixture,
    b: Fixture,
    /// Archives of a's target in a's store, taken on 2015-10-24, 10-25 and 10-26 at 11:32 UTC.
    a_archives: Vec<String>,
    /// One archive of b's target in b's store, taken on 2015-10-25.
    b_archive: String,
    _dir: tempfile::TempDir,
}

fn at(day: u32) -> i64 {
    Utc.with_ymd_and_hms(2015, 10, day, 11, 32, 0)
        .unwrap()
        .timestamp()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut d = TestDaemon::start_in(bin(), dir.path(), HOLD_TASKS)
        .await
        .unwrap();
    let a = fixture(&d, "a").await;
    let b = fixture(&d, "b").await;
    d.stop().unwrap();

    let catalog = Catalog::open(&d.data_dir().join("catalog.db"))
        .await
        .unwrap();
    let record = async |f: &Fixture, day: u32, key: &str| {
        record_archive(&catalog, f, key, at(day), at(day) + 86400).await
    };
    let mut a_archives = Vec::new();
    for day in [24, 25, 26] {
        a_archives.push(record(&a, day, &format!("key-a-{day}")).await);
    }
    let b_archive = record(&b, 25, "key-b-25").await;
    catalog.close().await;

    d.restart().unwrap();
    World {
        d,
        a,
        b,
        a_archives,
        b_archive,
        _dir: dir,
    }
}

#[tokio::test]
async fn list_and_filters() {
    let w = world().await;
    let d = &w.d;
    let all = d.get_ok("/v1/archives").await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
    // Newest first.
    let first = &all[0];
    assert_eq!(first["uuid"], w.a_archives[2].as_str());
    assert_eq!(first["taken_at"], "2015-10-26 11:32:00");
    // Long past its expiry, the job's newest archive is held by min_good: it goes only when a
    // newer one arrives.
    assert_eq!(first["expires_at"], serde_json::Value::Null);
    assert_eq!(first["kept_by"], serde_json::json!(["min_good"]));
    assert_eq!(first["store_key"], "key-a-26");
    assert_eq!(first["status"], "valid");
    assert_eq!(first["notes"], "");
    assert_eq!(first["store_plugin"], "fs");
    assert_eq!(first["target_plugin"], "postgres");
    assert_eq!(first["target_uuid"], w.a.target.as_str());
    assert_eq!(first["store_uuid"], w.a.store.as_str());
    assert!(
        !all.to_string().contains("hunter2"),
        "archive list leaks a secret"
    );

    let q = |query: &str| {
        let query = query.to_string();
        async move { uuids(&d.get_ok(&format!("/v1/archives?{query}")).await.unwrap()) }
    };
    let a = &w.a_archives;
    assert_eq!(
        q(&format!("target={}", w.a.target)).await,
        vec![a[2].clone(), a[1].clone(), a[0].clone()]
    );
    assert_eq!(
        q(&format!("store={}", w.b.store)).await,
        vec![w.b_archive.clone()]
    );
    // after is inclusive of the day, before is exclusive.
    assert_eq!(
        q(&format!("target={}&after=20151025", w.a.target)).await,
        vec![a[2].clone(), a[1].clone()]
    );
    assert_eq!(
        q(&format!("target={}&before=20151025", w.a.target)).await,
        vec![a[0].clone()]
    );
    assert_eq!(q("after=20151025&before=20151026").await.len(), 2);
    assert_eq!(q("after=20151027").await, Vec::<String>::new());
    assert_eq!(q("status=valid").await.len(), 4);
    assert_eq!(q("status=purged").await, Vec::<String>::new());

    for bad in [
        "after=2015-10-25",
        "before=20151345",
        "target=nope",
        "status=gone",
        "colour=red",
    ] {
        let (status, body) = d.get(&format!("/v1/archives?{bad}")).await.unwrap();
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn show_and_annotate() {
    let w = world().await;
    let d = &w.d;
    let id = &w.a_archives[1];
    let path = format!("/v1/archive/{id}");
    let a = d.get_ok(&path).await.unwrap();
    assert_eq!(a["store_key"], "key-a-25");
    assert_eq!(
        d.put(&path, &json!({"notes": "before change #422"}))
            .await
            .unwrap(),
        (200, json!({"ok": "updated"}))
    );
    assert_eq!(
        d.get_ok(&path).await.unwrap()["notes"],
        "before change #422"
    );

    let before = snapshot(d).await;
    assert_error(
        d.put(&path, &json!({})).await.unwrap(),
        400,
        "missing field `notes`",
    );
    assert_error(
        d.put(&path, &json!({"notes": "x", "name": "y"}))
            .await
            .unwrap(),
        400,
        "unknown field",
    );
    assert_error(
        d.put(
            &format!("/v1/archive/{}", uuid::Uuid::new_v4()),
            &json!({"notes": "x"}),
        )
        .await
        .unwrap(),
        404,
        "does not exist",
    );
    assert_eq!(snapshot(d).await, before);
}

#[tokio::test]
async fn delete_requests_a_purge() {
    let w = world().await;
    let d = &w.d;
    let id = &w.a_archives[0];
    let path = format!("/v1/archive/{id}");
    assert_eq!(
        d.delete(&path).await.unwrap(),
        (200, json!({"ok": "deleted"}))
    );
    let a = d.get_ok(&path).await.unwrap();
    assert_eq!(a["status"], "purging");
    let tasks = d.get_ok("/v1/tasks").await.unwrap();
    let purge: Vec<&Value> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "purge")
        .collect();
    assert_eq!(purge.len(), 1);
    assert_eq!(purge[0]["archive_uuid"], id.as_str());
    assert_eq!(purge[0]["status"], "pending");
    assert_eq!(
        uuids(&d.get_ok("/v1/archives?status=purging").await.unwrap()),
        vec![id.clone()]
    );

    let before = snapshot(d).await;
    assert_error(d.delete(&path).await.unwrap(), 409, "already purging");
    assert_error(
        d.post(&format!("{path}/restore"), &Value::Null)
            .await
            .unwrap(),
        409,
        "no longer in the store",
    );
    assert_error(
        d.delete(&format!("/v1/archive/{}", uuid::Uuid::new_v4()))
            .await
            .unwrap(),
        404,
        "does not exist",
    );
    assert_eq!(snapshot(d).await, before);
}

#[tokio::test]
async fn restore_queues_a_pending_task() {
    let w = world().await;
    let d = &w.d;
    let id = &w.a_archives[2];
    // To its own target by default.
    let body = d
        .post_ok(&format!("/v1/archive/{id}/restore"), &Value::Null)
        .await
        .unwrap();
    assert_eq!(body["ok"], "scheduled");
    let t = d
        .get_ok(&format!("/v1/task/{}", body["task_uuid"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(t["type"], "restore");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["owner"], "admin", "the caller owns what it asks for");
    assert_eq!(t["archive_uuid"], id.as_str());
    assert_eq!(t["target_uuid"], w.a.target.as_str());
    assert_eq!(t["job_uuid"], Value::Null);

    // To another target, by someone.
    let body = d
        .post_ok(
            &format!("/v1/archive/{id}/restore"),
            &json!({"target": w.b.target, "owner": "bob"}),
        )
        .await
        .unwrap();
    let t = d
        .get_ok(&format!("/v1/task/{}", body["task_uuid"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(t["target_uuid"], w.b.target.as_str());
    assert_eq!(t["owner"], "bob");

    let before = snapshot(d).await;
    assert_error(
        d.post(
            &format!("/v1/archive/{id}/restore"),
            &json!({"target": uuid::Uuid::new_v4()}),
        )
        .await
        .unwrap(),
        400,
        "does not exist",
    );
    assert_error(
        d.post(
            &format!("/v1/archive/{id}/restore"),
            &json!({"target": "not-a-uuid"}),
        )
        .await
        .unwrap(),
        400,
        "invalid request body at 'target'",
    );
    assert_error(
        d.post(
            &format!("/v1/archive/{}/restore", uuid::Uuid::new_v4()),
            &Value::Null,
        )
        .await
        .unwrap(),
        404,
        "does not exist",
    );
    assert_eq!(snapshot(d).await, before);
}

#[tokio::test]
async fn archives_keep_their_target_and_store() {
    let w = world().await;
    let d = &w.d;
    // Without its job, b's target and store are still used by b's archive.
    assert_eq!(
        d.delete(&format!("/v1/job/{}", w.b.job)).await.unwrap().0,
        200
    );
    assert!(!uuids(&d.get_ok("/v1/targets?unused=t").await.unwrap()).contains(&w.b.target));
    assert_error(
        d.delete(&format!("/v1/target/{}", w.b.target))
            .await
            .unwrap(),
        409,
        "1 archives",
    );
    assert_error(
        d.delete(&format!("/v1/store/{}", w.b.store)).await.unwrap(),
        409,
        "1 archives",
    );
    // Once the archive is being purged it still holds data in the store: still in use.
    assert_eq!(
        d.delete(&format!("/v1/archive/{}", w.b_archive))
            .await
            .unwrap()
            .0,
        200
    );
    assert_error(
        d.delete(&format!("/v1/store/{}", w.b.store)).await.unwrap(),
        409,
        "1 archives",
    );
}
