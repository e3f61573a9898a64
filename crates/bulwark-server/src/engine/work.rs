//! One worker running one task: backup, restore or purge.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use bulwark_catalog::{NewArchive, Task};
use bulwark_core::ids::TaskId;
use bulwark_core::state::{ArchiveStatus, TaskOp, TaskStatus};
use bulwark_plugin::Action;
use bulwark_runner::pipeline::{self, Failure, Limits, Role, Side};
use bulwark_runner::{Call, LogSink, PluginCommand, run_collect, secret_values};

use super::Engine;
use crate::plugins;

/// How long a store's `purge` or `abandon` may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(300);

/// The log line a task ends with when the daemon stops under it.
pub(super) const DAEMON_STOPPED: &str = "the daemon stopped during this task";

/// How a task ended, and the last line of its log.
struct End {
    status: TaskStatus,
    line: String,
}

impl End {
    fn failed(line: impl Into<String>) -> End {
        End {
            status: TaskStatus::Failed,
            line: line.into(),
        }
    }
}

/// Runs a claimed task to its end and records how it ended.
pub(super) async fn run(e: &Engine, task: Task, cancel: CancellationToken) {
    let id = task.uuid;
    tracing::info!(task = %id, op = %task.op, owner = %task.owner, "Task started.");
    let (log, writer) = log_writer(e, id);
    let end = match task.op {
        TaskOp::Backup => backup(e, &task, &cancel, &log).await,
        TaskOp::Restore => restore(e, &task, &cancel, &log).await,
        TaskOp::Purge => purge(e, &task, &log).await,
    };
    drop(log);
    let _ = writer.await;
    let end = match end {
        // A backup that succeeded has already been recorded with its archive.
        None => {
            tracing::info!(task = %id, "Task done.");
            e.wake();
            return;
        }
        Some(end) => end,
    };
    tracing::info!(task = %id, status = %end.status, reason = %end.line, "Task ended.");
    if let Err(err) = e
        .catalog()
        .finish_task(id, end.status, &end.line, e.now())
        .await
    {
        tracing::error!(task = %id, error = %err, "Cannot record the end of a task.");
    }
    e.wake();
}

/// A channel whose lines are appended to the task's log as they come, so the log can be
/// followed while the task runs.
pub(super) fn log_writer(e: &Engine, id: TaskId) -> (LogSink, JoinHandle<()>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let catalog = e.catalog().clone();
    let handle = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut text = first + "\n";
            while text.len() < 256 * 1024 {
                match rx.try_recv() {
                    Ok(line) => {
                        text.push_str(&line);
                        text.push('\n');
                    }
                    Err(_) => break,
                }
            }
            if let Err(err) = catalog.append_task_log(id, &text).await {
                tracing::error!(task = %id, error = %err, "Cannot write a task log.");
            }
        }
    });
    (tx, handle)
}

/// "in 1.234s (812.3 MiB/s)"
fn rate(bytes: u64, took: Duration) -> String {
    let secs = took.as_secs_f64();
    let mib = bytes as f64 / 1_048_576.0;
    if secs > 0.0 {
        format!("in {secs:.3}s ({:.1} MiB/s)", mib / secs)
    } else {
        format!("in {secs:.3}s")
    }
}

fn say(log: &LogSink, line: impl Into<String>) {
    let _ = log.send(line.into());
}

/// A plugin ready to run with one endpoint: how to start it, and the endpoint's secrets (by key
/// name and by the `password` fields its `info` declares) to hide in what it prints.
struct Resolved<'a> {
    command: PluginCommand,
    endpoint: &'a str,
    secrets: Vec<String>,
}

impl Resolved<'_> {
    fn side(&self) -> Side<'_> {
        Side {
            plugin: &self.command,
            endpoint: self.endpoint,
            secrets: &self.secrets,
        }
    }
}

/// Finds an installed plugin by name and checks, by its `info`, that it can play `role`.
async fn resolve<'a>(
    e: &Engine,
    name: &str,
    endpoint: &'a str,
    role: Role,
) -> Result<Resolved<'a>, String> {
    let installed = plugins::discover(&e.config().plugin_dirs, &e.config().bulwark_exe)
        .into_iter()
        .find(|p| p.command.name() == name)
        .ok_or_else(|| format!("the {role} plugin '{name}' is not installed on this host"))?;
    let info = match &installed.command {
        PluginCommand::Builtin { .. } => bulwark_plugin::builtin::get(name)
            .map(|b| b.info)
            .ok_or_else(|| format!("'{name}' is not a built-in plugin"))?,
        PluginCommand::External { .. } => plugins::external_info(&installed.command)
            .await
            .map_err(|err| format!("the {role} plugin '{name}' is unusable: {err}"))?,
    };
    let able = match role {
        Role::Target => info.features.target,
        Role::Store => info.features.store,
    };
    if !able {
        return Err(format!(
            "the plugin '{name}' is not a {role} plugin (its info says {role}: no)"
        ));
    }
    Ok(Resolved {
        command: installed.command,
        endpoint,
        secrets: secret_values(endpoint, &info.secret_fields()),
    })
}

/// Resolves a pipeline's two plugins; a task that cannot have them ends failed.
async fn resolve_pair<'a>(
    e: &Engine,
    target: &'a bulwark_catalog::Target,
    store: &'a bulwark_catalog::Store,
) -> Result<(Resolved<'a>, Resolved<'a>), End> {
    let failed = |m: String| End::failed(format!("Failed: {m}."));
    let t = resolve(e, &target.plugin, &target.endpoint, Role::Target)
        .await
        .map_err(failed)?;
    let s = resolve(e, &store.plugin, &store.endpoint, Role::Store)
        .await
        .map_err(failed)?;
    Ok((t, s))
}

fn limits(e: &Engine, cancel: &CancellationToken) -> Limits {
    Limits {
        timeout: e.config().task_timeout,
        cancel: cancel.clone(),
    }
}

/// The end of a task whose pipeline failed.
fn pipeline_end(e: &Engine, failure: &Failure) -> End {
    match failure {
        Failure::Canceled if e.stopping() => End::failed(DAEMON_STOPPED),
        Failure::Canceled => End {
            status: TaskStatus::Canceled,
            line: "Canceled by request; the plugins were killed.".into(),
        },
        other => End::failed(format!("Failed: {other}.")),
    }
}

async fn backup(e: &Engine, task: &Task, cancel: &CancellationToken, log: &LogSink) -> Option<End> {
    let Some(job_id) = task.job else {
        return Some(End::failed("Failed: the task names no job."));
    };
    let job = match e.catalog().get_job(job_id).await {
        Ok(Some(j)) => j,
        Ok(None) => return Some(End::failed("Failed: its job no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    // The store recorded when the task started is the one that gets the data (and is cleaned
    // on failure), even if the job is edited meanwhile.
    let store = match task.store {
        Some(id) if id != job.store.uuid => match e.catalog().get_store(id).await {
            Ok(Some(s)) => s,
            _ => return Some(End::failed("Failed: its store no longer exists.")),
        },
        _ => job.store.clone(),
    };
    let target = &job.target;
    say(
        log,
        format!(
            "Backing up target '{}' ({}) into store '{}' ({}).",
            target.name, target.plugin, store.name, store.plugin
        ),
    );
    let (t, s) = match resolve_pair(e, target, &store).await {
        Ok(pair) => pair,
        Err(end) => return Some(end),
    };
    let upload = task.uuid.to_string();
    let clock = std::time::Instant::now();
    let result = pipeline::backup(t.side(), s.side(), &upload, &limits(e, cancel), log).await;
    let store_side = s.side();
    match result {
        Ok(done) => {
            let taken_at = task.started_at.unwrap_or_else(|| e.now());
            let archive = NewArchive {
                target: target.uuid,
                store: store.uuid,
                store_key: done.stored.key.clone(),
                taken_at,
                expires_at: taken_at.saturating_add(job.retention.expiry),
                notes: String::new(),
                size: i64::try_from(done.bytes).unwrap_or(i64::MAX),
            };
            let line = format!(
                "Done: {} bytes stored under key {} {}; kept for {}s.",
                done.bytes,
                done.stored.key,
                rate(done.bytes, clock.elapsed()),
                job.retention.expiry
            );
            match e
                .catalog()
                .complete_backup(task.uuid, &archive, &line, e.now())
                .await
            {
                Ok(id) => {
                    tracing::info!(task = %task.uuid, archive = %id, bytes = done.bytes, "Backup done.");
                    None
                }
                Err(err) => {
                    // The data is stored but cannot be recorded: remove it rather than keep
                    // an archive nobody knows about.
                    say(log, format!("Recording the archive failed: {err}"));
                    cleanup_backup(store_side, Some(&done.stored.key), &upload, log).await;
                    Some(End::failed(format!(
                        "Failed: the archive could not be recorded: {err}"
                    )))
                }
            }
        }
        Err(err) => {
            say(log, format!("{err}."));
            let key = err.stored.as_ref().map(|o| o.key.as_str());
            cleanup_backup(store_side, key, &upload, log).await;
            Some(pipeline_end(e, &err.failure))
        }
    }
}

/// Removes what a failed backup left in its store: the blob under a key the store printed,
/// and whatever remains of the upload.
pub(super) async fn cleanup_backup(
    store: Side<'_>,
    key: Option<&str>,
    upload: &str,
    log: &LogSink,
) {
    if let Some(key) = key {
        match store_call(store, Action::Purge, key).await {
            Ok(()) => say(log, format!("Removed the data stored under key {key}.")),
            Err(m) => say(
                log,
                format!("Could not remove the data under key {key}: {m}"),
            ),
        }
    }
    match store_call(store, Action::Abandon, upload).await {
        Ok(()) => say(log, "Removed what the store kept of this upload."),
        Err(m) => say(
            log,
            format!("Could not clean up the upload in the store: {m}"),
        ),
    }
}

/// Runs a store action that takes a key and prints nothing, such as purge or abandon.
async fn store_call(store: Side<'_>, action: Action, key: &str) -> Result<(), String> {
    let call = Call {
        action,
        endpoint: store.endpoint,
        key: Some(key),
        timeout: CLEANUP_TIMEOUT,
        secrets: store.secrets,
    };
    let out = run_collect(store.plugin, &call, Vec::new(), 64 * 1024)
        .await
        .map_err(|err| err.to_string())?;
    if out.success() {
        return Ok(());
    }
    if action == Action::Abandon && matches!(out.code, Some(1) | Some(2)) {
        return Err(format!(
            "the plugin does not support abandon ({}); it keeps no partial uploads Bulwark can remove",
            out.describe_exit()
        ));
    }
    let said = out.stderr.text.trim().replace('\n', " / ");
    Err(format!(
        "{action} failed with {}: {said}",
        out.describe_exit()
    ))
}

async fn restore(
    e: &Engine,
    task: &Task,
    cancel: &CancellationToken,
    log: &LogSink,
) -> Option<End> {
    let (Some(archive_id), Some(target_id)) = (task.archive, task.target) else {
        return Some(End::failed("Failed: the task names no archive or target."));
    };
    let archive = match e.catalog().get_archive(archive_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Some(End::failed("Failed: the archive no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    if archive.status != ArchiveStatus::Valid {
        return Some(End::failed(format!(
            "Failed: the archive is {}; its data is no longer in the store.",
            archive.status
        )));
    }
    let target = match e.catalog().get_target(target_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Some(End::failed("Failed: the target no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    let store = &archive.store;
    say(
        log,
        format!(
            "Restoring archive {} (key {}) from store '{}' ({}) into target '{}' ({}).",
            archive.uuid, archive.store_key, store.name, store.plugin, target.name, target.plugin
        ),
    );
    let (t, s) = match resolve_pair(e, &target, store).await {
        Ok(pair) => pair,
        Err(end) => return Some(end),
    };
    let clock = std::time::Instant::now();
    let result = pipeline::restore(
        s.side(),
        &archive.store_key,
        t.side(),
        &limits(e, cancel),
        log,
    )
    .await;
    Some(match result {
        Ok(bytes) => End {
            status: TaskStatus::Done,
            line: format!(
                "Done: restored {bytes} bytes into target '{}' {}.",
                target.name,
                rate(bytes, clock.elapsed())
            ),
        },
        Err(err) => pipeline_end(e, &err.failure),
    })
}

async fn purge(e: &Engine, task: &Task, log: &LogSink) -> Option<End> {
    let Some(archive_id) = task.archive else {
        return Some(End::failed("Failed: the task names no archive."));
    };
    let archive = match e.catalog().get_archive(archive_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Some(End::failed("Failed: the archive no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    if archive.status == ArchiveStatus::Purged {
        return Some(End {
            status: TaskStatus::Done,
            line: "The archive was already purged.".into(),
        });
    }
    let store = &archive.store;
    say(
        log,
        format!(
            "Purging archive {} (key {}) from store '{}' ({}).",
            archive.uuid, archive.store_key, store.name, store.plugin
        ),
    );
    let retry = format!(
        "; the archive stays 'purging' and the purge is tried again in {}s",
        e.config().purge_retry.as_secs()
    );
    let s = match resolve(e, &store.plugin, &store.endpoint, Role::Store).await {
        Ok(r) => r,
        Err(m) => return Some(End::failed(format!("Failed: {m}{retry}."))),
    };
    match store_call(s.side(), Action::Purge, &archive.store_key).await {
        Ok(()) => {
            let line = "Done: the archive's data was removed from the store.";
            if let Err(err) = e
                .catalog()
                .complete_purge(task.uuid, archive.uuid, line, e.now())
                .await
            {
                return Some(End::failed(format!("Failed: the catalog: {err}")));
            }
            None
        }
        Err(m) => Some(End::failed(format!("Failed: {m}{retry}."))),
    }
}

/// Resolves a store by plugin name and abandons an upload there: crash recovery's cleanup.
pub(super) async fn abandon_upload(
    e: &Engine,
    store: &bulwark_catalog::Store,
    upload: &str,
    log: &LogSink,
) {
    match resolve(e, &store.plugin, &store.endpoint, Role::Store).await {
        Ok(s) => cleanup_backup(s.side(), None, upload, log).await,
        Err(m) => say(log, format!("Could not clean up the upload: {m}.")),
    }
}
