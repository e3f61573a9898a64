//! A backup on an agent: the core opens the endpoints and the store's secret, sends the agent
//! the task, and follows its events; the agent runs the target and the store on its own host,
//! the data going straight from one to the other. The archive is recorded only from the
//! agent's `done` event: a broken link or a failure never becomes an archive (the agent cleans
//! up what its store kept).

use bulwark_catalog::{Agent, Archive, ArchiveFormat, Job, Store, Target, Task};
use bulwark_core::ids::ArchiveId;
use bulwark_core::state::TaskStatus;
use bulwark_runner::LogSink;

use super::RestoreOptions;
use super::record::{NewBackup, Stored, record};
use super::tasklog::Flusher;
use super::work::{End, rate, say, sentence, snapshot_filename, tree_dir};
use super::{Engine, Running};
use crate::agent_host::wire::{BackupSpec, Event, PluginSpec, RestoreSpec, TreeSpec};
use crate::store_keys::{self, is_repository};

/// Runs the job's backup on `agent`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn backup(
    e: &Engine,
    task: &Task,
    run: &Running,
    log: &LogSink,
    flusher: &Flusher,
    job: &Job,
    store: &Store,
    agent: &Agent,
) -> Option<End> {
    let failed = |m: String| Some(End::failed(sentence(&format!("Failed: {m}"))));
    let target = &job.target;
    say(
        log,
        format!(
            "Backing up target '{}' ({}) on agent '{}' at {} into store '{}' ({}); the data goes from the agent to the store.",
            target.name, target.plugin, agent.name, agent.address, store.name, store.plugin
        ),
    );
    let (target_endpoint, store_endpoint, access) = match opened(e, target, store) {
        Ok(o) => o,
        Err(m) => return failed(m),
    };
    let archive_id = ArchiveId::new_random();
    let repo = is_repository(&store.plugin);
    let mut env = access.env;
    let bandwidth = job.bandwidth.and_then(|b| u64::try_from(b).ok());
    if let Some(b) = bandwidth {
        env.push((bulwark_repo::cli::BANDWIDTH_ENV.to_string(), b.to_string()));
    }
    if repo {
        env.push((
            bulwark_repo::cli::FILENAME_ENV.to_string(),
            snapshot_filename(&target.name),
        ));
        env.push((
            bulwark_repo::cli::TAGS_ENV.to_string(),
            format!(
                "job={},target={},archive={archive_id}",
                job.uuid, target.uuid
            ),
        ));
    }
    let tree = match repo.then(|| tree_dir(target)).flatten() {
        Some(dir) => match e.catalog().tree_parent(target.uuid, store.uuid).await {
            Ok(parent) => Some(TreeSpec { dir, parent }),
            Err(err) => return failed(format!("the catalog: {err}")),
        },
        None => None,
    };
    let format = match (&tree, repo, access.key.is_some()) {
        (Some(_), _, _) => ArchiveFormat::Tree,
        (None, true, _) => ArchiveFormat::Stream,
        (None, false, true) => ArchiveFormat::Sealed,
        (None, false, false) => ArchiveFormat::Raw,
    };
    let spec = BackupSpec {
        task: task.uuid.to_string(),
        upload: task.uuid.to_string(),
        target: PluginSpec {
            plugin: target.plugin.clone(),
            endpoint: target_endpoint,
            ..PluginSpec::default()
        },
        store: PluginSpec {
            plugin: store.plugin.clone(),
            endpoint: store_endpoint,
            env,
            key: access.key.map(|k| k.secret()),
            secrets: access.secrets,
        },
        tree: tree.clone(),
        timeout: e.config().task_timeout.as_secs(),
        steps: crate::steps::of(job),
        vars: super::hooks::vars(job, task, Some(archive_id)),
        bandwidth,
    };
    let clock = std::time::Instant::now();
    let end = match follow(e, task, run, log, agent, "/agent/v1/backups", &spec).await {
        Ok(end) => end,
        Err(end) => return end,
    };
    match end {
        Event::Done {
            key,
            archive_size,
            added,
            bytes,
            steps_failed,
        } => {
            flusher.flush().await;
            let stored = Stored {
                key,
                archive_size,
                added,
                bytes,
            };
            let made = NewBackup {
                job,
                store,
                archive: archive_id,
                format,
                tree: tree.is_some(),
                took: clock.elapsed(),
            };
            match record(e, task, &made, &stored, steps_failed.as_deref()).await {
                Ok(()) => None,
                Err(err) => failed(format!(
                    "the archive could not be recorded: {err}; its data stays in the store under key {}",
                    stored.key
                )),
            }
        }
        other => failed(format!("agent '{}' ended with {other:?}", agent.name)),
    }
}

/// The target's and the store's endpoints in clear, and what the store's secret gives: what
/// the agent is sent for one task.
fn opened(
    e: &Engine,
    target: &Target,
    store: &Store,
) -> Result<(String, String, store_keys::StoreAccess), String> {
    let vault = &e.config().vault;
    let open = |sealed: &str| {
        crate::sealing::open(vault, sealed)
            .map_err(|err| format!("an endpoint cannot be opened: {err}"))
    };
    Ok((
        open(&target.endpoint)?,
        open(&store.endpoint)?,
        store_keys::access(vault, store)?,
    ))
}

/// Restores `archive` into `target` on `agent`: the agent retrieves it from the store into
/// its own staging directory, checks it, and only then feeds the target.
#[allow(clippy::too_many_arguments)]
pub(super) async fn restore(
    e: &Engine,
    task: &Task,
    run: &Running,
    log: &LogSink,
    archive: &Archive,
    target: &Target,
    opts: &RestoreOptions,
    agent: &Agent,
) -> Option<End> {
    let failed = |m: String| Some(End::failed(sentence(&format!("Failed: {m}"))));
    let store = &archive.store;
    say(
        log,
        format!(
            "Restoring archive {} (key {}) from store '{}' ({}) into target '{}' ({}) on agent '{}' at {}; the data goes from the store to the agent.",
            archive.uuid,
            archive.store_key,
            store.name,
            store.plugin,
            target.name,
            target.plugin,
            agent.name,
            agent.address
        ),
    );
    let mut spec = match restore_spec(e, task, archive, target, &opts.paths, false) {
        Ok(s) => s,
        Err(m) => return failed(m),
    };
    // The steps of the job that backs up this very target run around the restore.
    if let Some(j) = archive.job
        && let Ok(Some(job)) = e.catalog().get_job(j).await
        && job.target.uuid == target.uuid
    {
        spec.steps = crate::steps::of(&job);
        spec.vars = super::hooks::vars(&job, task, Some(archive.uuid));
    }
    let clock = std::time::Instant::now();
    match follow(e, task, run, log, agent, "/agent/v1/restores", &spec).await {
        Ok(Event::Restored {
            bytes,
            steps_failed,
        }) => {
            let done = format!(
                "restored {bytes} bytes into target '{}' on agent '{}' {}",
                target.name,
                agent.name,
                rate(bytes, clock.elapsed())
            );
            Some(match steps_failed {
                None => End {
                    status: TaskStatus::Done,
                    line: format!("Done: {done}."),
                },
                Some(why) => End::failed(sentence(&format!(
                    "Failed: {why}; the restore itself worked: {done}"
                ))),
            })
        }
        Ok(other) => failed(format!("agent '{}' ended with {other:?}", agent.name)),
        Err(end) => end,
    }
}

/// What the agent needs to restore `archive` into `target` (and, for a drill, to verify and
/// wipe it after).
fn restore_spec(
    e: &Engine,
    task: &Task,
    archive: &Archive,
    target: &Target,
    paths: &[String],
    drill: bool,
) -> Result<RestoreSpec, String> {
    let store = &archive.store;
    let (target_endpoint, store_endpoint, access) = opened(e, target, store)?;
    let key = match (archive.format, access.key) {
        (ArchiveFormat::Sealed, None) => {
            return Err("the archive is sealed but its store has no stream key".into());
        }
        (ArchiveFormat::Sealed, Some(k)) => Some(k.secret()),
        // A stream kept as the target wrote it is handed back as it is.
        _ => None,
    };
    Ok(RestoreSpec {
        task: task.uuid.to_string(),
        key: archive.store_key.clone(),
        format: archive.format.as_str().to_string(),
        target: PluginSpec {
            plugin: target.plugin.clone(),
            endpoint: target_endpoint,
            ..PluginSpec::default()
        },
        store: PluginSpec {
            plugin: store.plugin.clone(),
            endpoint: store_endpoint,
            env: access.env,
            key,
            secrets: access.secrets,
        },
        dir: tree_dir(target),
        paths: paths.to_vec(),
        timeout: e.config().task_timeout.as_secs(),
        drill,
        steps: Vec::new(),
        vars: Vec::new(),
    })
}

/// A drill into the scratch target `target` on `agent`: the agent restores the archive,
/// verifies it and wipes the target; the answer is its `drilled` event.
pub(super) async fn drill(
    e: &Engine,
    task: &Task,
    run: &Running,
    log: &LogSink,
    archive: &Archive,
    target: &Target,
    agent: &Agent,
) -> Result<Event, Option<End>> {
    let spec = restore_spec(e, task, archive, target, &[], true).map_err(|m| {
        Some(End::failed(sentence(&format!(
            "Failed: the drill failed: {m}"
        ))))
    })?;
    say(
        log,
        format!(
            "The drill runs on agent '{}' at {}: the data goes from the store to the agent.",
            agent.name, agent.address
        ),
    );
    follow(e, task, run, log, agent, "/agent/v1/restores", &spec).await
}

/// Sends a task to the agent and follows its events into the task's log and progress until
/// its end: `Ok` with a success event, `Err` with how the task ends otherwise (failed, canceled,
/// or the link broke). A cancel of the task is passed on to the agent.
async fn follow<T: serde::Serialize>(
    e: &Engine,
    task: &Task,
    run: &Running,
    log: &LogSink,
    agent: &Agent,
    path: &str,
    spec: &T,
) -> Result<Event, Option<End>> {
    let failed = |m: String| Some(End::failed(sentence(&format!("Failed: {m}"))));
    let Some(hub) = e.config().agents.clone() else {
        return Err(failed("this daemon has no agents".into()));
    };
    let session = match hub.session(agent).await {
        Ok(s) => s,
        Err(err) => {
            return Err(failed(format!(
                "agent '{}' cannot be reached: {err}",
                agent.name
            )));
        }
    };
    let body = serde_json::to_value(spec).map_err(|err| failed(err.to_string()))?;
    let (status, lines) = session
        .stream("POST", path, Some(&body))
        .await
        .map_err(|err| failed(format!("agent '{}': {err}", agent.name)))?;
    if status != 200 {
        return Err(failed(format!(
            "agent '{}' refused the task (HTTP {status})",
            agent.name
        )));
    }
    let mut session = session;
    let mut seen = 0usize;
    let end = follow_events(
        e,
        run,
        log,
        &hub,
        agent,
        task,
        &mut session,
        lines,
        &mut seen,
    )
    .await;
    // The agent may forget the task once the core has its end.
    let ack = format!("/agent/v1/tasks/{}/ack", task.uuid);
    let _ = session.request("POST", &ack, None).await;
    end
}

/// Follows a task's events to its end, taking up a broken link within the grace.
#[allow(clippy::too_many_arguments)]
async fn follow_events(
    e: &Engine,
    run: &Running,
    log: &LogSink,
    hub: &crate::agents::Hub,
    agent: &Agent,
    task: &Task,
    session: &mut bulwark_link::Session,
    mut lines: bulwark_link::Lines,
    seen: &mut usize,
) -> Result<Event, Option<End>> {
    let failed = |m: String| Some(End::failed(sentence(&format!("Failed: {m}"))));
    'follow: loop {
        // A cancel of the task is passed on to the agent, which kills its plugins.
        let canceler = {
            let (cancel, session, id) = (run.cancel.clone(), session.clone(), task.uuid);
            tokio::spawn(async move {
                cancel.cancelled().await;
                let _ = session
                    .request("POST", &format!("/agent/v1/tasks/{id}/cancel"), None)
                    .await;
            })
        };
        loop {
            let (seq, event) = match lines.next().await {
                Ok(Some(l)) => match serde_json::from_str::<(usize, Event)>(&l) {
                    Ok(ev) => ev,
                    Err(err) => {
                        canceler.abort();
                        break 'follow Err(failed(format!(
                            "agent '{}' sent a bad event: {err}",
                            agent.name
                        )));
                    }
                },
                Ok(None) | Err(_) => break,
            };
            if seq <= *seen {
                continue;
            }
            *seen = seq;
            match event {
                Event::Log(l) => say(log, l),
                Event::Progress(n) => run.bytes.store(n, std::sync::atomic::Ordering::Relaxed),
                Event::Failed { canceled: true, .. } => {
                    canceler.abort();
                    break 'follow Err(Some(End {
                        status: TaskStatus::Canceled,
                        line: "Canceled by request; the plugins on the agent were killed.".into(),
                    }));
                }
                Event::Failed { reason, .. } => {
                    canceler.abort();
                    break 'follow Err(failed(reason));
                }
                done => {
                    canceler.abort();
                    break 'follow Ok(done);
                }
            }
        }
        canceler.abort();
        // A dropped link is not a cancel: the agent goes on for its grace; the core waits for
        // the agent to be back and reads on from the last event it saw.
        match reattach(e, run, log, hub, agent, task, *seen).await {
            Ok((s, l)) => {
                *session = s;
                lines = l;
            }
            Err(end) => break Err(end),
        }
    }
}

/// Waits for the agent's link to come back (up to `agents.grace`) and reads the task's events
/// again after the `seen`th.
async fn reattach(
    e: &Engine,
    run: &Running,
    log: &LogSink,
    hub: &crate::agents::Hub,
    agent: &Agent,
    task: &Task,
    seen: usize,
) -> Result<(bulwark_link::Session, bulwark_link::Lines), Option<End>> {
    let grace = e.config().agent_grace;
    say(
        log,
        format!(
            "The link to agent '{}' broke; waiting up to {}s for it to come back.",
            agent.name,
            grace.as_secs()
        ),
    );
    let deadline = std::time::Instant::now() + grace;
    loop {
        if run.cancel.is_cancelled() {
            return Err(Some(End {
                status: TaskStatus::Canceled,
                line: format!(
                    "Canceled by request while the link to agent '{}' was down; the agent cancels the task when its grace ends.",
                    agent.name
                ),
            }));
        }
        if std::time::Instant::now() >= deadline {
            return Err(Some(End::failed(format!(
                "Failed: the link to agent '{}' broke and did not come back within {}s; nothing was recorded, and the agent cancels the task and removes what its store kept.",
                agent.name,
                grace.as_secs()
            ))));
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            () = run.cancel.cancelled() => continue,
        }
        let Ok(session) = hub.session(agent).await else {
            continue;
        };
        let path = format!("/agent/v1/tasks/{}/events?after={seen}", task.uuid);
        match session.stream("GET", &path, None).await {
            Ok((200, lines)) => {
                say(
                    log,
                    format!(
                        "The link to agent '{}' is back; following the task again.",
                        agent.name
                    ),
                );
                return Ok((session, lines));
            }
            Ok((404, _)) => {
                return Err(Some(End::failed(format!(
                    "Failed: agent '{}' no longer knows the task (it was restarted, or its grace ran out); nothing was recorded.",
                    agent.name
                ))));
            }
            _ => {}
        }
    }
}
