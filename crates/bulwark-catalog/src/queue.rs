//! The task queue as the task engine sees it: claiming the next task, writing its log as it
//! runs, finishing it, and the bookkeeping of crash recovery, retention and purge retries.

use bulwark_core::ids::{ArchiveId, JobId, TaskId};
use bulwark_core::state::TaskStatus;

use crate::archives::insert_archive;
use crate::records::*;
use crate::{Catalog, Result, parse_id};

impl Catalog {
    /// Marks the next runnable pending task `running` and returns it: lowest priority number
    /// first, then oldest. A backup or restore waits while another backup or restore of the
    /// same target runs. A backup records its job's store as it starts.
    ///
    /// A store's maintenance (check, prune) runs alone: it waits while a backup, restore, purge,
    /// copy (from or into the store) or other maintenance of that store runs, and those wait
    /// while it runs. A purge of an archive waits while a copy of it runs. A task with a
    /// `run_after` (a retry's wait) waits until then. So a prune never removes data a running backup or restore relies on,
    /// and never plans around a snapshot a purge is removing.
    pub async fn claim_next_task(&self, now: i64) -> Result<Option<Task>> {
        self.claim_next_task_aged(now, 0).await
    }

    /// As [`Catalog::claim_next_task`], with aging: a pending task climbs one priority point
    /// (towards 0) for every `aging` seconds it has waited, so low-priority work (`on-idle`) is
    /// never starved for ever. `aging` 0: no aging.
    pub async fn claim_next_task_aged(&self, now: i64, aging: i64) -> Result<Option<Task>> {
        let mut tx = self.write_tx().await?;
        let id: Option<String> = sqlx::query_scalar(
            "WITH q AS (
                SELECT uuid, op, status, target_uuid, archive_uuid, priority, requested_at,
                       run_after, rowid AS rid,
                       COALESCE(store_uuid,
                           (SELECT j.store_uuid FROM jobs j WHERE j.uuid = tasks.job_uuid),
                           (SELECT a.store_uuid FROM archives a WHERE a.uuid = tasks.archive_uuid)
                       ) AS su,
                       (SELECT a.store_uuid FROM archives a WHERE a.uuid = tasks.archive_uuid) AS asu
                FROM tasks WHERE status IN ('pending', 'running'))
             SELECT p.uuid FROM q p
             WHERE p.status = 'pending'
               AND (p.run_after IS NULL OR p.run_after <= ?1)
               AND (p.op IN ('purge', 'check', 'prune', 'copy') OR p.target_uuid IS NULL
                    OR p.target_uuid NOT IN (
                        SELECT target_uuid FROM q
                        WHERE status = 'running' AND op IN ('backup', 'restore', 'drill')
                          AND target_uuid IS NOT NULL))
               AND ((p.op = 'purge' AND NOT EXISTS (
                        SELECT 1 FROM q r WHERE r.status = 'running'
                          AND ((r.su = p.su AND r.op IN ('check', 'prune'))
                               OR (r.op = 'copy' AND r.archive_uuid = p.archive_uuid))))
                    OR (p.op IN ('check', 'prune') AND NOT EXISTS (
                        SELECT 1 FROM q r WHERE r.status = 'running'
                          AND ((r.su = p.su AND r.op IN ('backup', 'restore', 'drill', 'purge',
                                                         'check', 'prune', 'copy'))
                               OR (r.op = 'copy' AND r.asu = p.su))))
                    OR (p.op IN ('backup', 'restore', 'drill') AND NOT EXISTS (
                        SELECT 1 FROM q r WHERE r.status = 'running' AND r.su = p.su
                          AND r.op IN ('check', 'prune')))
                    OR (p.op = 'copy' AND NOT EXISTS (
                        SELECT 1 FROM q r WHERE r.status = 'running'
                          AND r.op IN ('check', 'prune') AND r.su IN (p.su, p.asu))))
             ORDER BY p.priority - CASE WHEN ?2 > 0 THEN MAX(?1 - p.requested_at, 0) / ?2 ELSE 0 END,
                      p.requested_at, p.rid
             LIMIT 1",
        )
        .bind(now)
        .bind(aging)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let claimed = sqlx::query(
            "UPDATE tasks SET status = 'running', started_at = ?,
                 store_uuid = COALESCE(store_uuid,
                     (SELECT store_uuid FROM jobs WHERE jobs.uuid = tasks.job_uuid))
             WHERE uuid = ? AND status = 'pending'",
        )
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        self.commit(tx).await?;
        if claimed == 0 {
            // Canceled between the two statements; the next call finds the next task.
            return Ok(None);
        }
        self.get_task(parse_id("task", &id)?).await
    }

    /// Appends lines to a task's log.
    pub async fn append_task_log(&self, id: TaskId, text: &str) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE tasks SET log = log || ? WHERE uuid = ?")
                .bind(text)
                .bind(id.to_string()),
        )
        .await?;
        Ok(())
    }

    /// Ends a running task in `status` (failed, canceled or done) with a last log line.
    pub async fn finish_task(
        &self,
        id: TaskId,
        status: TaskStatus,
        line: &str,
        now: i64,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "UPDATE tasks SET status = ?, stopped_at = ?, log = log || ?
             WHERE uuid = ? AND status = 'running'",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(format!("{line}\n"))
            .bind(id.to_string()),
        )
        .await?;
        Ok(())
    }

    /// Records the archive of a finished backup and marks the task done (failed, with the
    /// archive kept, when `failed`: its steps failed), in one transaction:
    /// there is never an archive without its done task, nor a done backup without its archive.
    pub async fn complete_backup(
        &self,
        task: TaskId,
        archive: &NewArchive,
        failed: bool,
        line: &str,
        now: i64,
    ) -> Result<ArchiveId> {
        let mut tx = self.write_tx().await?;
        let id = insert_archive(&mut tx, archive).await?;
        if let (Some(job), None) = (archive.job, archive.origin) {
            crate::copies::queue_copies(&mut tx, job, id, now).await?;
        }
        sqlx::query(
            "UPDATE tasks SET status = ?, stopped_at = ?, archive_uuid = ?, log = log || ?
             WHERE uuid = ?",
        )
        .bind(if failed { "failed" } else { "done" })
        .bind(now)
        .bind(id.to_string())
        .bind(format!("{line}\n"))
        .bind(task.to_string())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Marks an archive purged and its purge task done, in one transaction.
    pub async fn complete_purge(
        &self,
        task: TaskId,
        archive: ArchiveId,
        line: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE archives SET status = 'purged' WHERE uuid = ?")
            .bind(archive.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE tasks SET status = 'done', stopped_at = ?, log = log || ? WHERE uuid = ?",
        )
        .bind(now)
        .bind(format!("{line}\n"))
        .bind(task.to_string())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// Tasks in a state: used at start for the ones a stopped daemon left `running`.
    pub async fn tasks_in(&self, status: TaskStatus) -> Result<Vec<Task>> {
        self.list_tasks(&TaskFilter {
            status: Some(status),
            limit: None,
            job: None,
        })
        .await
    }

    /// True while a backup of the job is pending or running.
    pub async fn backup_active(&self, job: JobId) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE job_uuid = ? AND op = 'backup'
               AND status IN ('pending', 'running')",
        )
        .bind(job.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}
