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
    /// The schedule as its author wrote it.
    #[schema(example = "daily at 4am")]
    pub when: String,
    /// The same schedule in its canonical form, as Bulwark reads it.
    #[schema(example = "daily at 4:00")]
    pub canonical: String,
    /// The next time it fires (UTC), as the daemon's time zone and mode compute it.
    pub next_run: Option<String>,
    /// Its next five runs (UTC).
    pub next_runs: Vec<String>,
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
    /// The earliest time the retention sweep could purge it (UTC); null while a count rule, a
    /// pin or `min_good` holds it (it goes only when newer archives push it out). For an
    /// archive no longer valid, the expiry it was given.
    pub expires_at: Option<String>,
    /// Why the retention rules keep it (`pinned`, `expires`, `keep_last`, `keep_hourly`,
    /// `keep_daily`, `keep_weekly`, `keep_monthly`, `keep_yearly`, `keep_within`,
    /// `min_good`); empty when the next sweep purges it, or when it is no longer valid.
    pub kept_by: Vec<String>,
    /// The job that made it, while it exists.
    pub job_uuid: Option<Uuid>,
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
    /// Pinned by an operator: retention never purges it.
    pub keep: bool,
    /// The archive this one is a copy of (a job's copy into a further store); null for an
    /// archive a backup made.
    pub origin_uuid: Option<Uuid>,
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
    /// `backup`, `restore`, `purge`, `check`, `prune`, `drill` or `copy`.
    #[serde(rename = "type")]
    pub op: String,
    /// The job, for backups.
    pub job_uuid: Option<Uuid>,
    /// The archive restored, purged or copied (or made, for a finished backup).
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
    /// A retry waits until then (UTC) before it may start; null for a task that may start at
    /// once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// Which try of the same work this is: 0 for the first.
    #[serde(default)]
    pub attempt: i64,
}
