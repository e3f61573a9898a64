//! A job's copies in the catalog: queued with the archive, waiting as the queue rules say,
//! retried after a wait, and kept by their own policy.

use bulwark_core::state::{TaskOp, TaskStatus};

use crate::tests::{job_with, open, target_and_store};
use crate::*;

#[tokio::test]
async fn copies_are_queued_with_the_archive_and_kept_by_their_own_policy() {
    let (_d, c) = open().await;
    let (_, primary) = target_and_store(&c).await;
    let (_, second) = target_and_store(&c).await;
    let job = job_with(&c, primary, 40).await;
    let policy = c
        .create_retention(&RetentionFields {
            name: "copies".into(),
            summary: String::new(),
            rules: bulwark_core::retention::Rules {
                keep_last: Some(7),
                min_good: 1,
                ..Default::default()
            },
        })
        .await
        .unwrap();
    let j = c.get_job(job).await.unwrap().unwrap();
    let mut fields = JobFields {
        name: j.name.clone(),
        summary: String::new(),
        priority: j.priority,
        target: j.target.uuid,
        store: primary,
        schedule: j.schedule.uuid,
        retention: j.retention.uuid,
        rpo: None,
        drill_schedule: None,
        drill_target: None,
        retry: j.retry,
        steps: "[]".into(),
        bandwidth: None,
        watch_settle: None,
        watch_min_interval: None,
        copies: vec![CopyFields {
            store: second,
            retention: policy,
            retries: 2,
            retry_delay: 10,
        }],
    };
    c.update_job(job, &fields).await.unwrap();
    let j = c.get_job(job).await.unwrap().unwrap();
    assert_eq!(j.copies.len(), 1);
    assert_eq!(j.copies[0].store.uuid, second);
    assert_eq!(j.copies[0].retries, 2);
    assert_eq!(
        c.list_jobs(&JobFilter::default()).await.unwrap()[0].copies,
        j.copies
    );
    // What a copy uses cannot be deleted underneath it.
    assert!(matches!(
        c.delete_store(second).await.unwrap(),
        Deleted::InUse(_)
    ));
    assert!(matches!(
        c.delete_retention(policy).await.unwrap(),
        Deleted::InUse(_)
    ));

    // The backup's archive comes with a copy task into the second store.
    let backup = c.request_backup(job, "system", 100).await.unwrap().unwrap();
    let claimed = c.claim_next_task(100).await.unwrap().unwrap();
    assert_eq!(claimed.uuid, backup);
    let origin = c
        .complete_backup(backup, &new_archive(&j, primary, None), false, "Done.", 101)
        .await
        .unwrap();
    let copy = c.claim_next_task(102).await.unwrap().unwrap();
    assert_eq!(copy.op, TaskOp::Copy);
    assert_eq!((copy.archive, copy.store), (Some(origin), Some(second)));
    assert_eq!((copy.priority, copy.attempt, copy.run_after), (40, 0, None));

    // It failed: the retry waits for its time.
    c.finish_task(copy.uuid, TaskStatus::Failed, "Failed.", 103)
        .await
        .unwrap();
    let retry = c.retry_copy(&copy, 200, 103).await.unwrap().unwrap();
    assert_eq!(c.claim_next_task(150).await.unwrap(), None);
    // A check of the store it reads from holds it back too.
    let check = c
        .request_maintenance(primary, TaskOp::Check, "", "system", 190)
        .await
        .unwrap();
    assert_eq!(c.claim_next_task(195).await.unwrap().unwrap().uuid, check);
    assert_eq!(c.claim_next_task(200).await.unwrap(), None);
    c.finish_task(check, TaskStatus::Done, "Done.", 201)
        .await
        .unwrap();
    let again = c.claim_next_task(202).await.unwrap().unwrap();
    assert_eq!((again.uuid, again.attempt), (retry, 1));

    // While it runs, a purge of its origin waits.
    let PurgeRequest::Queued(purge) = c.request_archive_purge(origin, "x", 203).await.unwrap()
    else {
        panic!("no purge queued");
    };
    assert_eq!(c.claim_next_task(203).await.unwrap(), None);
    let made = c
        .complete_copy(
            again.uuid,
            &new_archive(&j, second, Some(origin)),
            "Done.",
            204,
        )
        .await
        .unwrap();
    assert_eq!(c.claim_next_task(205).await.unwrap().unwrap().uuid, purge);
    assert_eq!(
        c.get_archive(made).await.unwrap().unwrap().origin,
        Some(origin)
    );
    assert_eq!(c.copies_of_archive(origin).await.unwrap(), vec![made]);
    // The copy task still names what it copied.
    assert_eq!(
        c.get_task(again.uuid).await.unwrap().unwrap().archive,
        Some(origin)
    );

    // The copy is decided by the copy's policy, in a group of its own.
    let members = c.retention_members(Some(job), None).await.unwrap();
    let m = members.iter().find(|m| m.item.id == made).unwrap();
    assert_eq!(m.rules.keep_last, Some(7));
    // Once the job stops copying there, the copy keeps those rules.
    fields.copies.clear();
    c.update_job(job, &fields).await.unwrap();
    let kept = c.get_archive(made).await.unwrap().unwrap().rules.unwrap();
    assert_eq!(kept.keep_last, Some(7));
    assert_eq!(c.delete_retention(policy).await.unwrap(), Deleted::Deleted);
}

fn new_archive(
    j: &Job,
    store: bulwark_core::ids::StoreId,
    origin: Option<bulwark_core::ids::ArchiveId>,
) -> NewArchive {
    NewArchive {
        job: Some(j.uuid),
        uuid: None,
        format: ArchiveFormat::Raw,
        added: None,
        target: j.target.uuid,
        store,
        store_key: "k".into(),
        taken_at: 100,
        expires_at: 1000,
        notes: String::new(),
        size: 1,
        origin,
    }
}
