//! The scheduler: queues a backup, owned by "system", each time an unpaused job's schedule
//! comes due. A job whose last backup is still pending or running is skipped, and the skipped
//! run recorded, unless that backup ran past the job's grace (then it is canceled and a new one
//! starts; see `retries`). Failed scheduled backups are retried when their retry is due. A
//! job remembers when it last fired, so runs missed while the daemon was down are made up by
//! one run at start, not one per missed slot.
//!
//! A job with a drill schedule gets a restore drill, owned by "system", each time it comes due.
//!
//! Repository stores are pruned and checked the same way: each store's `prune_schedule` (or
//! `repository.prune_schedule`) and `repository.check_schedule` queue a maintenance task
//! owned by "system", at most one pending of each kind per store.

use std::time::Duration;

use chrono::{DateTime, Utc};

use bulwark_catalog::{Job, JobFilter};
use bulwark_core::state::TaskOp;
use bulwark_core::timespec::Schedule;

use super::Engine;
use crate::config::Mode;

/// How often the scheduler looks at the jobs.
const TICK: Duration = Duration::from_secs(1);

/// The owner of scheduled tasks.
pub const SYSTEM: &str = "system";

pub(super) async fn run(e: Engine) {
    loop {
        if let Err(err) = tick(&e).await {
            tracing::error!(error = %err, "Scheduler cannot read the jobs.");
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = e.inner.stop.cancelled() => break,
        }
    }
}

async fn tick(e: &Engine) -> Result<(), bulwark_catalog::CatalogError> {
    let jobs = e
        .catalog()
        .list_jobs(&JobFilter {
            paused: Some(false),
            ..JobFilter::default()
        })
        .await?;
    let now = e.inner.clock.now();
    for job in jobs {
        super::retries::retry_if_due(e, &job, now.timestamp()).await?;
        let Some(last) = job.last_fired_at else {
            // First sight of a new job: its schedule counts from now.
            e.catalog().set_job_fired(job.uuid, now.timestamp()).await?;
            continue;
        };
        let Some(due) = due_at(e, &job, last) else {
            continue;
        };
        if due > now {
            continue;
        }
        // A run that must not start is recorded as skipped by `overrun`.
        if super::retries::overrun(e, &job, now.timestamp()).await?
            && let Some(task) = e
                .catalog()
                .request_backup(job.uuid, SYSTEM, now.timestamp())
                .await?
        {
            tracing::info!(job = %job.uuid, name = %job.name, task = %task, "Scheduled backup queued.");
            // A run of the schedule starts a new series of retries.
            if job.retry_attempt != 0 || job.retry_at.is_some() {
                e.catalog().set_retry(job.uuid, 0, None).await?;
            }
            let lag = (now - due).num_milliseconds() as f64 / 1000.0;
            e.metrics().scheduler_lag(lag.max(0.0));
            e.wake();
        }
        e.catalog().set_job_fired(job.uuid, now.timestamp()).await?;
    }
    drills(e, &jobs_with_drills(e).await?, now).await?;
    maintenance(e, now).await
}

async fn jobs_with_drills(e: &Engine) -> Result<Vec<Job>, bulwark_catalog::CatalogError> {
    Ok(e.catalog()
        .list_jobs(&JobFilter {
            paused: Some(false),
            ..JobFilter::default()
        })
        .await?
        .into_iter()
        .filter(|j| j.drill_schedule.is_some())
        .collect())
}

/// Queues the restore drills that are due. A job with no good archive yet is passed over (its
/// health already says so); a drill still pending or running is not doubled.
async fn drills(
    e: &Engine,
    jobs: &[Job],
    now: DateTime<Utc>,
) -> Result<(), bulwark_catalog::CatalogError> {
    for job in jobs {
        let Some(schedule) = &job.drill_schedule else {
            continue;
        };
        let Some(last) = job.drill_fired_at else {
            e.catalog()
                .set_drill_fired(job.uuid, now.timestamp())
                .await?;
            continue;
        };
        let Ok(spec) = schedule.timespec.parse::<Schedule>() else {
            continue;
        };
        let due = DateTime::<Utc>::from_timestamp(last, 0)
            .and_then(|l| spec.next_after(l, e.config().tz));
        if due.is_none_or(|d| d > now) {
            continue;
        }
        if e.catalog().drill_active(job.uuid).await? {
            tracing::info!(job = %job.uuid, name = %job.name, "Scheduled drill skipped: the previous one is still pending or running.");
        } else {
            match e
                .catalog()
                .request_drill(job.uuid, SYSTEM, now.timestamp())
                .await?
            {
                bulwark_catalog::DrillRequest::Queued(task) => {
                    tracing::info!(job = %job.uuid, name = %job.name, task = %task, "Scheduled drill queued.");
                    e.wake();
                }
                _ => {
                    tracing::info!(job = %job.uuid, name = %job.name, "Scheduled drill skipped: the job has no good archive yet.");
                }
            }
        }
        e.catalog()
            .set_drill_fired(job.uuid, now.timestamp())
            .await?;
    }
    Ok(())
}

/// Queues the prunes and checks of repository stores that are due.
async fn maintenance(e: &Engine, now: DateTime<Utc>) -> Result<(), bulwark_catalog::CatalogError> {
    let stores = e
        .catalog()
        .list_stores(Some(bulwark_repo::NAME), None)
        .await?;
    for store in stores {
        let prune = if store.prune_schedule.is_empty() {
            Some(e.config().prune_schedule.clone())
        } else {
            store.prune_schedule.parse::<Schedule>().ok()
        };
        for (op, spec) in [
            (TaskOp::Prune, prune),
            (TaskOp::Check, e.config().check_schedule.clone()),
        ] {
            let Some(spec) = spec else { continue };
            let Some(last) = e.catalog().maintenance_fired_at(store.uuid, op).await? else {
                e.catalog()
                    .set_maintenance_fired(store.uuid, op, now.timestamp())
                    .await?;
                continue;
            };
            let due = DateTime::<Utc>::from_timestamp(last, 0)
                .and_then(|l| spec.next_after(l, e.config().tz));
            if due.is_none_or(|d| d > now) {
                continue;
            }
            let task = e
                .catalog()
                .request_maintenance(store.uuid, op, "", SYSTEM, now.timestamp())
                .await?;
            tracing::info!(store = %store.uuid, name = %store.name, %op, task = %task, "Scheduled maintenance queued.");
            e.catalog()
                .set_maintenance_fired(store.uuid, op, now.timestamp())
                .await?;
            e.wake();
        }
    }
    Ok(())
}

/// When the job is next due after it last fired.
fn due_at(e: &Engine, job: &Job, last: i64) -> Option<DateTime<Utc>> {
    let spec = match e.config().mode {
        Mode::Dev => "every minute".parse::<Schedule>().ok()?,
        Mode::Normal => match job.schedule.timespec.parse::<Schedule>() {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(job = %job.uuid, error = %err, "Job has a schedule that does not parse; not scheduling it.");
                return None;
            }
        },
    };
    let last = DateTime::<Utc>::from_timestamp(last, 0)?;
    spec.next_after(last, e.config().tz)
}
