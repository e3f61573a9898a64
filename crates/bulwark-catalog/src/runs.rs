//! A job's scheduled runs that did not start, and the retries of its failed backups.

use sqlx::Row;

use bulwark_core::ids::{JobId, TargetId, TaskId};

use crate::{Catalog, Result, parse_id};

/// A scheduled run that did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// When (Unix seconds).
    pub at: i64,
    /// Why.
    pub reason: String,
    /// The backup that was still running.
    pub task: Option<TaskId>,
}

/// A backup of a job that is pending or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveBackup {
    /// The task.
    pub task: TaskId,
    /// When it started running; `None` while it is pending.
    pub started_at: Option<i64>,
}

impl Catalog {
    /// Records a scheduled run that did not start.
    pub async fn record_skipped(
        &self,
        job: JobId,
        at: i64,
        reason: &str,
        task: Option<TaskId>,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO skipped_runs (job_uuid, at, reason, task_uuid) VALUES (?, ?, ?, ?)",
            )
            .bind(job.to_string())
            .bind(at)
            .bind(reason)
            .bind(task.map(|t| t.to_string())),
        )
        .await?;
        Ok(())
    }

    /// How many scheduled runs of the job were skipped, and the newest.
    pub async fn skipped_runs(&self, job: JobId) -> Result<(i64, Option<Skipped>)> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM skipped_runs WHERE job_uuid = ?")
            .bind(job.to_string())
            .fetch_one(&self.pool)
            .await?;
        let row = sqlx::query(
            "SELECT at, reason, task_uuid FROM skipped_runs WHERE job_uuid = ?
             ORDER BY at DESC, rowid DESC LIMIT 1",
        )
        .bind(job.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let last = match row {
            Some(r) => Some(Skipped {
                at: r.try_get("at")?,
                reason: r.try_get("reason")?,
                task: r
                    .try_get::<Option<String>, _>("task_uuid")?
                    .map(|t| parse_id("task", &t))
                    .transpose()?,
            }),
            None => None,
        };
        Ok((n, last))
    }

    /// True when a restore into `target` ran at or after `since` (Unix seconds), or runs now:
    /// changes under the target's directory then may be the restore's.
    pub async fn restore_touched(&self, target: TargetId, since: i64) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE op = 'restore' AND target_uuid = ?
               AND status IN ('running', 'done', 'failed', 'canceled')
               AND (stopped_at IS NULL OR stopped_at >= ?)",
        )
        .bind(target.to_string())
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The job's oldest backup that is pending or running, if any.
    pub async fn active_backup(&self, job: JobId) -> Result<Option<ActiveBackup>> {
        let row = sqlx::query(
            "SELECT uuid, started_at FROM tasks WHERE job_uuid = ? AND op = 'backup'
               AND status IN ('pending', 'running') ORDER BY requested_at, rowid LIMIT 1",
        )
        .bind(job.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(ActiveBackup {
                task: parse_id("task", &r.try_get::<String, _>("uuid")?)?,
                started_at: r.try_get("started_at")?,
            })),
            None => Ok(None),
        }
    }

    /// Sets the job's retry state: retries made so far, and when the next is due (`None`: no
    /// retry is due).
    pub async fn set_retry(&self, job: JobId, attempt: i64, at: Option<i64>) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE jobs SET retry_attempt = ?, retry_at = ? WHERE uuid = ?")
                .bind(attempt)
                .bind(at)
                .bind(job.to_string()),
        )
        .await?;
        Ok(())
    }
}
