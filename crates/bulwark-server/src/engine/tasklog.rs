//! A task's log as it grows (appended to the catalog line by line, so it can be followed), and
//! what a task's end adds to the metrics.

use std::time::Duration;

use tokio::task::JoinHandle;

use bulwark_catalog::Task;
use bulwark_core::ids::TaskId;
use bulwark_core::state::TaskOp;
use bulwark_runner::LogSink;

use super::Engine;

/// Records how long a task took, by its kind and plugin (the target's for backups and
/// restores, the store's otherwise), for `/metrics`.
pub(super) async fn observe(e: &Engine, task: &Task, took: Duration) {
    let plugin = match (task.op, task.target, task.store) {
        (TaskOp::Backup | TaskOp::Restore, Some(t), _) => e
            .catalog()
            .get_target(t)
            .await
            .ok()
            .flatten()
            .map(|t| t.plugin),
        (_, _, Some(s)) => e
            .catalog()
            .get_store(s)
            .await
            .ok()
            .flatten()
            .map(|s| s.plugin),
        _ => None,
    };
    let plugin = plugin.unwrap_or_else(|| "unknown".into());
    e.metrics()
        .task_took(task.op.as_str(), &plugin, took.as_secs_f64());
}

/// A channel whose lines are appended to the task's log as they come, so the log can be
/// followed while the task runs.
pub(super) fn log_writer(e: &Engine, id: TaskId) -> (LogSink, JoinHandle<()>) {
    let (log, flusher, handle) = flushable_log(e, id);
    drop(flusher);
    (log, handle)
}

/// Asks a task's log writer to store every line sent so far, and waits until it has.
pub(super) struct Flusher(tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>);

impl Flusher {
    /// Returns once every line said before this call is in the catalog (or the writer is gone).
    pub(super) async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.0.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

/// [`log_writer`] that can also be flushed: a task records its end only after its log is
/// whole, so a reader that sees the end also sees every line before it.
pub(super) fn flushable_log(e: &Engine, id: TaskId) -> (LogSink, Flusher, JoinHandle<()>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (flush_tx, mut flush_rx) =
        tokio::sync::mpsc::unbounded_channel::<tokio::sync::oneshot::Sender<()>>();
    let catalog = e.catalog().clone();
    let handle = tokio::spawn(async move {
        let mut flushes_open = true;
        loop {
            let (first, done) = tokio::select! {
                biased;
                line = rx.recv() => match line {
                    Some(line) => (Some(line), None),
                    None => break,
                },
                asked = flush_rx.recv(), if flushes_open => match asked {
                    Some(done) => (None, Some(done)),
                    None => {
                        flushes_open = false;
                        continue;
                    }
                },
            };
            let mut text = first.map(|l| l + "\n").unwrap_or_default();
            // A flush takes everything queued; a plain write takes up to 256 KiB at a time.
            while done.is_some() || text.len() < 256 * 1024 {
                match rx.try_recv() {
                    Ok(line) => {
                        text.push_str(&line);
                        text.push('\n');
                    }
                    Err(_) => break,
                }
            }
            if !text.is_empty()
                && let Err(err) = catalog.append_task_log(id, &text).await
            {
                tracing::error!(task = %id, error = %err, "Cannot write a task log.");
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
    });
    (tx, Flusher(flush_tx), handle)
}
