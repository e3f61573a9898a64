//! Tasks: the backups, restores and purges that were asked for, are running, or ran.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use bulwark_core::ids::{JobId, TaskId};
use bulwark_core::state::{TaskOp, TaskStatus};

use crate::records::*;
use crate::{Catalog, CatalogError, Result, parse_id, parse_opt_id};

const TASK_COLUMNS: &str =
    "uuid, owner, op, job_uuid, archive_uuid, target_uuid, store_uuid, options,
        priority, status, requested_at, started_at, stopped_at, log, run_after, attempt";

impl Catalog {
    /// Queues a backup of a job, owned by `owner`. `None` if the job does not exist.
    pub async fn request_backup(
        &self,
        job: JobId,
        owner: &str,
        now: i64,
    ) -> Result<Option<TaskId>> {
        let mut tx = self.write_tx().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT target_uuid, priority FROM jobs WHERE uuid = ?")
                .bind(job.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((target, priority)) = row else {
            return Ok(None);
        };
        let task = insert_task(
            &mut tx,
            &NewTask {
                owner: owner.to_string(),
                op: TaskOp::Backup,
                job: Some(job),
                archive: None,
                target: Some(parse_id("target", &target)?),
                priority,
                requested_at: now,
            },
        )
        .await?;
        self.commit(tx).await?;
        Ok(Some(task))
    }

    /// Lists tasks, newest first.
    pub async fn list_tasks(&self, f: &TaskFilter) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks
             WHERE (?1 IS NULL OR status = ?1) AND (?3 IS NULL OR job_uuid = ?3)
             ORDER BY requested_at DESC, rowid DESC
             LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(f.status.map(|s| s.as_str()))
            .bind(f.limit.unwrap_or(-1))
            .bind(f.job.map(|j| j.to_string()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(task_from_row).collect()
    }

    /// Reads one task.
    pub async fn get_task(&self, id: TaskId) -> Result<Option<Task>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE uuid = ?");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// Cancels a pending task at once. A running task is left to the task engine, which stops
    /// its processes first; a finished task is left as it is.
    pub async fn cancel_task(&self, id: TaskId, now: i64) -> Result<CancelOutcome> {
        let mut tx = self.write_tx().await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM tasks WHERE uuid = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(status) = status else {
            return Ok(CancelOutcome::NotFound);
        };
        let status = task_status(&status)?;
        let outcome = match status {
            TaskStatus::Pending => {
                sqlx::query(
                    "UPDATE tasks SET status = 'canceled', stopped_at = ?,
                         log = log || ? WHERE uuid = ? AND status = 'pending'",
                )
                .bind(now)
                .bind("Canceled before it started.\n")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                CancelOutcome::Canceled
            }
            TaskStatus::Running => CancelOutcome::Running,
            done => CancelOutcome::AlreadyFinished(done),
        };
        self.commit(tx).await?;
        Ok(outcome)
    }
}

/// Inserts a pending task inside the caller's transaction.
pub(crate) async fn insert_task(tx: &mut sqlx::SqliteConnection, t: &NewTask) -> Result<TaskId> {
    let id = TaskId::new_random();
    sqlx::query(
        "INSERT INTO tasks (uuid, owner, op, job_uuid, archive_uuid, target_uuid, priority, status, requested_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
    )
    .bind(id.to_string())
    .bind(&t.owner)
    .bind(t.op.as_str())
    .bind(t.job.map(|i| i.to_string()))
    .bind(t.archive.map(|i| i.to_string()))
    .bind(t.target.map(|i| i.to_string()))
    .bind(t.priority)
    .bind(t.requested_at)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

fn task_status(s: &str) -> Result<TaskStatus> {
    s.parse().map_err(
        |e: bulwark_core::state::UnknownName| CatalogError::Corrupt {
            what: "task",
            detail: e.to_string(),
        },
    )
}

fn task_from_row(row: &SqliteRow) -> Result<Task> {
    let op: String = row.try_get("op")?;
    Ok(Task {
        uuid: parse_id("task", &row.try_get::<String, _>("uuid")?)?,
        owner: row.try_get("owner")?,
        op: op.parse::<TaskOp>().map_err(|e| CatalogError::Corrupt {
            what: "task",
            detail: e.to_string(),
        })?,
        job: parse_opt_id("job", row.try_get("job_uuid")?)?,
        archive: parse_opt_id("archive", row.try_get("archive_uuid")?)?,
        target: parse_opt_id("target", row.try_get("target_uuid")?)?,
        store: parse_opt_id("store", row.try_get("store_uuid")?)?,
        priority: row.try_get("priority")?,
        status: task_status(&row.try_get::<String, _>("status")?)?,
        requested_at: row.try_get("requested_at")?,
        started_at: row.try_get("started_at")?,
        stopped_at: row.try_get("stopped_at")?,
        log: row.try_get("log")?,
        options: row.try_get("options")?,
        run_after: row.try_get("run_after")?,
        attempt: row.try_get("attempt")?,
    })
}
