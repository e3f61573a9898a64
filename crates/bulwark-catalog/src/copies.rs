//! A job's copies: the further stores each new archive of the job goes to, the copy tasks that
//! take it there, and their retries.
//!
//! A copy task names the archive it copies (`archive_uuid`, the origin) and the store it copies
//! into (`store_uuid`). The archive it makes is an ordinary archive of the job in that store,
//! with `origin_uuid` set, kept by the copy's own retention policy.

use std::collections::HashMap;

use sqlx::Row;

use bulwark_core::ids::{ArchiveId, JobId, TaskId};

use crate::archives::insert_archive;
use crate::records::*;
use crate::resources::{retention_cols, store_cols};
use crate::{Catalog, CatalogError, Result, count, parse_id};

/// A policy's rules as JSON, as an archive keeps them once no live policy decides for it.
macro_rules! rules_json {
    () => {
        "json_object('expires', CASE WHEN r.expiry_set THEN r.expiry END,
            'keep_last', r.keep_last, 'keep_hourly', r.keep_hourly, 'keep_daily', r.keep_daily,
            'keep_weekly', r.keep_weekly, 'keep_monthly', r.keep_monthly,
            'keep_yearly', r.keep_yearly, 'keep_within', r.keep_within, 'min_good', r.min_good)"
    };
}

/// When a job is deleted, the archives copied for it keep their copy's rules as they are then
/// (run before the job's own rules are kept for the rest).
pub(crate) const KEEP_RULES_OF_DELETED_COPIES: &str = concat!(
    "UPDATE archives SET rules = (SELECT ",
    rules_json!(),
    " FROM job_copies c JOIN retention r ON r.uuid = c.retention_uuid
       WHERE c.job_uuid = archives.job_uuid AND c.store_uuid = archives.store_uuid)
    WHERE job_uuid = ?1 AND origin_uuid IS NOT NULL AND rules IS NULL
      AND store_uuid IN (SELECT store_uuid FROM job_copies WHERE job_uuid = ?1)"
);

/// As [`KEEP_RULES_OF_DELETED_COPIES`], for the copies an update drops (the stores not in the
/// JSON array `?2`).
const KEEP_RULES_OF_DROPPED_COPIES: &str = concat!(
    "UPDATE archives SET rules = (SELECT ",
    rules_json!(),
    " FROM job_copies c JOIN retention r ON r.uuid = c.retention_uuid
       WHERE c.job_uuid = archives.job_uuid AND c.store_uuid = archives.store_uuid)
    WHERE job_uuid = ?1 AND origin_uuid IS NOT NULL AND rules IS NULL
      AND store_uuid IN (SELECT store_uuid FROM job_copies WHERE job_uuid = ?1
                           AND store_uuid NOT IN (SELECT value FROM json_each(?2)))"
);

const COPY_SELECT: &str = "SELECT c.job_uuid, c.retries, c.retry_delay,
        st.uuid AS st_uuid, st.name AS st_name, st.summary AS st_summary,
        st.plugin AS st_plugin, st.endpoint AS st_endpoint, st.secret AS st_secret,
        st.prune_schedule AS st_prune_schedule,
        r.uuid AS r_uuid, r.name AS r_name, r.summary AS r_summary, r.expiry AS r_expiry,
        r.expiry_set AS r_expiry_set, r.keep_last AS r_keep_last, r.keep_hourly AS r_keep_hourly,
        r.keep_daily AS r_keep_daily, r.keep_weekly AS r_keep_weekly,
        r.keep_monthly AS r_keep_monthly, r.keep_yearly AS r_keep_yearly,
        r.keep_within AS r_keep_within, r.min_good AS r_min_good
    FROM job_copies c
    JOIN stores st ON st.uuid = c.store_uuid
    JOIN retention r ON r.uuid = c.retention_uuid
    WHERE (?1 IS NULL OR c.job_uuid = ?1)
    ORDER BY c.job_uuid, c.position";

/// The copies of one job (`Some`) or of every job, by job.
pub(crate) async fn copies_of(
    conn: &mut sqlx::SqliteConnection,
    job: Option<JobId>,
) -> Result<HashMap<String, Vec<JobCopy>>> {
    let rows = sqlx::query(COPY_SELECT)
        .bind(job.map(|j| j.to_string()))
        .fetch_all(&mut *conn)
        .await?;
    let mut out: HashMap<String, Vec<JobCopy>> = HashMap::new();
    for row in &rows {
        out.entry(row.try_get("job_uuid")?)
            .or_default()
            .push(JobCopy {
                store: store_cols(row, "st_")?,
                retention: retention_cols(row, "r_")?,
                retries: row.try_get("retries")?,
                retry_delay: row.try_get("retry_delay")?,
            });
    }
    Ok(out)
}

/// Replaces a job's copies. The archives copied into a store the job no longer copies to keep
/// that copy's rules. Fails with [`CatalogError::MissingReference`] for a store or policy that
/// does not exist.
pub(crate) async fn write_copies(
    tx: &mut sqlx::SqliteConnection,
    job: JobId,
    copies: &[CopyFields],
) -> Result<()> {
    for c in copies {
        for (kind, sql, id) in [
            (
                "copy store",
                "SELECT COUNT(*) FROM stores WHERE uuid = ?",
                c.store.to_string(),
            ),
            (
                "copy retention policy",
                "SELECT COUNT(*) FROM retention WHERE uuid = ?",
                c.retention.to_string(),
            ),
        ] {
            if count(&mut *tx, sql, &id).await? == 0 {
                return Err(CatalogError::MissingReference { kind, id });
            }
        }
    }
    let kept: Vec<String> = copies.iter().map(|c| c.store.to_string()).collect();
    let kept = serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into());
    sqlx::query(KEEP_RULES_OF_DROPPED_COPIES)
        .bind(job.to_string())
        .bind(&kept)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM job_copies WHERE job_uuid = ?")
        .bind(job.to_string())
        .execute(&mut *tx)
        .await?;
    for (position, c) in copies.iter().enumerate() {
        sqlx::query(
            "INSERT INTO job_copies (job_uuid, store_uuid, retention_uuid, retries, retry_delay, position)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(job.to_string())
        .bind(c.store.to_string())
        .bind(c.retention.to_string())
        .bind(c.retries)
        .bind(c.retry_delay)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// One copy task to queue.
struct NewCopy<'a> {
    job: &'a str,
    archive: &'a str,
    target: &'a str,
    store: &'a str,
    priority: i64,
    now: i64,
    attempt: i64,
    run_after: Option<i64>,
}

async fn insert_copy(tx: &mut sqlx::SqliteConnection, c: &NewCopy<'_>) -> Result<TaskId> {
    let id = TaskId::new_random();
    sqlx::query(
        "INSERT INTO tasks (uuid, owner, op, job_uuid, archive_uuid, target_uuid, store_uuid,
                            priority, status, requested_at, attempt, run_after)
         VALUES (?, 'system', 'copy', ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(c.job)
    .bind(c.archive)
    .bind(c.target)
    .bind(c.store)
    .bind(c.priority)
    .bind(c.now)
    .bind(c.attempt)
    .bind(c.run_after)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Queues a copy of a new archive of `job` into each store the job copies to, inside the
/// transaction that records the archive: an archive is never recorded without its copies.
pub(crate) async fn queue_copies(
    tx: &mut sqlx::SqliteConnection,
    job: JobId,
    archive: ArchiveId,
    now: i64,
) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT c.store_uuid, j.priority, j.target_uuid FROM job_copies c
         JOIN jobs j ON j.uuid = c.job_uuid WHERE c.job_uuid = ? ORDER BY c.position",
    )
    .bind(job.to_string())
    .fetch_all(&mut *tx)
    .await?;
    let (job, archive) = (job.to_string(), archive.to_string());
    for row in &rows {
        let store: String = row.try_get("store_uuid")?;
        let target: String = row.try_get("target_uuid")?;
        insert_copy(
            tx,
            &NewCopy {
                job: &job,
                archive: &archive,
                target: &target,
                store: &store,
                priority: row.try_get("priority")?,
                now,
                attempt: 0,
                run_after: None,
            },
        )
        .await?;
    }
    Ok(rows.len())
}

impl Catalog {
    /// Records the archive a copy made and marks its task done, in one transaction. The task
    /// keeps naming the archive it copied; the new one names it as its origin.
    pub async fn complete_copy(
        &self,
        task: TaskId,
        archive: &NewArchive,
        line: &str,
        now: i64,
    ) -> Result<ArchiveId> {
        let mut tx = self.write_tx().await?;
        let id = insert_archive(&mut tx, archive).await?;
        sqlx::query(
            "UPDATE tasks SET status = 'done', stopped_at = ?, log = log || ? WHERE uuid = ?",
        )
        .bind(now)
        .bind(format!("{line}\n"))
        .bind(task.to_string())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Queues the next try of a copy that failed, to start no earlier than `at`.
    pub async fn retry_copy(&self, failed: &Task, at: i64, now: i64) -> Result<Option<TaskId>> {
        let (Some(job), Some(archive), Some(target), Some(store)) =
            (failed.job, failed.archive, failed.target, failed.store)
        else {
            return Ok(None);
        };
        let mut tx = self.write_tx().await?;
        let id = insert_copy(
            &mut tx,
            &NewCopy {
                job: &job.to_string(),
                archive: &archive.to_string(),
                target: &target.to_string(),
                store: &store.to_string(),
                priority: failed.priority,
                now,
                attempt: failed.attempt + 1,
                run_after: Some(at),
            },
        )
        .await?;
        self.commit(tx).await?;
        Ok(Some(id))
    }

    /// The copies of an archive, newest first: the archives whose origin it is.
    pub async fn copies_of_archive(&self, origin: ArchiveId) -> Result<Vec<ArchiveId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT uuid FROM archives WHERE origin_uuid = ? ORDER BY taken_at DESC, rowid DESC",
        )
        .bind(origin.to_string())
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|i| parse_id("archive", i)).collect()
    }
}
