//! Retries of failed scheduled backups, and what a scheduled run does when the job's previous
//! backup is still running (Schelly's grace time).
//!
//! A scheduled backup (or a retry of one) that fails is queued again after `retry_delay`, then
//! twice as long after each further failure (at most a day), until `retries` retries have been
//! made; its failure is announced only when no retry follows. A backup that succeeds ends the
//! retries. A failure the daemon itself caused by stopping is retried like any other.

use bulwark_catalog::{CatalogError, Job, Task};
use bulwark_core::state::{TaskOp, TaskStatus};

use super::Engine;
use super::scheduler::SYSTEM;

/// The longest wait between two retries.
const LONGEST_DELAY: i64 = 86_400;

/// The wait before retry number `attempt` (0 for the first).
pub(super) fn delay(retry_delay: i64, attempt: i64) -> i64 {
    let factor = 1_i64
        .checked_shl(attempt.clamp(0, 30) as u32)
        .unwrap_or(i64::MAX);
    retry_delay.saturating_mul(factor).min(LONGEST_DELAY)
}

/// After a backup ended unsuccessfully: queues a retry when the job wants one. Returns the
/// sentence that says so, for the end of the task's log.
pub(super) async fn after_failure(e: &Engine, task: &Task, status: TaskStatus) -> Option<String> {
    if task.op != TaskOp::Backup || status != TaskStatus::Failed || task.owner != SYSTEM {
        return None;
    }
    let job = e.catalog().get_job(task.job?).await.ok()??;
    if job.retry_attempt >= job.retry.retries {
        return None;
    }
    let wait = delay(job.retry.retry_delay, job.retry_attempt);
    let attempt = job.retry_attempt + 1;
    match e
        .catalog()
        .set_retry(job.uuid, attempt, Some(e.now() + wait))
        .await
    {
        Ok(()) => Some(format!(
            "Retry {attempt} of {} in {wait}s.",
            job.retry.retries
        )),
        Err(err) => {
            tracing::error!(job = %job.uuid, error = %err, "Cannot record a retry.");
            None
        }
    }
}

/// After a backup succeeded: no retry is due any more.
pub(super) async fn after_success(e: &Engine, task: &Task) {
    let Some(job) = task.job.filter(|_| task.op == TaskOp::Backup) else {
        return;
    };
    if let Ok(Some(j)) = e.catalog().get_job(job).await
        && (j.retry_attempt != 0 || j.retry_at.is_some())
        && let Err(err) = e.catalog().set_retry(job, 0, None).await
    {
        tracing::error!(job = %job, error = %err, "Cannot clear the job's retries.");
    }
}

/// Queues the job's retry when it is due (and no backup of it is pending or running).
pub(super) async fn retry_if_due(e: &Engine, job: &Job, now: i64) -> Result<(), CatalogError> {
    let Some(at) = job.retry_at.filter(|at| *at <= now) else {
        return Ok(());
    };
    if e.catalog().backup_active(job.uuid).await? {
        return Ok(());
    }
    e.catalog()
        .set_retry(job.uuid, job.retry_attempt, None)
        .await?;
    if let Some(task) = e.catalog().request_backup(job.uuid, SYSTEM, now).await? {
        tracing::info!(job = %job.uuid, name = %job.name, task = %task, attempt = job.retry_attempt, due = at, "Retry of a failed backup queued.");
        e.wake();
    }
    Ok(())
}

/// A scheduled run found a backup of the job pending or running. Within the job's grace (or
/// without one, or while that backup still waits to start) the run is skipped and recorded;
/// past the grace the old backup is canceled and the run goes ahead. Returns true when it
/// may go ahead.
pub(super) async fn overrun(e: &Engine, job: &Job, now: i64) -> Result<bool, CatalogError> {
    let Some(active) = e.catalog().active_backup(job.uuid).await? else {
        return Ok(true);
    };
    let ran = active.started_at.map(|s| now - s);
    let reason = match (job.retry.grace, ran) {
        (Some(grace), Some(ran)) if ran > grace => {
            let why = format!(
                "Canceled: the next scheduled run found it running for {ran}s, past the job's grace of {grace}s; a new backup starts."
            );
            e.cancel_because(active.task, why);
            e.catalog()
                .record_skipped(
                    job.uuid,
                    now,
                    &format!("canceled the backup that had run {ran}s, past the grace of {grace}s, and started anew"),
                    Some(active.task),
                )
                .await?;
            return Ok(true);
        }
        (Some(grace), Some(ran)) => {
            format!("the previous backup had run {ran}s, within the grace of {grace}s")
        }
        (_, None) => "the previous backup was still waiting to start".to_string(),
        (None, Some(ran)) => format!("the previous backup was still running ({ran}s so far)"),
    };
    tracing::info!(job = %job.uuid, name = %job.name, %reason, "Scheduled backup skipped.");
    e.catalog()
        .record_skipped(job.uuid, now, &reason, Some(active.task))
        .await?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::delay;

    #[test]
    fn each_retry_waits_twice_as_long_at_most_a_day() {
        assert_eq!(delay(60, 0), 60);
        assert_eq!(delay(60, 1), 120);
        assert_eq!(delay(60, 3), 480);
        assert_eq!(delay(60, 20), 86_400);
        assert_eq!(delay(3600, 63), 86_400);
    }
}
