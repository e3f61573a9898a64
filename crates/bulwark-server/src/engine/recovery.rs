//! Crash recovery: what a stopped daemon left running is failed, and its partial data removed.

use bulwark_core::state::{TaskOp, TaskStatus};

use super::Engine;
use super::tasklog::log_writer as task_log;
use super::work::{DAEMON_STOPPED, abandon_upload};

/// Fails every task left `running` (no worker of this daemon runs it) after removing what a
/// backup among them left in its store.
pub(super) async fn recover(e: &Engine) {
    let tasks = match e.catalog().tasks_in(TaskStatus::Running).await {
        Ok(t) => t,
        Err(err) => {
            tracing::error!(error = %err, "Cannot read the tasks left running.");
            return;
        }
    };
    for task in tasks {
        tracing::warn!(task = %task.uuid, op = %task.op, "Task was left running by a daemon that stopped; failing it.");
        let (log, writer) = task_log(e, task.uuid);
        let _ = log.send(format!("Recovery: {DAEMON_STOPPED}."));
        if matches!(task.op, TaskOp::Backup | TaskOp::Copy)
            && let Some(store) = task.store
        {
            match e.catalog().get_store(store).await {
                Ok(Some(store)) => {
                    abandon_upload(e, &store, &task.uuid.to_string(), &log).await;
                }
                Ok(None) => {
                    let _ = log.send("Its store no longer exists; nothing to clean up.".into());
                }
                Err(err) => tracing::error!(error = %err, "Cannot read a store."),
            }
        }
        drop(log);
        let _ = writer.await;
        if let Err(err) = e
            .catalog()
            .finish_task(task.uuid, TaskStatus::Failed, DAEMON_STOPPED, e.now())
            .await
        {
            tracing::error!(task = %task.uuid, error = %err, "Cannot fail a task left running.");
        }
        // A copy the stop cut short is tried again, as a failed one is.
        if task.op == TaskOp::Copy {
            super::copy::after_failure(e, &task, TaskStatus::Failed).await;
        }
    }
}
