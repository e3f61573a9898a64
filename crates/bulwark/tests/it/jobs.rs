//! Jobs: the joined fields, filters, pause and unpause, run, and in-use protection.

use serde_json::{Value, json};

use crate::common::{assert_error, daemon, fixture, snapshot, uuids};

#[tokio::test]
async fn job_show_carries_joined_fields() {
    let d = daemon().await;
    let f = fixture(&d, "j").await;
    let mut j = d.get_ok(&format!("/v1/job/{}", f.job)).await.unwrap();
    // When it runs next moves with the clock.
    assert!(j["next_run"].is_string(), "{j}");
    j.as_object_mut().unwrap().remove("next_run");
    let mut want = json!({
        "uuid": f.job, "name": "j job", "summary": "", "priority": 50, "paused": false,
        "retention_name": "j 7d", "retention_uuid": f.retention, "expiry": 604800,
        "schedule_name": "j nightly", "schedule_uuid": f.schedule, "schedule": "daily at 4:00",
        "store_uuid": f.store, "store_name": "j disk", "store_plugin": "fs",
        "store_endpoint": "{\"base_dir\":\"/srv/backups\"}",
        "target_uuid": f.target, "target_name": "j db", "target_plugin": "postgres",
        "target_endpoint": "{\"host\":\"db\",\"password\":\"<redacted>\"}",
        "agent": "127.0.0.1:5444",
        "rpo": null, "effective_rpo": 2 * 86400, "health": "never",
        "last_run": null, "last_success": null,
        "drill_schedule": null, "drill_schedule_uuid": null, "drill_target_name": null,
        "drill_target_uuid": null, "next_drill": null, "last_verified": null, "rto": null,
        "last_drill": null, "retention_rules": "for 1w, at least 1 left",
        "retries": 0, "retry_delay": 60, "grace": null, "retry_attempt": 0, "next_retry": null,
        "skipped_runs": 0, "last_skipped": null,
    });
    want["steps"] = json!([]);
    want["bandwidth"] = Value::Null;
    want["watch"] = Value::Null;
    want["copies"] = json!([]);
    assert_eq!(j, want);
    let mut list = d.get_ok("/v1/jobs").await.unwrap();
    list[0].as_object_mut().unwrap().remove("next_run");
    assert_eq!(list, json!([want]));
    assert!(!list.to_string().contains("hunter2"));
}

#[tokio::test]
async fn job_update_pause_unpause_delete() {
    let d = daemon().await;
    let f = fixture(&d, "u").await;
    let g = fixture(&d, "v").await;
    let path = format!("/v1/job/{}", f.job);

    // Move the job onto the other fixture's resources.
    let (status, body) = d
        .put(
            &path,
            &json!({"name": "moved", "summary": "now elsewhere", "store": g.store, "target": g.target,
                    "retention": g.retention, "schedule": g.schedule, "priority": 10}),
        )
        .await
        .unwrap();
    // A new policy: the answer says what it would purge (the job has no archives).
    assert_eq!(
        (status, body),
        (200, json!({"ok": "updated", "would_purge": []}))
    );
    let j = d.get_ok(&path).await.unwrap();
    assert_eq!(j["name"], "moved");
    assert_eq!(j["summary"], "now elsewhere");
    assert_eq!(j["store_uuid"], g.store.as_str());
    assert_eq!(j["target_uuid"], g.target.as_str());
    assert_eq!(j["retention_uuid"], g.retention.as_str());
    assert_eq!(j["schedule_uuid"], g.schedule.as_str());
    assert_eq!(j["priority"], 10);
    // f's resources are now unused.
    assert!(uuids(&d.get_ok("/v1/schedules?unused=t").await.unwrap()).contains(&f.schedule));

    assert_eq!(
        d.post(&format!("{path}/pause"), &Value::Null)
            .await
            .unwrap(),
        (200, json!({"ok": "paused"}))
    );
    assert_eq!(d.get_ok(&path).await.unwrap()["paused"], true);
    assert_eq!(
        d.post(&format!("{path}/unpause"), &Value::Null)
            .await
            .unwrap(),
        (200, json!({"ok": "unpaused"}))
    );
    assert_eq!(d.get_ok(&path).await.unwrap()["paused"], false);

    let (status, _) = d.delete(&path).await.unwrap();
    assert_eq!(status, 200);
    assert_error(d.get(&path).await.unwrap(), 404, "does not exist");
    assert_error(
        d.post(&format!("{path}/pause"), &Value::Null)
            .await
            .unwrap(),
        404,
        "does not exist",
    );
}

#[tokio::test]
async fn job_filters() {
    let d = daemon().await;
    let a = fixture(&d, "a").await;
    let b = fixture(&d, "b").await;
    // A third job sharing a's target and b's store, paused from the start.
    let c = d
        .create(
            "/v1/jobs",
            &json!({"name": "c job", "store": b.store, "target": a.target, "retention": a.retention,
                    "schedule": b.schedule, "paused": true, "priority": 0}),
        )
        .await
        .unwrap();
    let q = |query: String| {
        let d = &d;
        async move {
            let mut v = uuids(&d.get_ok(&format!("/v1/jobs?{query}")).await.unwrap());
            v.sort();
            v
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        q(format!("target={}", a.target)).await,
        sorted(vec![a.job.clone(), c.clone()])
    );
    assert_eq!(
        q(format!("store={}", b.store)).await,
        sorted(vec![b.job.clone(), c.clone()])
    );
    assert_eq!(
        q(format!("schedule={}", a.schedule)).await,
        vec![a.job.clone()]
    );
    assert_eq!(
        q(format!("retention={}", a.retention)).await,
        sorted(vec![a.job.clone(), c.clone()])
    );
    assert_eq!(q("paused=t".into()).await, vec![c.clone()]);
    assert_eq!(
        q("paused=f".into()).await,
        sorted(vec![a.job.clone(), b.job.clone()])
    );
    assert_eq!(
        q(format!("target={}&paused=f", a.target)).await,
        vec![a.job.clone()]
    );
    assert_eq!(
        q(format!("target={}&store={}", b.target, a.store)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        d.get_ok(&format!("/v1/job/{c}")).await.unwrap()["priority"],
        0
    );
}

#[tokio::test]
async fn run_queues_a_pending_backup_task() {
    let d = daemon().await;
    let f = fixture(&d, "r").await;
    let (status, body) = d
        .post(&format!("/v1/job/{}/run", f.job), &Value::Null)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], "scheduled");
    let task = body["task_uuid"].as_str().unwrap().to_string();
    let t = d.get_ok(&format!("/v1/task/{task}")).await.unwrap();
    assert_eq!(t["owner"], "admin", "the caller owns what it asks for");
    assert_eq!(t["type"], "backup");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["job_uuid"], f.job.as_str());
    assert_eq!(t["target_uuid"], f.target.as_str());
    assert_eq!(t["archive_uuid"], Value::Null);
    assert_eq!(t["started_at"], Value::Null);
    assert!(t["requested_at"].as_str().unwrap().len() == 19);

    // A named owner, and a paused job can still be run by hand.
    d.post_ok(&format!("/v1/job/{}/pause", f.job), &Value::Null)
        .await
        .unwrap();
    let body = d
        .post_ok(
            &format!("/v1/job/{}/run", f.job),
            &json!({"owner": "alice"}),
        )
        .await
        .unwrap();
    let t = d
        .get_ok(&format!("/v1/task/{}", body["task_uuid"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(t["owner"], "alice");

    let before = snapshot(&d).await;
    assert_error(
        d.post(
            &format!("/v1/job/{}/run", uuid::Uuid::new_v4()),
            &Value::Null,
        )
        .await
        .unwrap(),
        404,
        "does not exist",
    );
    assert_error(
        d.post(&format!("/v1/job/{}/run", f.job), &json!({"owner": 7}))
            .await
            .unwrap(),
        400,
        "owner",
    );
    assert_error(
        d.post(&format!("/v1/job/{}/run", f.job), &json!({"who": "x"}))
            .await
            .unwrap(),
        400,
        "unknown field",
    );
    assert_eq!(snapshot(&d).await, before);
}

#[tokio::test]
async fn resources_in_use_cannot_be_deleted() {
    let d = daemon().await;
    let f = fixture(&d, "x").await;
    let before = snapshot(&d).await;
    for (path, id) in [
        ("schedule", &f.schedule),
        ("retention", &f.retention),
        ("target", &f.target),
        ("store", &f.store),
    ] {
        assert_error(
            d.delete(&format!("/v1/{path}/{id}")).await.unwrap(),
            409,
            "still used by 1 jobs",
        );
    }
    assert_eq!(
        snapshot(&d).await,
        before,
        "a refused delete changes nothing"
    );

    // A job with a pending task cannot be deleted until the task is canceled.
    let task = d
        .post_ok(&format!("/v1/job/{}/run", f.job), &Value::Null)
        .await
        .unwrap();
    let task = task["task_uuid"].as_str().unwrap();
    assert_error(
        d.delete(&format!("/v1/job/{}", f.job)).await.unwrap(),
        409,
        "pending or running tasks",
    );
    assert_eq!(d.delete(&format!("/v1/task/{task}")).await.unwrap().0, 200);
    assert_eq!(
        d.delete(&format!("/v1/job/{}", f.job)).await.unwrap().0,
        200
    );
    // The task history stays, without the job.
    let t = d.get_ok(&format!("/v1/task/{task}")).await.unwrap();
    assert_eq!(t["status"], "canceled");
    assert_eq!(t["job_uuid"], Value::Null);

    // Now everything the job used is free.
    for (path, id) in [
        ("schedule", &f.schedule),
        ("retention", &f.retention),
        ("target", &f.target),
        ("store", &f.store),
    ] {
        assert_eq!(
            d.delete(&format!("/v1/{path}/{id}")).await.unwrap().0,
            200,
            "{path}"
        );
    }
}
