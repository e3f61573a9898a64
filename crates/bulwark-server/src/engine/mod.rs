//! The task engine: a supervisor that runs pending tasks on a pool of workers, the scheduler
//! that queues backups at their jobs' times, and the retention sweep that queues purges.
//!
//! - The supervisor claims tasks from the catalog in priority order (lowest number first, then
//!   oldest), never two backups or restores of one target at once (the catalog's claim query
//!   enforces it), at most `tasks.workers` at a time.
//! - A worker runs one task through the runner's pipelines, streams its log into the catalog as
//!   it grows, and ends it done, failed or canceled. A failed backup leaves no archive, and
//!   whatever the store kept of it is removed (`purge` of a key it printed, `abandon` of the
//!   upload).
//! - At start, tasks a stopped daemon left `running` are failed and their uploads abandoned.
//!
//! Every task runs on the daemon's host for now; the runner is the library an agent will reuse.

mod alerts;
pub mod browse;
mod check_blobs;
mod copy;
mod drill;
mod hooks;
mod maintain;
mod placement;
mod record;
mod recovery;
mod remote;
mod restore;
mod retention;
mod retries;
mod scheduler;
mod tasklog;
mod watch;
pub(crate) mod work;

pub(crate) use drill::TEMPORARY_OK as DRILL_IN_TEMPORARY_DIR;
pub use restore::RestoreOptions;
pub(crate) use work::tree_dir;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use bulwark_catalog::Catalog;
use bulwark_core::clock::Clock;
use bulwark_core::ids::TaskId;

use crate::config::Mode;

/// What the engine is configured with.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Tasks that run at once.
    pub workers: usize,
    /// How long one task may run.
    pub task_timeout: Duration,
    /// Seconds of waiting per priority point a pending task climbs (0: none).
    pub priority_aging: i64,
    /// Seconds between retention sweeps.
    pub sweep_interval: Duration,
    /// Seconds before a failed purge is tried again.
    pub purge_retry: Duration,
    /// Normal or dev scheduling.
    pub mode: Mode,
    /// The zone schedules are read in.
    pub tz: chrono_tz::Tz,
    /// Where external plugins are.
    pub plugin_dirs: Vec<PathBuf>,
    /// The `bulwark` binary, which runs the built-ins.
    pub bulwark_exe: PathBuf,
    /// Opens store secrets.
    pub vault: crate::vault::Vault,
    /// When repository stores are pruned, unless a store says otherwise.
    pub prune_schedule: bulwark_core::timespec::Schedule,
    /// When repository stores are checked; `None` for never.
    pub check_schedule: Option<bulwark_core::timespec::Schedule>,
    /// How notifications are delivered.
    pub notifications: crate::config::NotificationsConfig,
    /// Where a restore stages an archive before its target sees it (made at start, 0700; what
    /// a stopped daemon left in it is removed).
    pub staging_dir: PathBuf,
    /// The agents tasks may run on.
    pub agents: Option<crate::agents::Hub>,
    /// How long a task on an agent waits for a broken link to come back.
    pub agent_grace: Duration,
}

/// A handle on the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Catalog,
    /// Tells channels of failures, late jobs and recoveries.
    notifier: crate::notify::Notifier,
    /// What `/metrics` reports that only the running daemon knows.
    metrics: crate::metrics::Recorder,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    /// What each running task holds: its cancel token and byte counter.
    running: Mutex<HashMap<TaskId, Running>>,
    /// Wakes the supervisor: a task was queued or a worker finished.
    wake: Notify,
    /// Stops the supervisor, the scheduler and the sweep.
    stop: CancellationToken,
    /// Set when the daemon stops: running tasks end as failed, not canceled.
    stopping: std::sync::atomic::AtomicBool,
}

/// A running task's handles: cancel it, or read how far its data has come.
#[derive(Clone, Default)]
pub(crate) struct Running {
    /// Canceled to kill the task's processes.
    pub(crate) cancel: CancellationToken,
    /// Bytes its pipeline has moved so far.
    pub(crate) bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Why it was canceled, when not by a request (the line its log ends with).
    pub(crate) why: Arc<std::sync::Mutex<Option<String>>>,
}

/// What a cancel request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// The task was running; its processes are being killed.
    Killing,
    /// This engine is not running that task.
    NotRunning,
}

impl Engine {
    /// An engine over `catalog`; nothing runs until [`Engine::start`].
    pub fn new(catalog: Catalog, clock: Arc<dyn Clock>, config: EngineConfig) -> Engine {
        let notifier = crate::notify::Notifier::new(
            catalog.clone(),
            clock.clone(),
            config.vault.clone(),
            config.notifications.clone(),
        );
        Engine {
            inner: Arc::new(Inner {
                notifier,
                metrics: crate::metrics::Recorder::default(),
                catalog,
                clock,
                config,
                running: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                stop: CancellationToken::new(),
                stopping: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Recovers from a previous run, then starts the supervisor, the scheduler and the sweep.
    /// The returned set ends when [`Engine::shutdown`] has stopped them.
    pub async fn start(&self) -> JoinSet<()> {
        restore::prepare_staging(&self.config().staging_dir);
        recovery::recover(self).await;
        let mut set = JoinSet::new();
        let e = self.clone();
        set.spawn(async move { e.supervise().await });
        let e = self.clone();
        set.spawn(async move { scheduler::run(e).await });
        let e = self.clone();
        set.spawn(async move { e.sweep().await });
        let (n, stop) = (self.notifier().clone(), self.inner.stop.clone());
        set.spawn(async move { n.run(stop).await });
        let e = self.clone();
        set.spawn(async move { alerts::watch_late(e).await });
        let e = self.clone();
        set.spawn(async move { watch::run(e).await });
        set
    }

    /// What the engine measured for `/metrics`.
    pub fn metrics(&self) -> &crate::metrics::Recorder {
        &self.inner.metrics
    }

    /// Sends notifications.
    pub fn notifier(&self) -> &crate::notify::Notifier {
        &self.inner.notifier
    }

    /// Tells the supervisor to look for work now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Kills a running task's processes; the worker then ends it as canceled.
    pub fn cancel(&self, id: TaskId) -> Cancel {
        let running = self.lock_running();
        match running.get(&id) {
            Some(run) => {
                run.cancel.cancel();
                Cancel::Killing
            }
            None => Cancel::NotRunning,
        }
    }

    /// As [`Engine::cancel`], with the line the task's log ends with.
    pub fn cancel_because(&self, id: TaskId, why: String) -> Cancel {
        if let Some(run) = self.lock_running().get(&id) {
            *run.why
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
        }
        self.cancel(id)
    }

    /// Why a running task was canceled, when it was not by a request.
    fn cancel_reason(&self, id: TaskId) -> Option<String> {
        self.lock_running().get(&id).and_then(|r| {
            r.why
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }

    /// Stops taking work, kills running tasks (they end as failed, "the daemon stopped during
    /// this task", with their partial data removed) and waits for the workers.
    pub fn shutdown(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.stop.cancel();
        for run in self.lock_running().values() {
            run.cancel.cancel();
        }
    }

    fn stopping(&self) -> bool {
        self.inner
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Bytes a running task has moved so far; `None` when this engine is not running it.
    pub fn progress(&self, id: TaskId) -> Option<u64> {
        self.lock_running()
            .get(&id)
            .map(|r| r.bytes.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, Running>> {
        // A poisoned lock only means a worker panicked while holding it; the map is still sound.
        self.inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    async fn supervise(&self) {
        let mut workers = JoinSet::new();
        loop {
            while workers.len() < self.config().workers && !self.inner.stop.is_cancelled() {
                match self
                    .catalog()
                    .claim_next_task_aged(self.now(), self.config().priority_aging)
                    .await
                {
                    Ok(Some(task)) => {
                        let run = Running::default();
                        self.lock_running().insert(task.uuid, run.clone());
                        let e = self.clone();
                        // Every log line of the task carries it, its job and its target.
                        let span = tracing::info_span!(
                            "task",
                            task = %task.uuid,
                            op = %task.op,
                            job = task.job.map(|j| j.to_string()).unwrap_or_default(),
                            target = task.target.map(|t| t.to_string()).unwrap_or_default(),
                        );
                        workers.spawn(tracing::Instrument::instrument(
                            async move {
                                let id = task.uuid;
                                work::run(&e, task, run).await;
                                e.lock_running().remove(&id);
                            },
                            span,
                        ));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "Cannot read the task queue.");
                        break;
                    }
                }
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                Some(_) = workers.join_next(), if !workers.is_empty() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = self.inner.stop.cancelled() => break,
            }
        }
        // Running tasks were told to stop; let them clean up.
        while workers.join_next().await.is_some() {}
    }

    async fn sweep(&self) {
        loop {
            // The first sweep comes one interval after start, when the daemon has settled.
            tokio::select! {
                () = tokio::time::sleep(self.config().sweep_interval) => {}
                () = self.inner.stop.cancelled() => break,
            }
            if let Err(e) = self.sweep_once().await {
                tracing::error!(error = %e, "Retention sweep failed.");
            }
        }
    }
}
