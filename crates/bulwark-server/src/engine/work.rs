//! One worker running one task: backup, restore, purge, or a store's check or prune.

use std::time::Duration;

use bulwark_api::StepWhen;
use bulwark_catalog::{ArchiveFormat, Task};
use bulwark_core::ids::ArchiveId;
use bulwark_core::state::{TaskOp, TaskStatus};
use bulwark_plugin::Action;
use bulwark_runner::codec::StreamKey;
use bulwark_runner::pipeline::{self, Failure, Limits, Role, Side};
use bulwark_runner::single::{Single, run_logged};
use bulwark_runner::{LogSink, PluginCommand, run_collect, secret_values};

use super::record::{NewBackup, Stored, record};
use super::tasklog::{Flusher, flushable_log, observe};
use super::{Engine, Running};
use crate::plugins;
use crate::store_keys::{self, is_repository};

/// How long a store's `purge` or `abandon` may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(300);

/// The log line a task ends with when the daemon stops under it.
pub(super) const DAEMON_STOPPED: &str = "the daemon stopped during this task";

/// How a task ended, and the last line of its log.
pub(super) struct End {
    pub(super) status: TaskStatus,
    pub(super) line: String,
}

impl End {
    pub(super) fn failed(line: impl Into<String>) -> End {
        End {
            status: TaskStatus::Failed,
            line: line.into(),
        }
    }
}

/// Runs a claimed task to its end and records how it ended.
pub(super) async fn run(e: &Engine, task: Task, run: Running) {
    let id = task.uuid;
    let began = std::time::Instant::now();
    tracing::info!(task = %id, op = %task.op, owner = %task.owner, "Task started.");
    let (log, flusher, writer) = flushable_log(e, id);
    let end = match task.op {
        TaskOp::Backup => backup(e, &task, &run, &log, &flusher).await,
        TaskOp::Restore => super::restore::restore(e, &task, &run, &log).await,
        TaskOp::Purge => super::restore::purge(e, &task, &log).await,
        TaskOp::Check | TaskOp::Prune => super::maintain::run(e, &task, &run, &log).await,
        TaskOp::Drill => super::drill::drill(e, &task, &run, &log).await,
        TaskOp::Copy => super::copy::copy(e, &task, &run, &log).await,
    };
    drop(log);
    let _ = writer.await;
    let end = match end {
        // A backup that succeeded has already been recorded with its archive.
        None => {
            tracing::info!(task = %id, "Task done.");
            super::retries::after_success(e, &task).await;
            e.wake();
            observe(e, &task, began.elapsed()).await;
            super::alerts::after_task(e, &task, TaskStatus::Done, "").await;
            return;
        }
        Some(end) => end,
    };
    let mut end = end;
    if end.status == TaskStatus::Canceled
        && let Some(why) = e.cancel_reason(id)
    {
        end.line = why;
    }
    let retry = match task.op {
        TaskOp::Copy => super::copy::after_failure(e, &task, end.status).await,
        _ => super::retries::after_failure(e, &task, end.status).await,
    };
    if let Some(note) = &retry {
        end.line = format!("{} {note}", end.line);
    }
    tracing::info!(task = %id, status = %end.status, reason = %end.line, "Task ended.");
    if let Err(err) = e
        .catalog()
        .finish_task(id, end.status, &end.line, e.now())
        .await
    {
        tracing::error!(task = %id, error = %err, "Cannot record the end of a task.");
    }
    e.wake();
    observe(e, &task, began.elapsed()).await;
    // A failure that will be retried is announced only if the retries fail too.
    if retry.is_none() {
        super::alerts::after_task(e, &task, end.status, &end.line).await;
    }
}

/// "in 1.234s (812.3 MiB/s)"
pub(super) fn rate(bytes: u64, took: Duration) -> String {
    let secs = took.as_secs_f64();
    let mib = bytes as f64 / 1_048_576.0;
    if secs > 0.0 {
        format!("in {secs:.3}s ({:.1} MiB/s)", mib / secs)
    } else {
        format!("in {secs:.3}s")
    }
}

/// A line that ends as a sentence does, with one full stop (not `...?.` or `..`).
pub(super) fn sentence(line: &str) -> String {
    let line = line.trim_end();
    if line.ends_with(['.', '?', '!']) {
        line.to_string()
    } else {
        format!("{line}.")
    }
}

pub(crate) fn say(log: &LogSink, line: impl Into<String>) {
    let _ = log.send(line.into());
}

/// A plugin ready to run with one endpoint: how to start it, and the endpoint's secrets (by key
/// name and by the `password` fields its `info` declares) to hide in what it prints. A store
/// also carries what its own secret gives: a repository password in `env`, or the `key` its
/// streams are sealed with.
pub(crate) struct Resolved {
    pub(crate) command: PluginCommand,
    /// The endpoint with its sealed values opened: it exists only in memory and in the plugin's
    /// environment (or, for a plugin of the plain protocol, on its command line).
    pub(crate) endpoint: String,
    pub(crate) secrets: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) key: Option<StreamKey>,
}

impl Resolved {
    pub(crate) fn side(&self) -> Side<'_> {
        Side {
            plugin: &self.command,
            endpoint: &self.endpoint,
            secrets: &self.secrets,
            env: &self.env,
            key: self.key.as_ref(),
        }
    }

    /// One call of this plugin outside a pipeline.
    pub(crate) fn single<'b>(&'b self, role: Role, args: &'b [&'b str]) -> Single<'b> {
        Single {
            plugin: &self.command,
            role,
            args,
            endpoint: &self.endpoint,
            env: &self.env,
            secrets: &self.secrets,
        }
    }
}

/// Finds an installed plugin by name and checks, by its `info`, that it can play `role`.
pub(super) async fn resolve(
    e: &Engine,
    name: &str,
    sealed_endpoint: &str,
    role: Role,
) -> Result<Resolved, String> {
    let endpoint = crate::sealing::open(&e.config().vault, sealed_endpoint)
        .map_err(|err| format!("the {role}'s endpoint cannot be opened: {err}"))?;
    resolve_plain(
        &e.config().plugin_dirs,
        &e.config().bulwark_exe,
        name,
        endpoint,
        role,
    )
    .await
}

/// [`resolve`] with the endpoint in clear, among the plugins of `dirs` (an agent's own).
pub(crate) async fn resolve_plain(
    dirs: &[std::path::PathBuf],
    exe: &std::path::Path,
    name: &str,
    endpoint: String,
    role: Role,
) -> Result<Resolved, String> {
    let installed = plugins::discover(dirs, exe)
        .into_iter()
        .find(|p| p.command.name() == name)
        .ok_or_else(|| format!("the {role} plugin '{name}' is not installed on this host"))?;
    let info = match &installed.command {
        PluginCommand::Builtin { .. } => plugins::builtin_info(name)
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
    let mut command = installed.command;
    let secrets = secret_values(&endpoint, &info.secret_fields());
    if let PluginCommand::External { endpoint_env, .. } = &mut command {
        *endpoint_env = info.features.endpoint_in_env();
        if !*endpoint_env && !secrets.is_empty() {
            tracing::warn!(
                plugin = name,
                "The plugin takes its endpoint, secrets included, on its command line, where other users of this host can read it; a plugin that declares \"endpoint\": \"env\" in its info features gets it in BULWARK_PLUGIN_ENDPOINT instead."
            );
        }
    }
    Ok(Resolved {
        command,
        secrets,
        endpoint,
        env: Vec::new(),
        key: None,
    })
}

/// Resolves a store's plugin with what its secret gives.
pub(super) async fn resolve_store(
    e: &Engine,
    store: &bulwark_catalog::Store,
) -> Result<Resolved, String> {
    let mut r = resolve(e, &store.plugin, &store.endpoint, Role::Store).await?;
    let access = store_keys::access(&e.config().vault, store)?;
    r.env = access.env;
    r.secrets.extend(access.secrets);
    r.key = access.key;
    Ok(r)
}

/// Resolves a pipeline's two plugins; a task that cannot have them ends failed.
pub(super) async fn resolve_pair(
    e: &Engine,
    target: &bulwark_catalog::Target,
    store: &bulwark_catalog::Store,
) -> Result<(Resolved, Resolved), End> {
    let failed = |m: String| End::failed(sentence(&format!("Failed: {m}")));
    let t = resolve(e, &target.plugin, &target.endpoint, Role::Target)
        .await
        .map_err(failed)?;
    let s = resolve_store(e, store).await.map_err(failed)?;
    Ok((t, s))
}

pub(super) fn limits(e: &Engine, run: &Running) -> Limits {
    Limits {
        timeout: e.config().task_timeout,
        cancel: run.cancel.clone(),
        progress: run.bytes.clone(),
        bandwidth: None,
    }
}

/// The end of a task whose pipeline failed.
pub(super) fn pipeline_end(e: &Engine, failure: &Failure) -> End {
    match failure {
        Failure::Canceled if e.stopping() => End::failed(DAEMON_STOPPED),
        Failure::Canceled => End {
            status: TaskStatus::Canceled,
            line: "Canceled by request; the plugins were killed.".into(),
        },
        other => End::failed(sentence(&format!("Failed: {}", other.brief()))),
    }
}

async fn backup(
    e: &Engine,
    task: &Task,
    run: &Running,
    log: &LogSink,
    flusher: &Flusher,
) -> Option<End> {
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
    match super::placement::place(e, target).await {
        Ok(super::placement::Place::Here) => {}
        Ok(super::placement::Place::Agent(agent)) => {
            return super::remote::backup(e, task, run, log, flusher, &job, &store, &agent).await;
        }
        Err(line) => return Some(End::failed(line)),
    }
    say(
        log,
        format!(
            "Backing up target '{}' ({}) into store '{}' ({}).",
            target.name, target.plugin, store.name, store.plugin
        ),
    );
    let (t, mut s) = match resolve_pair(e, target, &store).await {
        Ok(pair) => pair,
        Err(end) => return Some(end),
    };
    let upload = task.uuid.to_string();
    let archive_id = ArchiveId::new_random();
    let steps = crate::steps::of(&job);
    let step_env = crate::steps::StepEnv {
        vars: super::hooks::vars(&job, task, Some(archive_id)),
        target: &t,
    };
    let before =
        match super::hooks::before(e, &steps, StepWhen::BeforeBackup, &step_env, run, log).await {
            Ok(o) => o,
            Err(end) => return Some(end),
        };
    let repo = is_repository(&store.plugin);
    if repo {
        s.env.push((
            bulwark_repo::cli::FILENAME_ENV.to_string(),
            snapshot_filename(&target.name),
        ));
        s.env.push((
            bulwark_repo::cli::TAGS_ENV.to_string(),
            format!(
                "job={},target={},archive={archive_id}",
                job.uuid, target.uuid
            ),
        ));
    }
    let bandwidth = job.bandwidth.and_then(|b| u64::try_from(b).ok());
    if let Some(b) = bandwidth {
        // A tree's files go to the repository from its own plugin, which paces its writes.
        s.env
            .push((bulwark_repo::cli::BANDWIDTH_ENV.to_string(), b.to_string()));
        say(
            log,
            format!("At most {b} bytes a second go to the store (the job's bandwidth)."),
        );
    }
    let paced = Limits {
        bandwidth,
        ..limits(e, run)
    };
    let clock = std::time::Instant::now();
    let tree = if repo { tree_dir(target) } else { None };
    let (format, result) = if let Some(dir) = &tree {
        let parent = match e.catalog().tree_parent(target.uuid, store.uuid).await {
            Ok(p) => p,
            Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
        };
        match &parent {
            Some(p) => say(
                log,
                format!(
                    "Backing up {} as a tree; unchanged files are taken from snapshot {p}.",
                    dir
                ),
            ),
            None => say(
                log,
                format!(
                    "Backing up {} as a tree; no earlier snapshot, every file is read.",
                    dir
                ),
            ),
        }
        (
            ArchiveFormat::Tree,
            tree_backup(&s, dir, parent.as_deref(), &upload, &paced, log).await,
        )
    } else {
        let format = if repo {
            ArchiveFormat::Stream
        } else if s.key.is_some() {
            ArchiveFormat::Sealed
        } else {
            ArchiveFormat::Raw
        };
        if format == ArchiveFormat::Sealed {
            say(
                log,
                "The stream is compressed (zstd) and encrypted (age) before the store sees it.",
            );
        }
        (
            format,
            pipeline::backup(t.side(), s.side(), &upload, &paced, log).await,
        )
    };
    let store_side = s.side();
    let status = crate::steps::status_of(result.as_ref().err().map(|err| &err.failure));
    let after =
        super::hooks::after(&steps, StepWhen::AfterBackup, status, &step_env, run, log).await;
    let steps_failed = before.and(after).failure();
    match result {
        Ok(done) => {
            let stored = Stored {
                key: done.stored.key.clone(),
                archive_size: done.stored.archive_size,
                added: done.stored.added,
                bytes: done.bytes,
            };
            // Every line said so far goes in before the archive and the end are recorded.
            flusher.flush().await;
            let made = NewBackup {
                job: &job,
                store: &store,
                archive: archive_id,
                format,
                tree: tree.is_some(),
                took: clock.elapsed(),
            };
            match record(e, task, &made, &stored, steps_failed.as_deref()).await {
                Ok(()) => None,
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
            let key = err.stored.as_ref().map(|o| o.key.as_str());
            cleanup_backup(store_side, key, &upload, log).await;
            Some(pipeline_end(e, &err.failure))
        }
    }
}

/// Removes what a failed backup left in its store: the blob under a key the store printed,
/// and whatever remains of the upload.
pub(crate) async fn cleanup_backup(
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
pub(super) async fn store_call(store: Side<'_>, action: Action, key: &str) -> Result<(), String> {
    let call = bulwark_runner::Call {
        action,
        endpoint: store.endpoint,
        key: Some(key),
        timeout: CLEANUP_TIMEOUT,
        secrets: store.secrets,
        env: store.env,
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

/// Resolves a store by plugin name and abandons an upload there: crash recovery's cleanup.
pub(super) async fn abandon_upload(
    e: &Engine,
    store: &bulwark_catalog::Store,
    upload: &str,
    log: &LogSink,
) {
    match resolve_store(e, store).await {
        Ok(s) => cleanup_backup(s.side(), None, upload, log).await,
        Err(m) => say(log, format!("Could not clean up the upload: {m}.")),
    }
}

/// The directory of a target the repository store backs up as a tree: the built-in fs
/// target's `base_dir`, when no include or exclude patterns select within it (those are
/// applied by the fs target's own stream).
pub(crate) fn tree_dir(target: &bulwark_catalog::Target) -> Option<String> {
    if target.plugin != "fs" {
        return None;
    }
    let ep: serde_json::Value = serde_json::from_str(&target.endpoint).ok()?;
    let selects = |k: &str| {
        ep.get(k)
            .and_then(|v| v.as_array())
            .is_some_and(|a| !a.is_empty())
    };
    if selects("include") || selects("exclude") {
        return None;
    }
    ep.get("base_dir")
        .and_then(|v| v.as_str())
        .filter(|d| d.starts_with('/'))
        .map(|d| d.trim_end_matches('/').to_string())
        .map(|d| if d.is_empty() { "/".to_string() } else { d })
}

/// The name of the one file a stream snapshot holds: the target's name, made a safe file name.
pub(super) fn snapshot_filename(target: &str) -> String {
    let name: String = target
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    match name.trim() {
        "" | "." | ".." => "stream".to_string(),
        n => n.to_string(),
    }
}

/// Backs up a directory into a repository store as a tree snapshot (one process: the
/// repository plugin reads the files itself).
pub(crate) async fn tree_backup(
    s: &Resolved,
    dir: &str,
    parent: Option<&str>,
    upload: &str,
    limits: &Limits,
    log: &LogSink,
) -> Result<pipeline::Backup, pipeline::PipelineError> {
    let mut args = vec!["backup-tree", "--dir", dir];
    if let Some(p) = parent {
        args.extend(["--parent", p]);
    }
    let mut env = s.env.clone();
    env.push((bulwark_plugin::UPLOAD_ENV.to_string(), upload.to_string()));
    let call = Single {
        env: &env,
        ..s.single(Role::Store, &args)
    };
    let fail = |failure| pipeline::PipelineError {
        failure,
        stored: None,
    };
    let out = run_logged(call, limits, log).await.map_err(fail)?;
    let stored = bulwark_plugin::StoreOutput::parse(&out).map_err(|m| {
        fail(Failure::Plugin {
            role: Role::Store,
            name: s.command.name().to_string(),
            reason: m,
            said: String::new(),
        })
    })?;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out)
        && let Some([new, changed, same]) = v["files"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| n.as_u64().unwrap_or(0))
                    .collect::<Vec<_>>()
            })
            .as_deref()
    {
        say(
            log,
            format!("Files: {new} new, {changed} changed, {same} unchanged (not read again)."),
        );
    }
    Ok(pipeline::Backup {
        bytes: stored.archive_size.unwrap_or(0),
        stored,
    })
}
