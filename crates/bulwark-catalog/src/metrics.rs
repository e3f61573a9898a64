//! The figures `/metrics` reports that the catalog keeps: backup runs per job by outcome, each
//! job's last success, failure, duration and size, and tasks by kind and state.

use std::collections::BTreeMap;

use crate::{Catalog, Result};

/// A job's backup figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFigures {
    /// Finished backups by outcome (`done`, `failed`, `canceled`).
    pub runs: BTreeMap<String, i64>,
    /// When its newest good backup ended.
    pub last_success_at: Option<i64>,
    /// When its newest failed backup ended.
    pub last_failure_at: Option<i64>,
    /// Seconds its newest finished backup took.
    pub last_duration: Option<i64>,
    /// Bytes its newest archive holds.
    pub last_size: Option<i64>,
    /// Bytes its newest archive added to its store.
    pub last_added: Option<i64>,
}

impl Catalog {
    /// Backup figures of every job that has run, by job uuid.
    pub async fn job_figures(&self) -> Result<BTreeMap<String, JobFigures>> {
        let mut out: BTreeMap<String, JobFigures> = BTreeMap::new();
        let runs: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT job_uuid, status, COUNT(*), MAX(stopped_at) FROM tasks
             WHERE op = 'backup' AND job_uuid IS NOT NULL AND status IN ('done', 'failed', 'canceled')
             GROUP BY job_uuid, status",
        )
        .fetch_all(&self.pool)
        .await?;
        for (job, status, n, newest) in runs {
            let f = out.entry(job).or_default();
            match status.as_str() {
                "done" => f.last_success_at = newest,
                "failed" => f.last_failure_at = newest,
                _ => {}
            }
            f.runs.insert(status, n);
        }
        let last: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT t.job_uuid, t.stopped_at - t.started_at FROM tasks t
             WHERE t.op = 'backup' AND t.job_uuid IS NOT NULL AND t.stopped_at IS NOT NULL
               AND t.status IN ('done', 'failed', 'canceled')
               AND t.stopped_at = (SELECT MAX(u.stopped_at) FROM tasks u
                                   WHERE u.job_uuid = t.job_uuid AND u.op = 'backup'
                                     AND u.status IN ('done', 'failed', 'canceled'))",
        )
        .fetch_all(&self.pool)
        .await?;
        for (job, took) in last {
            out.entry(job).or_default().last_duration = took;
        }
        let sizes: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT t.job_uuid, a.size, a.added FROM tasks t JOIN archives a ON a.uuid = t.archive_uuid
             WHERE t.op = 'backup' AND t.status = 'done' AND t.job_uuid IS NOT NULL
               AND t.stopped_at = (SELECT MAX(u.stopped_at) FROM tasks u
                                   WHERE u.job_uuid = t.job_uuid AND u.op = 'backup'
                                     AND u.status = 'done' AND u.archive_uuid IS NOT NULL)",
        )
        .fetch_all(&self.pool)
        .await?;
        for (job, size, added) in sizes {
            let f = out.entry(job).or_default();
            f.last_size = Some(size);
            f.last_added = added;
        }
        Ok(out)
    }

    /// Tasks by kind and state: `(op, status, count)`.
    pub async fn task_counts(&self) -> Result<Vec<(String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT op, status, COUNT(*) FROM tasks GROUP BY op, status ORDER BY op, status",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
