//! Tasks: list with filters, show, cancel.

use serde_json::{Value, json};

use crate::common::{assert_error, daemon, fixture, snapshot, uuids};

#[tokio::test]
async fn list_filter_and_cancel() {
    let d = daemon().await;
    let f = fixture(&d, "t").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let body = d
            .post_ok(&format!("/v1/job/{}/run", f.job), &Value::Null)
            .await
            .unwrap();
        ids.push(body["task_uuid"].as_str().unwrap().to_string());
    }
    assert_eq!(
        d.get_ok("/v1/tasks")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        d.get_ok("/v1/tasks?status=pending")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(d.get_ok("/v1/tasks?status=done").await.unwrap(), json!([]));
    assert_eq!(
        d.get_ok("/v1/tasks?limit=2")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        d.get_ok("/v1/tasks?debug")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    assert_eq!(
        d.delete(&format!("/v1/task/{}", ids[0])).await.unwrap(),
        (200, json!({"ok": "canceled"}))
    );
    let t = d.get_ok(&format!("/v1/task/{}", ids[0])).await.unwrap();
    assert_eq!(t["status"], "canceled");
    assert!(t["stopped_at"].is_string());
    assert!(
        t["log"]
            .as_str()
            .unwrap()
            .contains("Canceled before it started.")
    );
    assert_eq!(
        uuids(&d.get_ok("/v1/tasks?status=canceled").await.unwrap()),
        vec![ids[0].clone()]
    );
    assert_eq!(
        d.get_ok("/v1/tasks?status=pending")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let before = snapshot(&d).await;
    assert_error(
        d.delete(&format!("/v1/task/{}", ids[0])).await.unwrap(),
        409,
        "already canceled",
    );
    assert_error(
        d.delete(&format!("/v1/task/{}", uuid::Uuid::new_v4()))
            .await
            .unwrap(),
        404,
        "does not exist",
    );
    assert_error(
        d.get(&format!("/v1/task/{}", uuid::Uuid::new_v4()))
            .await
            .unwrap(),
        404,
        "does not exist",
    );
    assert_error(
        d.get("/v1/task/xyz").await.unwrap(),
        400,
        "not a valid task UUID",
    );
    assert_error(
        d.get("/v1/tasks?status=finished").await.unwrap(),
        400,
        "expected one of: pending, running",
    );
    assert_error(d.get("/v1/tasks?limit=-1").await.unwrap(), 400, "limit");
    assert_eq!(snapshot(&d).await, before);
}
