//! What the engine tells notification channels: a task's end (a failed backup, a recovery, a
//! restore, a failed check) and jobs that became late.
//!
//! A job's announced state (`ok`, `failing`, `late`) is kept in the catalog, so that a late job
//! is announced once, not at every look, and a recovery only follows a failure or lateness that
//! was announced.

use std::time::Duration;

use bulwark_catalog::{JobFilter, Task};
use bulwark_core::health::Health;
use bulwark_core::state::{TaskOp, TaskStatus};
use bulwark_core::timefmt::format_epoch;

use super::Engine;
use crate::notify::{Event, Named, Payload};

/// The secret values of the endpoints a job touches, hidden from what is sent.
fn secrets_of(e: &Engine, endpoints: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for sealed in endpoints {
        if let Ok(plain) = crate::sealing::open(&e.config().vault, sealed) {
            out.extend(bulwark_runner::secret_values(&plain, &[]));
        }
    }
    out
}

/// Announces what the end of `task` means: called once its end is recorded.
pub(super) async fn after_task(e: &Engine, task: &Task, status: TaskStatus, line: &str) {
    let now = e.now();
    let mut p = match (task.op, status) {
        (TaskOp::Backup, TaskStatus::Failed) => {
            Payload::new(Event::BackupFailed, now, String::new())
        }
        (TaskOp::Backup, TaskStatus::Done) => Payload::new(Event::JobRecovered, now, String::new()),
        (TaskOp::Restore, TaskStatus::Done) => Payload::new(Event::RestoreDone, now, String::new()),
        (TaskOp::Restore, TaskStatus::Failed) => {
            Payload::new(Event::RestoreFailed, now, String::new())
        }
        (TaskOp::Check, TaskStatus::Failed) => Payload::new(Event::CheckFailed, now, String::new()),
        (TaskOp::Drill, TaskStatus::Failed) => Payload::new(Event::DrillFailed, now, String::new()),
        (TaskOp::Copy, TaskStatus::Failed) => Payload::new(Event::CopyFailed, now, String::new()),
        _ => return,
    };
    p.task = Some(task.uuid.0);
    p.started_at = task.started_at.map(format_epoch);
    p.stopped_at = Some(format_epoch(now));
    let mut secrets = Vec::new();
    match task.op {
        TaskOp::Backup => {
            let Some(job_id) = task.job else { return };
            let Ok(Some(job)) = e.catalog().get_job(job_id).await else {
                return;
            };
            secrets = secrets_of(e, &[&job.target.endpoint, &job.store.endpoint]);
            p.job = Named::of(job.uuid.0, &job.name);
            p.target = Named::of(job.target.uuid.0, &job.target.name);
            p.store = Named::of(job.store.uuid.0, &job.store.name);
            let was = e.catalog().job_alert(job_id).await.ok().flatten();
            if status == TaskStatus::Failed {
                p.summary = format!("The backup of job '{}' failed.", job.name);
                set_alert(e, job_id, "failing").await;
            } else {
                set_alert(e, job_id, "ok").await;
                if !matches!(was.as_deref(), Some("failing" | "late")) {
                    return;
                }
                let runs = e.catalog().job_runs(job_id).await.unwrap_or_default();
                p.archive = runs.last_success.map(|s| s.1.0);
                p.last_success_at = runs.last_success.map(|s| format_epoch(s.0));
                p.summary = format!(
                    "Job '{}' recovered: a backup succeeded after it was {}.",
                    job.name,
                    was.as_deref().unwrap_or("failing")
                );
            }
        }
        TaskOp::Restore => {
            p.archive = task.archive.map(|a| a.0);
            let target = match task.target {
                Some(t) => e.catalog().get_target(t).await.ok().flatten(),
                None => None,
            };
            let name = target.as_ref().map_or("?".to_string(), |t| t.name.clone());
            if let Some(t) = &target {
                secrets = secrets_of(e, &[&t.endpoint]);
                p.target = Named::of(t.uuid.0, &t.name);
            }
            p.summary = if status == TaskStatus::Done {
                format!("A restore into target '{name}' finished.")
            } else {
                format!("A restore into target '{name}' failed.")
            };
        }
        TaskOp::Check => {
            let store = match task.store {
                Some(s) => e.catalog().get_store(s).await.ok().flatten(),
                None => None,
            };
            let name = store.as_ref().map_or("?".to_string(), |s| s.name.clone());
            if let Some(s) = &store {
                secrets = secrets_of(e, &[&s.endpoint]);
                p.store = Named::of(s.uuid.0, &s.name);
            }
            p.summary = format!("The check of store '{name}' failed.");
        }
        TaskOp::Drill => {
            let Some(job_id) = task.job else { return };
            let Ok(Some(job)) = e.catalog().get_job(job_id).await else {
                return;
            };
            let mut endpoints = vec![job.target.endpoint.as_str(), job.store.endpoint.as_str()];
            if let Some(t) = &job.drill_target {
                endpoints.push(&t.endpoint);
            }
            secrets = secrets_of(e, &endpoints);
            p.job = Named::of(job.uuid.0, &job.name);
            p.target = Named::of(job.target.uuid.0, &job.target.name);
            p.store = Named::of(job.store.uuid.0, &job.store.name);
            p.archive = task.archive.map(|a| a.0);
            p.summary = format!("The restore drill of job '{}' failed.", job.name);
        }
        TaskOp::Copy => {
            let Some(job_id) = task.job else { return };
            let Ok(Some(job)) = e.catalog().get_job(job_id).await else {
                return;
            };
            let dest = match task.store {
                Some(s) => e.catalog().get_store(s).await.ok().flatten(),
                None => None,
            };
            let name = dest.as_ref().map_or("?".to_string(), |s| s.name.clone());
            let mut endpoints = vec![job.store.endpoint.as_str()];
            if let Some(s) = &dest {
                endpoints.push(&s.endpoint);
                p.store = Named::of(s.uuid.0, &s.name);
            }
            secrets = secrets_of(e, &endpoints);
            p.job = Named::of(job.uuid.0, &job.name);
            p.target = Named::of(job.target.uuid.0, &job.target.name);
            p.archive = task.archive.map(|a| a.0);
            p.summary = format!(
                "The copy of an archive of job '{}' into store '{name}' failed; the archive itself is intact.",
                job.name
            );
        }
        TaskOp::Purge | TaskOp::Prune => return,
    }
    if status == TaskStatus::Failed {
        p.error = Some(bulwark_core::redact::hide_secrets(line, &secrets));
    }
    e.notifier().announce(&p).await;
}

async fn set_alert(e: &Engine, job: bulwark_core::ids::JobId, state: &str) {
    if let Err(err) = e.catalog().set_job_alert(job, state, e.now()).await {
        tracing::error!(job = %job, error = %err, "Cannot record a job's announced state.");
    }
}

/// Looks for jobs that became late every `notifications.late_check_interval` seconds, and
/// announces each once.
pub(super) async fn watch_late(e: Engine) {
    let every = Duration::from_secs(e.config().notifications.late_check_interval);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = e.inner.stop.cancelled() => break,
        }
        if let Err(err) = look_for_late(&e).await {
            tracing::error!(error = %err, "Cannot look for late jobs.");
        }
    }
}

async fn look_for_late(e: &Engine) -> Result<(), bulwark_catalog::CatalogError> {
    let now = e.inner.clock.now();
    for job in e.catalog().list_jobs(&JobFilter::default()).await? {
        let runs = e.catalog().job_runs(job.uuid).await?;
        let a = crate::jobhealth::assess(&job, &runs, now, e.config().tz, e.config().mode);
        if a.health != Health::Late {
            continue;
        }
        if e.catalog().job_alert(job.uuid).await?.as_deref() == Some("late") {
            continue;
        }
        let mut p = Payload::new(
            Event::JobLate,
            now.timestamp(),
            format!(
                "Job '{}' is late: its newest good backup is older than its RPO of {} seconds.",
                job.name, a.effective_rpo
            ),
        );
        p.job = Named::of(job.uuid.0, &job.name);
        p.target = Named::of(job.target.uuid.0, &job.target.name);
        p.store = Named::of(job.store.uuid.0, &job.store.name);
        p.archive = runs.last_success.map(|s| s.1.0);
        p.last_success_at = runs.last_success.map(|s| format_epoch(s.0));
        p.rpo = Some(a.effective_rpo);
        set_alert(e, job.uuid, "late").await;
        e.notifier().announce(&p).await;
    }
    Ok(())
}
