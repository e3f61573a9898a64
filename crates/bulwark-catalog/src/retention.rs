//! What the retention sweep reads (every valid archive with the rules that decide it) and what
//! it writes (purges of the archives no rule keeps, and retries of purges that failed).

use sqlx::Row;

use bulwark_core::ids::{ArchiveId, JobId};
use bulwark_core::retention::{Item, Member, Rules};
use bulwark_core::state::TaskOp;

use crate::archives::PURGE_PRIORITY;
use crate::records::NewTask;
use crate::resources::retention_cols;
use crate::tasks::insert_task;
use crate::{Catalog, CatalogError, Result, parse_id};

/// Every valid archive joined with its job's policy, when the job still exists; newest first,
/// and of archives taken in the same second the one recorded last first.
///
/// A copy (an archive with an origin) is decided by its copy's policy while the job copies into
/// its store, and by the rules it kept once the job no longer does.
const MEMBERS: &str = "SELECT a.uuid, a.target_uuid, a.store_uuid, a.taken_at, a.expires_at,
        a.keep, a.job_uuid, a.rules, a.origin_uuid,
        CASE WHEN a.origin_uuid IS NULL THEN j.uuid ELSE c.job_uuid END AS live_job,
        r.uuid AS r_uuid, r.name AS r_name, r.summary AS r_summary, r.expiry AS r_expiry,
        r.expiry_set AS r_expiry_set, r.keep_last AS r_keep_last, r.keep_hourly AS r_keep_hourly,
        r.keep_daily AS r_keep_daily, r.keep_weekly AS r_keep_weekly,
        r.keep_monthly AS r_keep_monthly, r.keep_yearly AS r_keep_yearly,
        r.keep_within AS r_keep_within, r.min_good AS r_min_good
    FROM archives a
    LEFT JOIN jobs j ON j.uuid = a.job_uuid
    LEFT JOIN job_copies c ON a.origin_uuid IS NOT NULL AND c.job_uuid = a.job_uuid
        AND c.store_uuid = a.store_uuid
    LEFT JOIN retention r ON r.uuid =
        CASE WHEN a.origin_uuid IS NULL THEN j.retention_uuid ELSE c.retention_uuid END
    WHERE a.status = 'valid' AND (?1 IS NULL OR a.job_uuid = ?1)
    ORDER BY a.taken_at DESC, a.rowid DESC";

impl Catalog {
    /// Every valid archive (only the job's, with `job`) as the retention rules see it, grouped by
    /// job, target and store. While its job exists, the job's policy decides (or `instead`, for
    /// a preview of another policy); once it is gone, the rules the archive kept.
    pub async fn retention_members(
        &self,
        job: Option<JobId>,
        instead: Option<&Rules>,
    ) -> Result<Vec<Member<ArchiveId>>> {
        let rows = sqlx::query(MEMBERS)
            .bind(job.map(|j| j.to_string()))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: ArchiveId = parse_id("archive", &row.try_get::<String, _>("uuid")?)?;
            let taken_at: i64 = row.try_get("taken_at")?;
            let job: Option<String> = row.try_get("job_uuid")?;
            let live: Option<String> = row.try_get("live_job")?;
            let kept: Option<String> = row.try_get("rules")?;
            // A preview of another policy for the job leaves its copies to theirs.
            let copy = row.try_get::<Option<String>, _>("origin_uuid")?.is_some();
            let instead = instead.filter(|_| !copy);
            let rules = match (live.is_some(), instead, kept) {
                (true, Some(r), _) => r.clone(),
                (true, None, _) => retention_cols(row, "r_")?.rules,
                (false, _, Some(json)) => {
                    serde_json::from_str(&json).map_err(|e| CatalogError::Corrupt {
                        what: "archive",
                        detail: format!("its retention rules do not read: {e}"),
                    })?
                }
                // The job is gone and left no rules: the expiry the archive was given.
                (false, _, None) => Rules {
                    expires: Some((row.try_get::<i64, _>("expires_at")? - taken_at).max(1)),
                    min_good: 1,
                    ..Rules::default()
                },
            };
            let group = format!(
                "{}/{}/{}{}",
                job.as_deref().unwrap_or("-"),
                row.try_get::<String, _>("target_uuid")?,
                row.try_get::<String, _>("store_uuid")?,
                if live.is_some() {
                    String::new()
                } else {
                    serde_json::to_string(&rules).unwrap_or_default()
                }
            );
            out.push(Member {
                item: Item {
                    id,
                    taken_at,
                    pinned: row.try_get("keep")?,
                },
                group,
                rules,
            });
        }
        Ok(out)
    }

    /// Queues a purge, owned by "system", of each of these archives that is still valid and not
    /// pinned (an operator may have pinned it since it was decided). Returns how many.
    pub async fn queue_purges(&self, archives: &[ArchiveId], now: i64) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let mut queued = 0;
        for archive in archives {
            let target: Option<String> = sqlx::query_scalar(
                "UPDATE archives SET status = 'purging'
                 WHERE uuid = ? AND status = 'valid' AND keep = 0 RETURNING target_uuid",
            )
            .bind(archive.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(target) = target else { continue };
            insert_purge(&mut tx, *archive, &target, now).await?;
            queued += 1;
        }
        self.commit(tx).await?;
        Ok(queued)
    }

    /// Queues again, owned by "system", the purges of archives left `purging` whose last purge
    /// failed before `retry_before` (and has none queued). Returns how many.
    pub async fn retry_failed_purges(&self, now: i64, retry_before: i64) -> Result<u64> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT uuid FROM archives a
             WHERE status = 'purging' AND NOT EXISTS (
                 SELECT 1 FROM tasks t WHERE t.archive_uuid = a.uuid AND t.op = 'purge'
                   AND (t.status IN ('pending', 'running') OR t.stopped_at > ?1))",
        )
        .bind(retry_before)
        .fetch_all(&self.pool)
        .await?;
        let mut tx = self.write_tx().await?;
        let mut queued = 0;
        for id in ids {
            let archive: ArchiveId = parse_id("archive", &id)?;
            let target: Option<String> = sqlx::query_scalar(
                "SELECT target_uuid FROM archives a WHERE uuid = ?1 AND status = 'purging'
                   AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.archive_uuid = a.uuid
                     AND t.op = 'purge' AND t.status IN ('pending', 'running'))",
            )
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(target) = target else { continue };
            insert_purge(&mut tx, archive, &target, now).await?;
            queued += 1;
        }
        self.commit(tx).await?;
        Ok(queued)
    }
}

/// Queues a purge of `archive` (of `target`), owned by "system".
async fn insert_purge(
    tx: &mut sqlx::SqliteConnection,
    archive: ArchiveId,
    target: &str,
    now: i64,
) -> Result<()> {
    insert_task(
        tx,
        &NewTask {
            owner: "system".into(),
            op: TaskOp::Purge,
            job: None,
            archive: Some(archive),
            target: Some(parse_id("target", target)?),
            priority: PURGE_PRIORITY,
            requested_at: now,
        },
    )
    .await?;
    Ok(())
}
