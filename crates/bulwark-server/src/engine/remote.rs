//! A backup on an agent: the core opens the endpoints and the store's secret, sends the agent
//! the task, and follows its events; the agent runs the target and the store on its own host,
//! the data going straight from one to the other. The archive is recorded only from the
//! agent's `done` event: a broken link or a failure never becomes an archive (the agent cleans
//! up what its store kept).

use bulwark_catalog::{Agent, ArchiveFormat, Job, Store, Task};
use bulwark_core::ids::ArchiveId;
use bulwark_core::state::TaskStatus;
use bulwark_runner::LogSink;

use super::tasklog::Flusher;
use super::work::{End, NewBackup, Stored, record, say, sentence, snapshot_filename, tree_dir};
use super::{Engine, Running};
use crate::agent_host::wire::{BackupSpec, Event, PluginSpec, TreeSpec};
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
    let Some(hub) = e.config().agents.clone() else {
        return failed("this daemon has no agents".into());
    };
    let vault = &e.config().vault;
    let open = |sealed: &str| crate::sealing::open(vault, sealed);
    let (target_endpoint, store_endpoint) = match (open(&target.endpoint), open(&store.endpoint)) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(err), _) | (_, Err(err)) => {
            return failed(format!("an endpoint cannot be opened: {err}"));
        }
    };
    let access = match store_keys::access(vault, store) {
        Ok(a) => a,
        Err(m) => return failed(m),
    };
    let archive_id = ArchiveId::new_random();
    let repo = is_repository(&store.plugin);
    let mut env = access.env;
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
    };
    let session = match hub.session(agent).await {
        Ok(s) => s,
        Err(err) => return failed(format!("agent '{}' cannot be reached: {err}", agent.name)),
    };
    let body = match serde_json::to_value(&spec) {
        Ok(b) => b,
        Err(err) => return failed(err.to_string()),
    };
    let clock = std::time::Instant::now();
    let (status, mut lines) = match session.stream("POST", "/agent/v1/backups", &body).await {
        Ok(s) => s,
        Err(err) => return failed(format!("agent '{}': {err}", agent.name)),
    };
    if status != 200 {
        return failed(format!(
            "agent '{}' refused the task (HTTP {status})",
            agent.name
        ));
    }
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
    let end = loop {
        let event = match lines.next().await {
            Ok(Some(l)) => match serde_json::from_str::<Event>(&l) {
                Ok(ev) => ev,
                Err(err) => {
                    break failed(format!("agent '{}' sent a bad event: {err}", agent.name));
                }
            },
            Ok(None) | Err(_) => {
                break failed(format!(
                    "the link to agent '{}' broke during the backup; nothing was recorded, and the agent removes what its store kept",
                    agent.name
                ));
            }
        };
        match event {
            Event::Log(l) => say(log, l),
            Event::Progress(n) => run.bytes.store(n, std::sync::atomic::Ordering::Relaxed),
            Event::Failed { canceled: true, .. } => {
                break Some(End {
                    status: TaskStatus::Canceled,
                    line: "Canceled by request; the plugins on the agent were killed.".into(),
                });
            }
            Event::Failed { reason, .. } => break failed(reason),
            Event::Done {
                key,
                archive_size,
                added,
                bytes,
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
                break match record(e, task, &made, &stored).await {
                    Ok(()) => None,
                    Err(err) => failed(format!(
                        "the archive could not be recorded: {err}; its data stays in the store under key {}",
                        stored.key
                    )),
                };
            }
        }
    };
    canceler.abort();
    end
}
