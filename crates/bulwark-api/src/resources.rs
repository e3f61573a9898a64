//! Requests and responses of each resource.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::EndpointInput;

// ---- schedules ----

/// A schedule as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The schedule, in its canonical form.
    #[schema(example = "daily at 4:00")]
    pub when: String,
    /// The next time it fires (UTC), as the daemon's time zone and mode compute it.
    pub next_run: Option<String>,
}

/// `POST /v1/schedules`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators (optional on create).
    #[serde(default)]
    pub summary: Option<String>,
    /// The schedule: a timespec phrase, a cron expression or an interval.
    #[schema(example = "daily at 4am")]
    pub when: String,
}

/// `PUT /v1/schedule/{uuid}`: every field required.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSchedule {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The schedule.
    pub when: String,
}

// ---- retention ----

/// A retention policy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Seconds an archive is kept.
    #[schema(example = 86400)]
    pub expires: i64,
}

/// `POST /v1/retention`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRetention {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators (optional on create).
    #[serde(default)]
    pub summary: Option<String>,
    /// Seconds to keep archives; at least 3600.
    #[serde(deserialize_with = "crate::integral")]
    pub expires: i64,
}

/// `PUT /v1/retention/{uuid}`: every field required.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRetention {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Seconds to keep archives; at least 3600.
    #[serde(deserialize_with = "crate::integral")]
    pub expires: i64,
}

// ---- targets ----

/// A target as the API shows it; secrets in the endpoint read `<redacted>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The target plugin.
    pub plugin: String,
    /// The endpoint, JSON-encoded, secrets redacted.
    pub endpoint: String,
    /// `host:port` of the agent.
    pub agent: String,
}

/// `POST /v1/targets`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTarget {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators (optional on create).
    #[serde(default)]
    pub summary: Option<String>,
    /// The target plugin.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub plugin: String,
    /// The endpoint: a JSON object, or a string holding one.
    /// (A JSON object. SHIELD's JSON-encoded string of one is accepted too.)
    #[schema(value_type = Object)]
    pub endpoint: EndpointInput,
    /// `host:port` of the agent.
    pub agent: String,
    /// Run the plugin's `validate` on the endpoint first (default true): an endpoint the plugin
    /// calls invalid is refused (400); a problem that may be temporary comes back as `warning`.
    #[serde(default)]
    pub validate: Option<bool>,
}

/// `PUT /v1/target/{uuid}`: every field required. Endpoint values sent as `<redacted>` keep the
/// stored secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTarget {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The target plugin.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub plugin: String,
    /// The endpoint.
    /// (A JSON object. SHIELD's JSON-encoded string of one is accepted too.)
    #[schema(value_type = Object)]
    pub endpoint: EndpointInput,
    /// `host:port` of the agent.
    pub agent: String,
}

// ---- stores ----

/// A store as the API shows it; secrets in the endpoint read `<redacted>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoreResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The store plugin.
    pub plugin: String,
    /// The endpoint, JSON-encoded, secrets redacted.
    pub endpoint: String,
    /// Repository stores: when the repository is pruned (the store's own schedule, or the
    /// daemon's default). Empty for plugin stores.
    pub prune_schedule: String,
    /// True when what the store keeps is encrypted with a key of its own (every store made by
    /// this version; stores made before keep streams as the target wrote them).
    pub encrypted: bool,
    /// Repository stores: the last finished check.
    pub last_check: Option<MaintenanceResult>,
    /// Repository stores: the last finished prune.
    pub last_prune: Option<MaintenanceResult>,
    /// How much it holds.
    pub usage: StoreUsage,
}

/// How much a store holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoreUsage {
    /// Its valid archives.
    pub archives: i64,
    /// Bytes their backups produced.
    pub size: i64,
    /// Bytes the store keeps for them: a repository's pack files as measured at its last prune
    /// plus what archives added since; a plugin store's blobs.
    pub stored: i64,
    /// Bytes added in the last 24 hours.
    pub added_day: i64,
    /// Bytes added in the last 7 days.
    pub added_week: i64,
    /// When a repository was last measured (UTC), if it was.
    pub measured_at: Option<String>,
}

/// How a check or prune ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceResult {
    /// The task.
    pub task_uuid: Uuid,
    /// `done` or `failed`.
    pub status: String,
    /// When it ended (UTC).
    pub stopped_at: Option<String>,
    /// The last line of its log.
    pub summary: String,
}

/// `POST /v1/store/{uuid}/check`
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Also read back part of the data: `all`, a percentage (`10%`) or a size (`500MiB`).
    /// Without it only the structure is verified.
    #[serde(default)]
    #[schema(
        pattern = r"^\s*(|[Aa][Ll][Ll]|(100(\.0+)?|[0-9]{1,2}(\.[0-9]+)?)\s*%|[0-9]{1,15}\s*([KkMmGgTt]([Ii][Bb])?|[Bb])?)\s*$"
    )]
    pub read_data: Option<String>,
}

/// `POST /v1/stores`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStore {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators (optional on create).
    #[serde(default)]
    pub summary: Option<String>,
    /// The store plugin.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub plugin: String,
    /// The endpoint: a JSON object, or a string holding one.
    /// (A JSON object. SHIELD's JSON-encoded string of one is accepted too.)
    #[schema(value_type = Object)]
    pub endpoint: EndpointInput,
    /// Repository stores: when to prune (a schedule; the daemon's default when absent).
    #[serde(default)]
    pub prune_schedule: Option<String>,
    /// Run the plugin's `validate` on the endpoint first (default true): an endpoint the plugin
    /// calls invalid is refused (400); a problem that may be temporary comes back as `warning`.
    #[serde(default)]
    pub validate: Option<bool>,
}

/// `PUT /v1/store/{uuid}`: every field required.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStore {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The store plugin.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub plugin: String,
    /// The endpoint.
    /// (A JSON object. SHIELD's JSON-encoded string of one is accepted too.)
    #[schema(value_type = Object)]
    pub endpoint: EndpointInput,
    /// Repository stores: when to prune; absent keeps the current one, `""` the default.
    #[serde(default)]
    pub prune_schedule: Option<String>,
}

/// `GET /v1/schedules/check`: a phrase read without saving it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleCheck {
    /// The phrase in its canonical form.
    pub when: String,
    /// Its next runs (UTC), up to five.
    pub next_runs: Vec<String>,
}

// ---- jobs ----

/// A job as the API shows it, with its target, store, schedule and retention joined in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// 0 (highest) to 100.
    pub priority: i64,
    /// A paused job is not run by its schedule.
    pub paused: bool,
    /// The retention policy's name.
    pub retention_name: String,
    /// The retention policy.
    pub retention_uuid: Uuid,
    /// Seconds its archives are kept.
    pub expiry: i64,
    /// The schedule's name.
    pub schedule_name: String,
    /// The schedule.
    pub schedule_uuid: Uuid,
    /// The schedule, in its canonical form.
    pub schedule: String,
    /// The store.
    pub store_uuid: Uuid,
    /// The store's name.
    pub store_name: String,
    /// The store's plugin.
    pub store_plugin: String,
    /// The store's endpoint, secrets redacted.
    pub store_endpoint: String,
    /// The target.
    pub target_uuid: Uuid,
    /// The target's name.
    pub target_name: String,
    /// The target's plugin.
    pub target_plugin: String,
    /// The target's endpoint, secrets redacted.
    pub target_endpoint: String,
    /// The target's agent.
    pub agent: String,
    /// Its own recovery point objective in seconds, when set.
    pub rpo: Option<i64>,
    /// The RPO in force: its own, or twice the longest gap between two runs of its schedule.
    pub effective_rpo: i64,
    /// `ok`, `late` (the newest good archive is older than the RPO), `failing` (the last
    /// finished backup failed), `never` (no good archive yet) or `paused`.
    pub health: String,
    /// Its last finished backup.
    pub last_run: Option<LastRun>,
    /// Its last backup that made an archive.
    pub last_success: Option<LastSuccess>,
    /// When its schedule runs it next (UTC); none while it is paused.
    pub next_run: Option<String>,
    /// The schedule of its restore drills, if they run on one.
    pub drill_schedule_uuid: Option<Uuid>,
    /// That schedule, in its canonical form.
    pub drill_schedule: Option<String>,
    /// The scratch target its drills restore into; none: a temporary directory (fs and sqlite
    /// jobs).
    pub drill_target_uuid: Option<Uuid>,
    /// That target's name.
    pub drill_target_name: Option<String>,
    /// When its next scheduled drill runs (UTC); none while it is paused or has no drill
    /// schedule.
    pub next_drill: Option<String>,
    /// When a drill last restored its newest archive and verified it (UTC).
    pub last_verified: Option<String>,
    /// The time to restore (RTO) that drill measured, in seconds.
    pub rto: Option<f64>,
    /// Its newest drill, whatever it found.
    pub last_drill: Option<LastDrill>,
}

/// A job's newest restore drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastDrill {
    /// When it ended (UTC).
    pub at: String,
    /// The task.
    pub task_uuid: Uuid,
    /// The archive it restored.
    pub archive_uuid: Option<Uuid>,
    /// `passed` (restored and verified), `unverified` (restored; the plugin cannot verify) or
    /// `failed`.
    pub outcome: String,
    /// Seconds from the start of the retrieval to the end of the restore, when it got there.
    pub rto: Option<f64>,
    /// Its last log line.
    pub detail: String,
}

/// A job's last finished backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastRun {
    /// When it ended (UTC).
    pub at: String,
    /// The task.
    pub task_uuid: Uuid,
    /// `done`, `failed` or `canceled`.
    pub status: String,
}

/// A job's last good backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastSuccess {
    /// When it ended (UTC).
    pub at: String,
    /// The archive it made.
    pub archive_uuid: Uuid,
}

/// `POST /v1/jobs`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators (optional on create).
    #[serde(default)]
    pub summary: Option<String>,
    /// The store to back up into.
    pub store: Uuid,
    /// The target to back up.
    pub target: Uuid,
    /// The retention policy of its archives.
    pub retention: Uuid,
    /// When it runs.
    pub schedule: Uuid,
    /// Whether it starts paused.
    pub paused: bool,
    /// 0 (highest) to 100; 50 when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub priority: Option<i64>,
    /// Its recovery point objective in seconds (60 to 100 years): it is `late` when its newest
    /// good archive is older. Absent: twice the longest gap between two runs of its schedule.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 3153600000i64)]
    pub rpo: Option<i64>,
    /// The schedule of its restore drills: its newest good archive restored into the drill
    /// target (or a temporary directory) and verified. Absent: drills only when asked.
    #[serde(default)]
    pub drill_schedule: Option<Uuid>,
    /// The scratch target drills restore into and wipe: same plugin as the target, backed up by
    /// no job. Absent: a temporary directory on the daemon's host (fs and sqlite jobs only).
    #[serde(default)]
    pub drill_target: Option<Uuid>,
}

/// `PUT /v1/job/{uuid}`: every field but `priority` required; `paused` is not accepted (use the
/// pause and unpause routes).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateJob {
    /// Human-friendly name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// The store to back up into.
    pub store: Uuid,
    /// The target to back up.
    pub target: Uuid,
    /// The retention policy of its archives.
    pub retention: Uuid,
    /// When it runs.
    pub schedule: Uuid,
    /// 0 (highest) to 100; unchanged when absent.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub priority: Option<i64>,
    /// Refused with a message that points to the pause routes.
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub paused: Option<serde_json::Value>,
    /// Its recovery point objective in seconds (60 to 100 years): it is `late` when its newest
    /// good archive is older. Absent: twice the longest gap between two runs of its schedule.
    #[serde(default)]
    #[schema(minimum = 60, maximum = 3153600000i64)]
    pub rpo: Option<i64>,
    /// The schedule of its restore drills: its newest good archive restored into the drill
    /// target (or a temporary directory) and verified. Absent: drills only when asked.
    #[serde(default)]
    pub drill_schedule: Option<Uuid>,
    /// The scratch target drills restore into and wipe: same plugin as the target, backed up by
    /// no job. Absent: a temporary directory on the daemon's host (fs and sqlite jobs only).
    #[serde(default)]
    pub drill_target: Option<Uuid>,
}

/// `POST /v1/job/{uuid}/run`; the body may be absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunJob {
    /// Who asks; `anon` when absent.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub owner: Option<String>,
}

// ---- archives ----

/// An archive as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// The key the store returned.
    pub store_key: String,
    /// When it was taken (UTC).
    #[schema(example = "2015-10-25 11:32:00")]
    pub taken_at: String,
    /// When it expires (UTC).
    pub expires_at: String,
    /// Operator annotation.
    pub notes: String,
    /// `valid`, `purging` or `purged`.
    pub status: String,
    /// Bytes the target produced (the logical size).
    pub size: i64,
    /// Bytes the store grew by for this archive, when the store says (repository stores do:
    /// after deduplication and compression).
    pub added: Option<i64>,
    /// How the data is kept: `raw` (as the target wrote it), `sealed` (zstd and age by the
    /// runner), `stream` (a repository snapshot holding one file) or `tree` (a repository
    /// snapshot of a directory).
    pub format: String,
    /// The target plugin that made it: a restore goes only into a target of this plugin.
    pub plugin: String,
    /// The store that holds it.
    pub store_uuid: Uuid,
    /// The store's name.
    pub store_name: String,
    /// The store's plugin.
    pub store_plugin: String,
    /// The store's endpoint, secrets redacted.
    pub store_endpoint: String,
    /// The target it was taken from.
    pub target_uuid: Uuid,
    /// The target's name.
    pub target_name: String,
    /// The target's plugin.
    pub target_plugin: String,
    /// The target's endpoint, secrets redacted.
    pub target_endpoint: String,
    /// Pinned by an operator: retention never purges it (it stays past `expires_at`).
    pub keep: bool,
}

/// `PUT /v1/archive/{uuid}`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArchive {
    /// The new notes.
    pub notes: String,
    /// `true` pins the archive: retention never purges it (deleting it still can); `false`
    /// unpins it. Absent: unchanged.
    #[serde(default)]
    pub keep: Option<bool>,
}

/// `POST /v1/archive/{uuid}/restore`; the body may be absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreArchive {
    /// The target to restore into; the archive's own target when absent.
    #[serde(default)]
    pub target: Option<Uuid>,
    /// Who asks; `anon` when absent.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub owner: Option<String>,
    /// True: queue nothing, and answer what the restore would do ([`RestorePreview`]).
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Only these paths of a tree archive (files or directories, from its root).
    #[serde(default)]
    pub paths: Option<Vec<String>>,
    /// Restore into this directory on the daemon's host instead of a target (admins): an
    /// absolute path, missing or empty, outside the daemon's data directory. A tree lands as
    /// its files; a stream as one file.
    #[serde(default)]
    pub to_dir: Option<String>,
}

/// One entry of a directory in an archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileEntry {
    pub name: String,
    /// From the archive's root, without a leading `/`.
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Bytes (files).
    pub size: u64,
    /// Unix permission bits.
    pub mode: Option<u32>,
    /// Last modified, RFC 3339.
    pub mtime: Option<String>,
}

/// A page of a directory of an archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveFiles {
    /// The directory listed.
    pub path: String,
    /// Entries in the directory.
    pub total: u64,
    /// The first entry of this page.
    pub offset: u64,
    pub entries: Vec<FileEntry>,
}

/// What a restore would do, answered to `"dry_run": true`; nothing was queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RestorePreview {
    /// Always true.
    pub dry_run: bool,
    pub archive_uuid: Uuid,
    /// When the archive was taken (UTC).
    pub taken_at: String,
    /// Its age in seconds.
    pub age: i64,
    /// Its size in bytes.
    pub size: i64,
    /// `raw`, `sealed`, `stream` or `tree`.
    pub format: String,
    /// The target plugin that made it.
    pub plugin: String,
    pub target_uuid: Uuid,
    pub target_name: String,
    pub target_plugin: String,
    /// The destination's endpoint (host, database, directory), secrets redacted.
    pub target_endpoint: String,
    /// True when the destination is the target the archive was taken from.
    pub in_place: bool,
    /// The directory restored into instead of a target.
    pub to_dir: Option<String>,
    /// Only these paths.
    pub paths: Vec<String>,
    /// What the restore does to the destination, in a sentence.
    pub effect: String,
}

/// A restore's answer: queued, or (for a dry run) what it would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum RestoreAnswer {
    /// Queued.
    Scheduled(crate::ScheduledResponse),
    /// A dry run's answer.
    Preview(Box<RestorePreview>),
}

// ---- tasks ----

/// A task as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Who asked for it: `system` for scheduled work.
    pub owner: String,
    /// `backup`, `restore` or `purge`.
    #[serde(rename = "type")]
    pub op: String,
    /// The job, for backups.
    pub job_uuid: Option<Uuid>,
    /// The archive restored or purged (or made, for a finished backup).
    pub archive_uuid: Option<Uuid>,
    /// The target it touches.
    pub target_uuid: Option<Uuid>,
    /// `pending`, `running`, `canceled`, `failed` or `done`.
    pub status: String,
    /// When it was asked for (UTC).
    pub requested_at: String,
    /// When it started (UTC).
    pub started_at: Option<String>,
    /// When it stopped (UTC).
    pub stopped_at: Option<String>,
    /// While it runs: the bytes its data has moved so far (for a progress display): the stream
    /// between target and store, or what a plugin that moves the data itself reports
    /// (`bulwark-progress:` lines). Null when it is not running.
    pub bytes: Option<u64>,
    /// Its log.
    pub log: String,
}
