//! Catalog tests that need the database underneath the public functions.

use crate::*;

pub(crate) async fn open() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let c = Catalog::open(&dir.path().join("c.db")).await.unwrap();
    (dir, c)
}

pub(crate) async fn target_and_store(
    c: &Catalog,
) -> (bulwark_core::ids::TargetId, bulwark_core::ids::StoreId) {
    let t = c
        .create_target(&TargetFields {
            name: "t".into(),
            summary: String::new(),
            plugin: "fs".into(),
            endpoint: "{}".into(),
            agent: "h:1".into(),
        })
        .await
        .unwrap();
    let s = c
        .create_store(
            &StoreFields {
                name: "s".into(),
                summary: String::new(),
                plugin: "fs".into(),
                endpoint: "{}".into(),
                prune_schedule: String::new(),
            },
            None,
        )
        .await
        .unwrap();
    (t, s)
}

async fn archive(
    c: &Catalog,
    t: bulwark_core::ids::TargetId,
    s: bulwark_core::ids::StoreId,
) -> bulwark_core::ids::ArchiveId {
    c.create_archive(&NewArchive {
        target: t,
        store: s,
        store_key: "k".into(),
        taken_at: 1,
        expires_at: 2,
        notes: String::new(),
        size: 0,
        uuid: None,
        job: None,
        format: crate::ArchiveFormat::Raw,
        added: None,
        origin: None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn migrations_apply_once_and_reopen_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let c = Catalog::open(&path).await.unwrap();
    assert_eq!(c.schema_version().await.unwrap(), 13);
    c.close().await;
    let c = Catalog::open(&path).await.unwrap();
    assert_eq!(c.schema_version().await.unwrap(), 13);
    c.health().await.unwrap();
}

#[tokio::test]
async fn foreign_keys_are_enforced_by_the_database() {
    let (_dir, c) = open().await;
    let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&c.pool)
        .await
        .unwrap();
    assert_eq!(on, 1);
    // A job pointing at nothing is refused by SQLite itself, not only by our checks.
    let err = sqlx::query(
        "INSERT INTO jobs (uuid, target_uuid, store_uuid, schedule_uuid, retention_uuid, name)
         VALUES ('j', 'no-t', 'no-s', 'no-sch', 'no-r', 'x')",
    )
    .execute(&c.pool)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");

    // A target with an archive cannot be removed underneath it.
    let (t, s) = target_and_store(&c).await;
    archive(&c, t, s).await;
    let err = sqlx::query("DELETE FROM targets WHERE uuid = ?")
        .bind(t.to_string())
        .execute(&c.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
}

#[tokio::test]
async fn purged_archives_do_not_keep_a_target_alive() {
    let (_dir, c) = open().await;
    let (t, s) = target_and_store(&c).await;
    let a = archive(&c, t, s).await;
    assert_eq!(
        c.delete_target(t).await.unwrap(),
        Deleted::InUse("1 archives".into())
    );
    let task = match c.request_archive_purge(a, "anon", 3).await.unwrap() {
        PurgeRequest::Queued(task) => task,
        other => panic!("{other:?}"),
    };
    // Still purging: the data may still be in the store.
    assert_eq!(
        c.delete_target(t).await.unwrap(),
        Deleted::InUse("1 archives".into())
    );
    sqlx::query("UPDATE archives SET status = 'purged' WHERE uuid = ?")
        .bind(a.to_string())
        .execute(&c.pool)
        .await
        .unwrap();
    assert_eq!(c.list_targets(None, Some(true)).await.unwrap().len(), 1);
    assert_eq!(c.delete_target(t).await.unwrap(), Deleted::Deleted);
    assert_eq!(c.get_archive(a).await.unwrap(), None);
    // The purge task's history stays, without the archive.
    let task = c.get_task(task).await.unwrap().unwrap();
    assert_eq!(task.archive, None);
    assert_eq!(c.delete_store(s).await.unwrap(), Deleted::Deleted);
}

#[tokio::test]
async fn a_corrupt_row_is_reported_not_guessed() {
    let (_dir, c) = open().await;
    let (t, s) = target_and_store(&c).await;
    let a = archive(&c, t, s).await;
    sqlx::query("UPDATE archives SET status = 'lost' WHERE uuid = ?")
        .bind(a.to_string())
        .execute(&c.pool)
        .await
        .unwrap();
    let err = c.get_archive(a).await.unwrap_err().to_string();
    assert!(err.contains("unreadable archive"), "{err}");
    assert_eq!(
        c.request_archive_purge(a, "x", 1)
            .await
            .unwrap_err()
            .to_string(),
        err
    );
}

/// A job on a new target (into `store`) with the given priority.
pub(crate) async fn job_with(
    c: &Catalog,
    store: bulwark_core::ids::StoreId,
    priority: i64,
) -> bulwark_core::ids::JobId {
    let (t, _) = target_and_store(c).await;
    let sch = c
        .create_schedule(&ScheduleFields {
            name: "s".into(),
            summary: String::new(),
            timespec: "daily at 4:00".into(),
            text: "daily at 4am".into(),
        })
        .await
        .unwrap();
    let r = c
        .create_retention(&RetentionFields {
            name: "r".into(),
            summary: String::new(),
            rules: bulwark_core::retention::Rules {
                expires: Some(3600),
                min_good: 1,
                ..Default::default()
            },
        })
        .await
        .unwrap();
    c.create_job(
        &JobFields {
            steps: "[]".into(),
            bandwidth: None,
            watch_settle: None,
            watch_min_interval: None,
            copies: Vec::new(),
            name: "j".into(),
            summary: String::new(),
            priority,
            target: t,
            store,
            schedule: sch,
            retention: r,
            rpo: None,
            drill_schedule: None,
            drill_target: None,
            retry: crate::RetryFields {
                retries: 0,
                retry_delay: 60,
                grace: None,
            },
        },
        false,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn waiting_tasks_climb_in_priority_with_aging() {
    let (_d, c) = open().await;
    let (_, store) = target_and_store(&c).await;
    let idle = job_with(&c, store, 100).await;
    let urgent = job_with(&c, store, 10).await;
    let old = c.request_backup(idle, "x", 0).await.unwrap().unwrap();
    let new = c.request_backup(urgent, "x", 1000).await.unwrap().unwrap();
    // Without aging the urgent one goes first; with a point per 10 s of waiting, the on-idle
    // task that waited 1000 s (100 - 100 = 0) overtakes it (10 - 0).
    let (_d2, c2) = open().await;
    let (_, store2) = target_and_store(&c2).await;
    let idle2 = job_with(&c2, store2, 100).await;
    let urgent2 = job_with(&c2, store2, 10).await;
    c2.request_backup(idle2, "x", 0).await.unwrap().unwrap();
    let new2 = c2
        .request_backup(urgent2, "x", 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.claim_next_task(1000).await.unwrap().unwrap().uuid, new2);
    assert_eq!(
        c.claim_next_task_aged(1000, 10)
            .await
            .unwrap()
            .unwrap()
            .uuid,
        old
    );
    assert_eq!(
        c.claim_next_task_aged(1000, 10)
            .await
            .unwrap()
            .unwrap()
            .uuid,
        new
    );
}

#[tokio::test]
async fn tasks_are_claimed_by_priority_then_age_one_per_target() {
    let (_d, c) = open().await;
    let (_, store) = target_and_store(&c).await;
    let low = job_with(&c, store, 90).await;
    let high = job_with(&c, store, 10).await;
    let a = c.request_backup(low, "x", 100).await.unwrap().unwrap();
    let b = c.request_backup(high, "x", 200).await.unwrap().unwrap();
    let b2 = c.request_backup(high, "x", 150).await.unwrap().unwrap();
    // Priority first; among equals, the oldest. b2 is older than b.
    let first = c.claim_next_task(300).await.unwrap().unwrap();
    assert_eq!(first.uuid, b2);
    assert_eq!(first.status, bulwark_core::state::TaskStatus::Running);
    assert_eq!(
        first.store,
        Some(store),
        "the store is recorded when a backup starts"
    );
    // b is on the same target as the running b2: it waits; the low-priority job goes next.
    let second = c.claim_next_task(300).await.unwrap().unwrap();
    assert_eq!(second.uuid, a);
    assert!(c.claim_next_task(300).await.unwrap().is_none());
    c.finish_task(b2, bulwark_core::state::TaskStatus::Done, "ok", 301)
        .await
        .unwrap();
    assert_eq!(c.claim_next_task(302).await.unwrap().unwrap().uuid, b);
    // A pending task canceled is never claimed.
    let e = c.request_backup(low, "x", 400).await.unwrap().unwrap();
    c.finish_task(a, bulwark_core::state::TaskStatus::Done, "ok", 401)
        .await
        .unwrap();
    c.cancel_task(e, 402).await.unwrap();
    assert!(c.claim_next_task(403).await.unwrap().is_none());
}

#[tokio::test]
async fn a_purge_and_a_prune_of_one_store_never_run_together() {
    use bulwark_core::state::{TaskOp, TaskStatus};
    let (_d, c) = open().await;
    let (t, store) = target_and_store(&c).await;
    let a = archive(&c, t, store).await;
    let b = archive(&c, t, store).await;
    // A purge runs: a prune of the same store waits for it.
    c.request_archive_purge(a, "x", 10).await.unwrap();
    let purge = c.claim_next_task(11).await.unwrap().unwrap();
    assert_eq!(purge.op, TaskOp::Purge);
    let prune = c
        .request_maintenance(store, TaskOp::Prune, "", "x", 12)
        .await
        .unwrap();
    assert!(
        c.claim_next_task(13).await.unwrap().is_none(),
        "the prune ran beside a purge"
    );
    c.finish_task(purge.uuid, TaskStatus::Done, "ok", 14)
        .await
        .unwrap();
    assert_eq!(c.claim_next_task(15).await.unwrap().unwrap().uuid, prune);
    // The prune runs: a purge of the same store waits for it.
    c.request_archive_purge(b, "x", 16).await.unwrap();
    assert!(
        c.claim_next_task(17).await.unwrap().is_none(),
        "a purge ran beside the prune"
    );
    c.finish_task(prune, TaskStatus::Done, "ok", 18)
        .await
        .unwrap();
    assert_eq!(
        c.claim_next_task(19).await.unwrap().unwrap().op,
        TaskOp::Purge
    );
}
