//! Tasks on the agent: the core sends a backup, the agent runs the target and the store on its
//! own host with the same runner the daemon uses, data going straight from the target to the
//! store, and streams back log lines, progress and the result. The core never sees the data.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

use bulwark_runner::codec::StreamKey;
use bulwark_runner::pipeline::{self, Failure, Limits, Role};

use bulwark_api::StepWhen;

use super::AgentConfig;
use super::journal::Journal;
use super::wire::{BackupSpec, Event, PluginSpec, RestoreSpec};
use crate::engine::work::{Resolved, cleanup_backup, resolve_plain, tree_backup};
use crate::restore_run::{Outcome, RestoreRun, execute};

/// What the task routes share: the agent's configuration and its running tasks.
#[derive(Clone)]
pub(super) struct Tasks {
    pub(super) config: Arc<AgentConfig>,
    pub(super) exe: Arc<PathBuf>,
    pub(super) running: Arc<Mutex<HashMap<String, Arc<Journal>>>>,
}

impl Tasks {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Journal>>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A plugin the agent may run, resolved on its own host; `Err` says why not.
async fn local(t: &Tasks, spec: &PluginSpec, role: Role) -> Result<Resolved, String> {
    if !t.config.plugins.iter().any(|p| p == &spec.plugin) {
        return Err(format!(
            "this agent does not run the {role} plugin '{}' (its allow-list: {})",
            spec.plugin,
            t.config.plugins.join(", ")
        ));
    }
    for (key, required) in path_keys(&spec.plugin) {
        allowed_path(&t.config.paths, &spec.endpoint, key, *required)?;
    }
    let mut r = resolve_plain(
        &t.config.plugin_dirs,
        &t.exe,
        &spec.plugin,
        spec.endpoint.clone(),
        role,
    )
    .await?;
    r.env = spec.env.clone();
    r.secrets.extend(spec.secrets.iter().cloned());
    r.key = match &spec.key {
        Some(k) => Some(StreamKey::parse(k)?),
        None => None,
    };
    Ok(r)
}

/// A task's target and store, resolved on this host, and its steps' commands allowed here.
async fn pair(
    t: &Tasks,
    target: &PluginSpec,
    store: &PluginSpec,
    steps: &[bulwark_api::Step],
) -> Result<(Resolved, Resolved), String> {
    let target = local(t, target, Role::Target).await?;
    let store = local(t, store, Role::Store).await?;
    crate::steps::allowed(steps, &t.config.step_commands)?;
    Ok((target, store))
}

/// The endpoint keys of a built-in plugin that name paths on the agent's host, each with
/// whether it is required: they must be under the agent's `paths`.
fn path_keys(plugin: &str) -> &'static [(&'static str, bool)] {
    match plugin {
        "fs" => &[("base_dir", true)],
        "sqlite" => &[("path", true)],
        "scripts" => &[("scripts", true), ("work_dir", false)],
        "redis" => &[("dump_file", false)],
        _ => &[],
    }
}

/// The path under `key` in an endpoint must be under one of the agent's paths.
fn allowed_path(
    paths: &[PathBuf],
    endpoint: &str,
    key: &str,
    required: bool,
) -> Result<(), String> {
    let value = serde_json::from_str::<serde_json::Value>(endpoint)
        .ok()
        .and_then(|v| v[key].as_str().map(PathBuf::from));
    let dir = match value {
        Some(d) => d,
        None if required => return Err(format!("the endpoint has no {key}")),
        None => return Ok(()),
    };
    let ok = dir.is_absolute()
        && !dir
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        && paths.iter().any(|p| dir.starts_with(p));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not under this agent's paths ({})",
            dir.display(),
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// `POST /agent/v1/backups`: runs a backup, answering its events as they come.
pub(super) async fn backup(State(t): State<Tasks>, Json(spec): Json<BackupSpec>) -> Response {
    let id = spec.task.clone();
    events(&t.clone(), &id, move |cancel, tx| async move {
        run_backup(&t, &spec, cancel, &tx).await
    })
}

/// `POST /agent/v1/restores`: runs a restore, answering its events as they come.
pub(super) async fn restore(State(t): State<Tasks>, Json(spec): Json<RestoreSpec>) -> Response {
    let id = spec.task.clone();
    events(&t.clone(), &id, move |cancel, tx| async move {
        run_restore(&t, &spec, cancel, &tx).await
    })
}

/// Runs `work` as task `id` (one at a time per id), answering its events as a stream whose
/// last line is its end.
fn events<F, Fut>(t: &Tasks, id: &str, work: F) -> Response
where
    F: FnOnce(CancellationToken, tokio::sync::mpsc::UnboundedSender<Event>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Event> + Send + 'static,
{
    let journal = Journal::new();
    {
        let mut running = t.running();
        if running.contains_key(id) {
            return (StatusCode::CONFLICT, "this task is running already").into_response();
        }
        running.insert(id.to_string(), journal.clone());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    // Everything the task says goes into its journal, which readers follow.
    let recorder = {
        let journal = journal.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                journal.push(e, false);
            }
        })
    };
    let (tasks, id, grace) = (
        t.clone(),
        id.to_string(),
        Duration::from_secs(t.config.grace),
    );
    {
        let journal = journal.clone();
        tokio::spawn(async move {
            let end = work(journal.cancel.clone(), tx).await;
            let _ = recorder.await;
            journal.push(end, true);
        });
    }
    {
        let journal = journal.clone();
        tokio::spawn(async move {
            journal.watch(grace).await;
            tasks.running().remove(&id);
        });
    }
    stream_of(&journal, 0)
}

fn stream_of(journal: &Arc<Journal>, after: usize) -> Response {
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(journal.read(after)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `?after=N`
#[derive(Debug, serde::Deserialize)]
pub(super) struct After {
    after: usize,
}

/// `GET /agent/v1/tasks/{task}/events?after=N`: a core whose link broke reads the task's
/// events again from the one after the Nth.
pub(super) async fn reattach(
    State(t): State<Tasks>,
    UrlPath(task): UrlPath<String>,
    axum::extract::Query(q): axum::extract::Query<After>,
) -> Response {
    let journal = t.running().get(&task).cloned();
    match journal {
        Some(j) => stream_of(&j, q.after),
        None => (StatusCode::NOT_FOUND, "no such task on this agent").into_response(),
    }
}

/// `POST /agent/v1/tasks/{task}/ack`: the core has the task's end; its journal can go.
pub(super) async fn ack(State(t): State<Tasks>, UrlPath(task): UrlPath<String>) -> StatusCode {
    match t.running().get(&task) {
        Some(j) => {
            j.ack();
            StatusCode::OK
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// `POST /agent/v1/tasks/{task}/cancel`
pub(super) async fn cancel(State(t): State<Tasks>, UrlPath(task): UrlPath<String>) -> StatusCode {
    match t.running().get(&task) {
        Some(j) => {
            j.cancel.cancel();
            StatusCode::OK
        }
        None => StatusCode::NOT_FOUND,
    }
}

/// Log lines and progress of a task, forwarded as events while it runs.
struct Relay {
    log: bulwark_runner::LogSink,
    progress: Arc<AtomicU64>,
    forward: tokio::task::JoinHandle<()>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Relay {
    fn start(events: &tokio::sync::mpsc::UnboundedSender<Event>) -> Relay {
        let (log, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        let forward = {
            let events = events.clone();
            tokio::spawn(async move {
                while let Some(l) = lines.recv().await {
                    let _ = events.send(Event::Log(l));
                }
            })
        };
        let progress = Arc::new(AtomicU64::new(0));
        let ticker = {
            let (events, progress) = (events.clone(), progress.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if events
                        .send(Event::Progress(progress.load(Ordering::Relaxed)))
                        .is_err()
                    {
                        break;
                    }
                }
            })
        };
        Relay {
            log,
            progress,
            forward,
            ticker,
        }
    }

    /// Stops relaying once every line said so far has gone out.
    async fn finish(self) {
        self.ticker.abort();
        drop(self.log);
        let _ = self.forward.await;
    }
}

async fn run_restore(
    t: &Tasks,
    spec: &RestoreSpec,
    cancel: CancellationToken,
    events: &tokio::sync::mpsc::UnboundedSender<Event>,
) -> Event {
    let failed = |reason: String| Event::Failed {
        reason,
        canceled: false,
    };
    let Some(format) = bulwark_catalog::ArchiveFormat::parse(&spec.format) else {
        return failed(format!("unknown archive format '{}'", spec.format));
    };
    let (target, store) = match pair(t, &spec.target, &spec.store, &spec.steps).await {
        Ok(p) => p,
        Err(m) => return failed(m),
    };
    let staging = t.config.data_dir.join("staging");
    if let Err(err) = make_private_dir(&staging) {
        return failed(format!("{}: {err}", staging.display()));
    }
    let relay = Relay::start(events);
    if spec.drill {
        let limits = Limits {
            timeout: Duration::from_secs(spec.timeout),
            cancel,
            progress: relay.progress.clone(),
            bandwidth: None,
        };
        let end = drill(&store, &target, spec, format, &staging, &limits, &relay.log).await;
        relay.finish().await;
        return end;
    }
    let run = RestoreRun {
        key: &spec.key,
        format,
        dir: spec.dir.clone(),
        paths: &spec.paths,
        to_file: None,
        staging: staging.join(format!("{}.restore", spec.task)),
        limits: Limits {
            timeout: Duration::from_secs(spec.timeout),
            cancel,
            progress: relay.progress.clone(),
            bandwidth: None,
        },
        log: &relay.log,
    };
    let step_env = crate::steps::StepEnv {
        vars: spec.vars.clone(),
        target: &target,
    };
    let cancel = run.limits.cancel.clone();
    let before = match crate::steps::before(
        &spec.steps,
        StepWhen::BeforeRestore,
        &step_env,
        &cancel,
        run.log,
    )
    .await
    {
        Ok(o) => o,
        Err((why, canceled)) => {
            drop(run);
            relay.finish().await;
            return Event::Failed {
                reason: format!("{why}; the target was not touched"),
                canceled,
            };
        }
    };
    let result = execute(&store, Some(&target), &run).await;
    let status = match &result {
        Ok(_) => "ok",
        Err(Outcome::Refused(_)) => "failed",
        Err(Outcome::Broke(err)) => crate::steps::status_of(Some(&err.failure)),
    };
    let after = crate::steps::run(
        &spec.steps,
        StepWhen::AfterRestore,
        status,
        &step_env,
        &cancel,
        run.log,
    )
    .await;
    let end = match result {
        Ok(bytes) => Event::Restored {
            bytes,
            steps_failed: before.and(after).failure(),
        },
        Err(Outcome::Refused(line)) => failed(line),
        Err(Outcome::Broke(err)) => Event::Failed {
            reason: err.failure.brief(),
            canceled: matches!(err.failure, Failure::Canceled),
        },
    };
    relay.finish().await;
    end
}

/// A drill: the archive restored into the scratch target, checked, and the target wiped.
async fn drill(
    store: &Resolved,
    target: &Resolved,
    spec: &RestoreSpec,
    format: bulwark_catalog::ArchiveFormat,
    staging: &std::path::Path,
    limits: &Limits,
    log: &bulwark_runner::LogSink,
) -> Event {
    use crate::drill_run::{Checked, DrillRun, StepFailed};
    let r = DrillRun {
        key: &spec.key,
        format,
        dir: spec.dir.as_deref(),
        staging: staging.join(format!("{}.drill", spec.task)),
        limits,
        log,
    };
    let end = match crate::drill_run::restore_and_check(store, target, &r).await {
        Ok((rto, check)) => {
            let (check, reason) = match check {
                Checked::Passed => ("passed", None),
                Checked::Unsupported => ("unsupported", None),
                Checked::Failed(f) => ("failed", Some(f.said_or_brief())),
            };
            Event::Drilled {
                rto,
                check: check.into(),
                reason,
            }
        }
        Err(StepFailed { what, failure }) => Event::Failed {
            reason: format!("the drill failed: {what}: {}", failure.said_or_brief()),
            canceled: matches!(failure, Failure::Canceled),
        },
    };
    crate::drill_run::wipe(target, "the scratch target", log).await;
    end
}

/// Makes a directory only its owner may enter.
fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

async fn run_backup(
    t: &Tasks,
    spec: &BackupSpec,
    cancel: CancellationToken,
    events: &tokio::sync::mpsc::UnboundedSender<Event>,
) -> Event {
    let failed = |reason: String| Event::Failed {
        reason,
        canceled: false,
    };
    let (target, store) = match pair(t, &spec.target, &spec.store, &spec.steps).await {
        Ok(p) => p,
        Err(m) => return failed(m),
    };
    let relay = Relay::start(events);
    let log = relay.log.clone();
    let limits = Limits {
        timeout: Duration::from_secs(spec.timeout),
        cancel,
        progress: relay.progress.clone(),
        bandwidth: spec.bandwidth,
    };
    let step_env = crate::steps::StepEnv {
        vars: spec.vars.clone(),
        target: &target,
    };
    let before = match crate::steps::before(
        &spec.steps,
        StepWhen::BeforeBackup,
        &step_env,
        &limits.cancel,
        &log,
    )
    .await
    {
        Ok(o) => o,
        Err((why, canceled)) => {
            drop(log);
            relay.finish().await;
            return Event::Failed {
                reason: format!("{why}; no backup was made"),
                canceled,
            };
        }
    };
    let result = match &spec.tree {
        Some(tree) => {
            tree_backup(
                &store,
                &tree.dir,
                tree.parent.as_deref(),
                &spec.upload,
                &limits,
                &log,
            )
            .await
        }
        None => pipeline::backup(target.side(), store.side(), &spec.upload, &limits, &log).await,
    };
    let status = crate::steps::status_of(result.as_ref().err().map(|e| &e.failure));
    let after = crate::steps::run(
        &spec.steps,
        StepWhen::AfterBackup,
        status,
        &step_env,
        &limits.cancel,
        &log,
    )
    .await;
    let end = match result {
        Ok(done) => Event::Done {
            key: done.stored.key,
            archive_size: done.stored.archive_size,
            added: done.stored.added,
            bytes: done.bytes,
            steps_failed: before.and(after).failure(),
        },
        Err(err) => {
            let key = err.stored.as_ref().map(|o| o.key.as_str());
            cleanup_backup(store.side(), key, &spec.upload, &log).await;
            Event::Failed {
                reason: err.failure.brief(),
                canceled: matches!(err.failure, Failure::Canceled),
            }
        }
    };
    drop(log);
    relay.finish().await;
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_endpoints_stay_under_the_agents_paths() {
        let paths = [PathBuf::from("/srv/data")];
        let fs = |p: &[PathBuf], e: &str| allowed_path(p, e, "base_dir", true);
        assert!(fs(&paths, r#"{"base_dir": "/srv/data/orders"}"#).is_ok());
        for bad in [
            r#"{"base_dir": "/etc"}"#,
            r#"{"base_dir": "/srv/data/../../etc"}"#,
            r#"{"base_dir": "srv/data"}"#,
            r#"{}"#,
        ] {
            assert!(fs(&paths, bad).is_err(), "{bad}");
        }
        assert!(fs(&[], r#"{"base_dir": "/srv/data"}"#).is_err());
        assert!(fs(&paths, r#"{}"#).is_err());
        // An optional path may be absent, but not outside.
        assert!(allowed_path(&paths, r#"{}"#, "work_dir", false).is_ok());
        assert!(allowed_path(&paths, r#"{"work_dir": "/tmp"}"#, "work_dir", false).is_err());
        assert_eq!(
            path_keys("scripts"),
            &[("scripts", true), ("work_dir", false)]
        );
    }
}
