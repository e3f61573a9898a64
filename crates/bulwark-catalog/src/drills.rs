//! Restore drills: queueing one for a job's newest good archive, and what each found.

use sqlx::Row;

use bulwark_core::ids::{ArchiveId, JobId, TaskId};
use bulwark_core::state::TaskOp;

use crate::records::NewTask;
use crate::tasks::insert_task;
use crate::{Catalog, CatalogError, Result, parse_id, parse_opt_id};

/// What asking for a drill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrillRequest {
    /// The drill is queued.
    Queued(TaskId),
    /// No such job.
    NotFound,
    /// The job has no good archive to drill.
    NoArchive,
}

/// How a drill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillOutcome {
    /// Restored, and the target plugin's verify found the data whole.
    Passed,
    /// Restored; the plugin cannot verify.
    Unverified,
    /// The restore or the verify failed.
    Failed,
}

impl DrillOutcome {
    /// As the catalog and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            DrillOutcome::Passed => "passed",
            DrillOutcome::Unverified => "unverified",
            DrillOutcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<DrillOutcome> {
        match s {
            "passed" => Ok(DrillOutcome::Passed),
            "unverified" => Ok(DrillOutcome::Unverified),
            "failed" => Ok(DrillOutcome::Failed),
            other => Err(CatalogError::Corrupt {
                what: "drill",
                detail: format!("unknown outcome '{other}'"),
            }),
        }
    }
}

/// One drill's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Drill {
    /// The drill's task.
    pub task: TaskId,
    /// Its job.
    pub job: Option<JobId>,
    /// The archive it restored.
    pub archive: Option<ArchiveId>,
    /// How it ended.
    pub outcome: DrillOutcome,
    /// Seconds from the start of the retrieval to the end of the restore, when it got there.
    pub rto: Option<f64>,
    /// What it found, in one line.
    pub detail: String,
    /// When it ended (Unix seconds).
    pub finished_at: i64,
}

/// A job's newest drill, and its newest one that passed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobDrills {
    /// The newest drill.
    pub last: Option<Drill>,
    /// The newest drill that passed.
    pub last_passed: Option<Drill>,
}

fn drill_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Drill> {
    Ok(Drill {
        task: parse_id("task", &row.try_get::<String, _>("task_uuid")?)?,
        job: parse_opt_id("job", row.try_get("job_uuid")?)?,
        archive: parse_opt_id("archive", row.try_get("archive_uuid")?)?,
        outcome: DrillOutcome::parse(&row.try_get::<String, _>("outcome")?)?,
        rto: row.try_get("rto")?,
        detail: row.try_get("detail")?,
        finished_at: row.try_get("finished_at")?,
    })
}

const DRILL_COLUMNS: &str = "task_uuid, job_uuid, archive_uuid, outcome, rto, detail, finished_at";

impl Catalog {
    /// Queues a drill of the job's newest good archive (of its target, in its store) into its
    /// scratch target, if it names one.
    pub async fn request_drill(&self, job: JobId, owner: &str, now: i64) -> Result<DrillRequest> {
        let mut tx = self.write_tx().await?;
        let row: Option<(Option<String>, i64, Option<String>)> = sqlx::query_as(
            "SELECT j.drill_target_uuid, j.priority,
                    (SELECT a.uuid FROM archives a
                     WHERE a.target_uuid = j.target_uuid AND a.store_uuid = j.store_uuid
                       AND a.status = 'valid'
                     ORDER BY a.taken_at DESC, a.rowid DESC LIMIT 1)
             FROM jobs j WHERE j.uuid = ?",
        )
        .bind(job.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((target, priority, archive)) = row else {
            return Ok(DrillRequest::NotFound);
        };
        let Some(archive) = archive else {
            return Ok(DrillRequest::NoArchive);
        };
        let task = insert_task(
            &mut tx,
            &NewTask {
                owner: owner.to_string(),
                op: TaskOp::Drill,
                job: Some(job),
                archive: Some(parse_id("archive", &archive)?),
                target: parse_opt_id("target", target)?,
                priority,
                requested_at: now,
            },
        )
        .await?;
        self.commit(tx).await?;
        Ok(DrillRequest::Queued(task))
    }

    /// True while a drill of the job is pending or running.
    pub async fn drill_active(&self, job: JobId) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE job_uuid = ? AND op = 'drill'
               AND status IN ('pending', 'running')",
        )
        .bind(job.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Records what a drill found.
    pub async fn record_drill(&self, d: &Drill) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT OR REPLACE INTO drills (task_uuid, job_uuid, archive_uuid, outcome, rto, detail, finished_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(d.task.to_string())
            .bind(d.job.map(|i| i.to_string()))
            .bind(d.archive.map(|i| i.to_string()))
            .bind(d.outcome.as_str())
            .bind(d.rto)
            .bind(&d.detail)
            .bind(d.finished_at),
        )
        .await?;
        Ok(())
    }

    /// A job's newest drill and its newest one that passed.
    pub async fn job_drills(&self, job: JobId) -> Result<JobDrills> {
        let newest = |passed: bool| {
            format!(
                "SELECT {DRILL_COLUMNS} FROM drills WHERE job_uuid = ? {}
                 ORDER BY finished_at DESC, rowid DESC LIMIT 1",
                if passed { "AND outcome = 'passed'" } else { "" }
            )
        };
        let mut out = JobDrills::default();
        for passed in [false, true] {
            let row = sqlx::query(&newest(passed))
                .bind(job.to_string())
                .fetch_optional(&self.pool)
                .await?;
            let d = row.as_ref().map(drill_from_row).transpose()?;
            if passed {
                out.last_passed = d;
            } else {
                out.last = d;
            }
        }
        Ok(out)
    }

    /// The drill a task ran, if it was one and has ended.
    pub async fn get_drill(&self, task: TaskId) -> Result<Option<Drill>> {
        let row = sqlx::query(&format!(
            "SELECT {DRILL_COLUMNS} FROM drills WHERE task_uuid = ?"
        ))
        .bind(task.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(drill_from_row).transpose()
    }

    /// Records that the scheduler fired (or first saw) a job's drill schedule at `at`.
    pub async fn set_drill_fired(&self, job: JobId, at: i64) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE jobs SET drill_fired_at = ? WHERE uuid = ?")
                .bind(at)
                .bind(job.to_string()),
        )
        .await?;
        Ok(())
    }

    /// The name of a job that backs up `target` (other than `except`), if one does: such a
    /// target is never a drill's scratch target.
    pub async fn job_backing_up(
        &self,
        target: bulwark_core::ids::TargetId,
        except: Option<JobId>,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM jobs WHERE target_uuid = ? AND (? IS NULL OR uuid <> ?) ORDER BY name LIMIT 1",
        )
        .bind(target.to_string())
        .bind(except.map(|i| i.to_string()))
        .bind(except.map(|i| i.to_string()))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The name of a job whose drills restore into `target` (other than `except`), if one
    /// does: such a target is never backed up by a job.
    pub async fn job_drilling_into(
        &self,
        target: bulwark_core::ids::TargetId,
        except: Option<JobId>,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM jobs WHERE drill_target_uuid = ? AND (? IS NULL OR uuid <> ?) ORDER BY name LIMIT 1",
        )
        .bind(target.to_string())
        .bind(except.map(|i| i.to_string()))
        .bind(except.map(|i| i.to_string()))
        .fetch_optional(&self.pool)
        .await?)
    }
}
