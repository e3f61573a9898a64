//! The records the catalog stores and returns.

use bulwark_core::ids::{ArchiveId, JobId, RetentionId, ScheduleId, StoreId, TargetId, TaskId};
use bulwark_core::retention::Rules;
use bulwark_core::state::{ArchiveStatus, TaskOp, TaskStatus};

/// A schedule: when a job runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Its identifier.
    pub uuid: ScheduleId,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The schedule in its canonical form (see `bulwark_core::timespec`).
    pub timespec: String,
    /// The schedule as its author wrote it.
    pub text: String,
}

/// The fields of a schedule that a user sets.
#[derive(Debug, Clone)]
pub struct ScheduleFields {
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The schedule, already validated and canonical.
    pub timespec: String,
    /// The schedule as its author wrote it.
    pub text: String,
}

/// A retention policy: how long archives are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Its identifier.
    pub uuid: RetentionId,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Its rules.
    pub rules: Rules,
}

/// The fields of a retention policy that a user sets.
#[derive(Debug, Clone)]
pub struct RetentionFields {
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Its rules, already validated.
    pub rules: Rules,
}

/// A target: a data system to back up.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Its identifier.
    pub uuid: TargetId,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Short name of the target plugin.
    pub plugin: String,
    /// The plugin's endpoint document (a JSON object), secrets included.
    pub endpoint: String,
    /// `host:port` of the agent that backs it up.
    pub agent: String,
}

/// The fields of a target that a user sets.
#[derive(Debug, Clone)]
pub struct TargetFields {
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Short name of the target plugin.
    pub plugin: String,
    /// The plugin's endpoint document.
    pub endpoint: String,
    /// `host:port` of the agent.
    pub agent: String,
}

/// A store: where archives are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    /// Its identifier.
    pub uuid: StoreId,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Short name of the store plugin.
    pub plugin: String,
    /// The plugin's endpoint document (a JSON object), secrets included.
    pub endpoint: String,
    /// Its secret (repository password or stream key), sealed with the master key; `None`
    /// for stores made before stores had secrets.
    pub secret: Option<String>,
    /// When its repository is pruned; empty for the daemon's default.
    pub prune_schedule: String,
}

/// The fields of a store that a user sets.
#[derive(Debug, Clone)]
pub struct StoreFields {
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Short name of the store plugin.
    pub plugin: String,
    /// The plugin's endpoint document.
    pub endpoint: String,
    /// When its repository is pruned; empty for the daemon's default.
    pub prune_schedule: String,
}

/// A job, with the records it refers to joined in.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its identifier.
    pub uuid: JobId,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// 0 (highest) to 100.
    pub priority: i64,
    /// A paused job is not run by its schedule.
    pub paused: bool,
    /// When the scheduler last fired it (Unix seconds).
    pub last_fired_at: Option<i64>,
    /// Its own recovery point objective in seconds, if set.
    pub rpo: Option<i64>,
    /// The retention policy.
    pub retention: Retention,
    /// The schedule.
    pub schedule: Schedule,
    /// The store.
    pub store: Store,
    /// The target.
    pub target: Target,
    /// When restore drills run, if they do on a schedule.
    pub drill_schedule: Option<Schedule>,
    /// The scratch target drills restore into; `None`: a temporary directory.
    pub drill_target: Option<Target>,
    /// When the scheduler last fired its drill (Unix seconds).
    pub drill_fired_at: Option<i64>,
    /// Retries of a failed scheduled backup, and what a run that finds the last one running does.
    pub retry: RetryFields,
    /// Retries made since the last scheduled backup that did not fail.
    pub retry_attempt: i64,
    /// When the next retry is due, if one is.
    pub retry_at: Option<i64>,
    /// Its steps, as JSON (a list, checked by the API).
    pub steps: String,
    /// At most this many bytes a second go to its store.
    pub bandwidth: Option<i64>,
    /// File-change trigger: seconds of quiet after a change before the backup; `None`: off.
    pub watch_settle: Option<i64>,
    /// File-change trigger: at most one backup per this many seconds.
    pub watch_min_interval: Option<i64>,
    /// Further stores each new archive is copied into, in order.
    pub copies: Vec<JobCopy>,
}

/// A further store a job copies each new archive into.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCopy {
    /// The store the copy goes to.
    pub store: Store,
    /// How long the copies there are kept.
    pub retention: Retention,
    /// How often a failed copy is tried again.
    pub retries: i64,
    /// Seconds before the first retry; each later one waits twice as long.
    pub retry_delay: i64,
}

/// The fields of a job's copy that a user sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFields {
    /// The store the copy goes to.
    pub store: StoreId,
    /// How long the copies there are kept.
    pub retention: RetentionId,
    /// How often a failed copy is tried again.
    pub retries: i64,
    /// Seconds before the first retry.
    pub retry_delay: i64,
}

/// A job's retries and grace time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryFields {
    /// How often a failed scheduled backup is tried again.
    pub retries: i64,
    /// Seconds before the first retry; each later one waits twice as long.
    pub retry_delay: i64,
    /// Seconds a running backup may have when the next scheduled run comes: within them the
    /// run is skipped, past them the old backup is canceled and a new one starts. `None`: the
    /// run is always skipped.
    pub grace: Option<i64>,
}

/// The fields of a job that a user sets.
#[derive(Debug, Clone)]
pub struct JobFields {
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// 0 (highest) to 100.
    pub priority: i64,
    /// The target to back up.
    pub target: TargetId,
    /// The store to back up into.
    pub store: StoreId,
    /// When to run.
    pub schedule: ScheduleId,
    /// How long to keep archives.
    pub retention: RetentionId,
    /// Its recovery point objective in seconds; `None` derives it from the schedule.
    pub rpo: Option<i64>,
    /// When restore drills run; `None`: only when asked.
    pub drill_schedule: Option<ScheduleId>,
    /// The scratch target of its drills; `None`: a temporary directory.
    pub drill_target: Option<TargetId>,
    /// Retries and grace time.
    pub retry: RetryFields,
    /// Its steps, as JSON (a list, checked by the API); `[]` for none.
    pub steps: String,
    /// At most this many bytes a second go to its store; `None`: no limit.
    pub bandwidth: Option<i64>,
    /// File-change trigger: seconds of quiet after a change before the backup; `None`: off.
    pub watch_settle: Option<i64>,
    /// File-change trigger: at most one backup per this many seconds.
    pub watch_min_interval: Option<i64>,
    /// Further stores each new archive is copied into.
    pub copies: Vec<CopyFields>,
}

/// A job's last finished backup, and its last good one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRuns {
    /// The newest finished backup task: (task, status, stopped at).
    pub last_run: Option<(TaskId, TaskStatus, i64)>,
    /// The newest backup that made an archive: (stopped at, archive).
    pub last_success: Option<(i64, ArchiveId)>,
}

/// Filters for listing jobs; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs of this target.
    pub target: Option<TargetId>,
    /// Only jobs into this store.
    pub store: Option<StoreId>,
    /// Only jobs on this schedule.
    pub schedule: Option<ScheduleId>,
    /// Only jobs with this retention policy.
    pub retention: Option<RetentionId>,
    /// Only paused (true) or unpaused (false) jobs.
    pub paused: Option<bool>,
}

/// An archive, with its target and store joined in.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// Its identifier.
    pub uuid: ArchiveId,
    /// Opaque key the store returned.
    pub store_key: String,
    /// When the backup was taken (Unix seconds).
    pub taken_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// Operator annotation.
    pub notes: String,
    /// Whether the data is still in the store.
    pub status: ArchiveStatus,
    /// Bytes the target produced.
    pub size: i64,
    /// Bytes the store grew by, when known.
    pub added: Option<i64>,
    /// How the data is kept.
    pub format: ArchiveFormat,
    /// The target plugin that made it (and so the one that can restore it).
    pub plugin: String,
    /// Pinned by an operator: retention never purges it.
    pub keep: bool,
    /// The job that made it, while that job exists.
    pub job: Option<JobId>,
    /// The rules it keeps once its job is gone (`None` while the job decides).
    pub rules: Option<Rules>,
    /// The archive it is a copy of; `None` for one a backup made.
    pub origin: Option<ArchiveId>,
    /// The target it was taken from.
    pub target: Target,
    /// The store that holds it.
    pub store: Store,
}

/// How an archive's data is kept in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// The stream as the target wrote it.
    Raw,
    /// The stream compressed (zstd) and encrypted (age) by the runner.
    Sealed,
    /// A repository snapshot holding the stream as one file.
    Stream,
    /// A repository snapshot of a directory tree.
    Tree,
}

impl ArchiveFormat {
    /// Its name in the catalog and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveFormat::Raw => "raw",
            ArchiveFormat::Sealed => "sealed",
            ArchiveFormat::Stream => "stream",
            ArchiveFormat::Tree => "tree",
        }
    }

    /// Reads a name written by [`ArchiveFormat::as_str`].
    pub fn parse(s: &str) -> Option<ArchiveFormat> {
        [
            ArchiveFormat::Raw,
            ArchiveFormat::Sealed,
            ArchiveFormat::Stream,
            ArchiveFormat::Tree,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// The fields of a new archive, written when a backup succeeds.
#[derive(Debug, Clone)]
pub struct NewArchive {
    /// The job that made it.
    pub job: Option<JobId>,
    /// Its id, when chosen before the backup (so the store can tag the data with it).
    pub uuid: Option<ArchiveId>,
    /// How the data is kept.
    pub format: ArchiveFormat,
    /// Bytes the store grew by, when known.
    pub added: Option<i64>,
    /// The target it was taken from.
    pub target: TargetId,
    /// The store that holds it.
    pub store: StoreId,
    /// Opaque key the store returned.
    pub store_key: String,
    /// When the backup was taken (Unix seconds).
    pub taken_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// Operator annotation.
    pub notes: String,
    /// Bytes the target produced.
    pub size: i64,
    /// The archive it is a copy of; `None` for one a backup made.
    pub origin: Option<ArchiveId>,
}

/// Filters for listing archives; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ArchiveFilter {
    /// Only archives of this target.
    pub target: Option<TargetId>,
    /// Only archives in this store.
    pub store: Option<StoreId>,
    /// Only archives taken at or after this instant (Unix seconds).
    pub after: Option<i64>,
    /// Only archives taken before this instant (Unix seconds).
    pub before: Option<i64>,
    /// Only archives in this state.
    pub status: Option<ArchiveStatus>,
}

/// A task: one backup, restore or purge.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Its identifier.
    pub uuid: TaskId,
    /// Who asked for it ("system" for scheduled work).
    pub owner: String,
    /// What it does.
    pub op: TaskOp,
    /// The job it runs, for backups.
    pub job: Option<JobId>,
    /// The archive it restores or purges.
    pub archive: Option<ArchiveId>,
    /// The target it touches.
    pub target: Option<TargetId>,
    /// The store a backup writes into, once it has started.
    pub store: Option<StoreId>,
    /// 0 runs first.
    pub priority: i64,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// When it was created (Unix seconds).
    pub requested_at: i64,
    /// When a worker started it.
    pub started_at: Option<i64>,
    /// When it finished or was canceled.
    pub stopped_at: Option<i64>,
    /// Options of a maintenance task (check's read subset); empty otherwise.
    pub options: String,
    /// What it did, line by line.
    pub log: String,
    /// It does not start before this time (a retry's wait).
    pub run_after: Option<i64>,
    /// Which try this is of the same work: 0 for the first.
    pub attempt: i64,
}

/// The fields of a new task.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Who asked for it.
    pub owner: String,
    /// What it does.
    pub op: TaskOp,
    /// The job it runs, for backups.
    pub job: Option<JobId>,
    /// The archive it restores or purges.
    pub archive: Option<ArchiveId>,
    /// The target it touches.
    pub target: Option<TargetId>,
    /// 0 runs first.
    pub priority: i64,
    /// When it was created (Unix seconds).
    pub requested_at: i64,
}

/// Filters for listing tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only tasks in this state.
    pub status: Option<TaskStatus>,
    /// At most this many, newest first.
    pub limit: Option<i64>,
    /// Only tasks of this job.
    pub job: Option<JobId>,
}

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A pending task was canceled before it started.
    Canceled,
    /// The task is running; stopping it is the task engine's job.
    Running,
    /// The task had already finished in this state.
    AlreadyFinished(TaskStatus),
    /// There is no such task.
    NotFound,
}
