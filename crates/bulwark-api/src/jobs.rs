//! Jobs: requests and answers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// Seconds its archives are kept (the policy's `expires`); null for a policy of rules alone.
    pub expiry: Option<i64>,
    /// The retention policy's rules in words.
    pub retention_rules: String,
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
    /// How often a failed scheduled backup is tried again.
    pub retries: i64,
    /// Seconds before the first retry; each later one waits twice as long.
    pub retry_delay: i64,
    /// Seconds a running backup may have before a scheduled run cancels it; null: never.
    pub grace: Option<i64>,
    /// Its steps: commands, HTTP calls or plugin actions before and after its backups and
    /// restores.
    pub steps: Vec<crate::Step>,
    /// At most this many bytes a second go to its store; `null`: no limit.
    pub bandwidth: Option<i64>,
    /// Its file-change trigger, if it has one.
    pub watch: Option<Watch>,
    /// The further stores each new archive is copied into, in order.
    pub copies: Vec<JobCopyResponse>,
    /// Retries made since the last scheduled backup that did not fail.
    pub retry_attempt: i64,
    /// When the next retry runs (UTC), if one is due.
    pub next_retry: Option<String>,
    /// Scheduled runs that did not start because the previous backup was still running.
    pub skipped_runs: i64,
    /// The newest of them.
    pub last_skipped: Option<SkippedRun>,
}

/// A scheduled run that did not start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SkippedRun {
    /// When (UTC).
    pub at: String,
    /// Why.
    pub reason: String,
    /// The backup that was still running.
    pub task_uuid: Option<Uuid>,
}

/// `PUT /v1/job/{uuid}`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobUpdated {
    /// `updated`.
    #[schema(example = "updated")]
    pub ok: String,
    /// When the retention policy changed: the archives the next sweep will purge under the new
    /// one (see `GET /v1/retention/{uuid}/preview`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_purge: Option<Vec<Uuid>>,
    /// The same in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
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
    /// How often a failed scheduled backup is tried again (0 to 100; 0 when absent).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub retries: Option<i64>,
    /// Seconds before the first retry (1 to 86400; 60 when absent); each later retry waits
    /// twice as long as the one before, at most a day.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86400)]
    pub retry_delay: Option<i64>,
    /// When a scheduled run finds the previous backup still running: skip the run while that
    /// backup is younger than this many seconds, cancel it and start anew once it is older.
    /// Absent: always skip.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3153600000i64)]
    pub grace: Option<i64>,
    /// Steps before and after its backups and restores (none when absent).
    #[serde(default)]
    pub steps: Option<Vec<crate::Step>>,
    /// At most this many bytes a second go to its store: bytes, or with K, M or G (powers of
    /// 1024), as hen-backup writes it (`50M`). Absent, `""` or `0`: no limit.
    #[serde(default)]
    #[schema(example = "50M", pattern = r"^([0-9]+[KMGkmg]?)?$", max_length = 20)]
    pub bandwidth: Option<String>,
    /// Back it up also when files under its fs target's directory change (on the daemon's
    /// host); absent: no trigger.
    #[serde(default)]
    pub watch: Option<Watch>,
    /// Further stores each new archive is copied into, each kept by its own retention policy
    /// (none when absent).
    #[serde(default)]
    pub copies: Option<Vec<JobCopy>>,
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
    /// How often a failed scheduled backup is tried again (0 to 100; 0 when absent).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub retries: Option<i64>,
    /// Seconds before the first retry (1 to 86400; 60 when absent); each later retry waits
    /// twice as long as the one before, at most a day.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86400)]
    pub retry_delay: Option<i64>,
    /// When a scheduled run finds the previous backup still running: skip the run while that
    /// backup is younger than this many seconds, cancel it and start anew once it is older.
    /// Absent: always skip.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3153600000i64)]
    pub grace: Option<i64>,
    /// Steps before and after its backups and restores; unchanged when absent (so a client
    /// that does not know them keeps them).
    #[serde(default)]
    pub steps: Option<Vec<crate::Step>>,
    /// At most this many bytes a second go to its store (`50M`); `""` or `0`: no limit;
    /// unchanged when absent.
    #[serde(default)]
    #[schema(example = "50M", pattern = r"^([0-9]+[KMGkmg]?)?$", max_length = 20)]
    pub bandwidth: Option<String>,
    /// Its file-change trigger; `{"settle": 0}` turns it off; unchanged when absent.
    #[serde(default)]
    pub watch: Option<Watch>,
    /// Further stores each new archive is copied into; `[]` for none; unchanged when absent.
    #[serde(default)]
    pub copies: Option<Vec<JobCopy>>,
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

/// A bandwidth as hen-backup writes it: bytes a second, or with a K, M or G suffix (powers of
/// 1024). `""` and `0` are no limit (`None`).
pub fn parse_bandwidth(text: &str) -> Result<Option<i64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        other => return Err(format!("bandwidth unit must be K, M or G, not '{other}'")),
    };
    let n: i64 = Some(digits)
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            format!("bandwidth must be a number of bytes a second like 50M, not '{text}'")
        })?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("bandwidth {text} is too large"))?;
    Ok((bytes > 0).then_some(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::parse_bandwidth;

    #[test]
    fn bandwidths_read_as_hen_backup_writes_them() {
        assert_eq!(parse_bandwidth("50K"), Ok(Some(50 << 10)));
        assert_eq!(parse_bandwidth("50m"), Ok(Some(50 << 20)));
        assert_eq!(parse_bandwidth("2G"), Ok(Some(2 << 30)));
        assert_eq!(parse_bandwidth("1000"), Ok(Some(1000)));
        assert_eq!(parse_bandwidth(""), Ok(None));
        assert_eq!(parse_bandwidth("0"), Ok(None));
        for bad in ["50X", "M", "-5M", "5.5M", "99999999999G"] {
            assert!(parse_bandwidth(bad).is_err(), "{bad}");
        }
    }
}

/// A file-change trigger: a backup once files under the job's directory have been quiet for
/// `settle` seconds, at most once per `min_interval` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// Seconds without a change before the backup starts (1 to 86400; 0 turns the trigger off).
    #[schema(minimum = 0, maximum = 86400, example = 30)]
    pub settle: i64,
    /// At most one backup per this many seconds (0 to 30 days; 0 when absent).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2592000, example = 600)]
    pub min_interval: i64,
}

/// A further store a job copies each new archive into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobCopy {
    /// The store the copies go to (not the job's own store; one copy per store).
    pub store: Uuid,
    /// The retention policy that keeps the copies there.
    pub retention: Uuid,
    /// How often a failed copy is tried again (0 to 100; 3 when absent).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 100)]
    pub retries: Option<i64>,
    /// Seconds before the first retry, each later one twice as long (1 to 86400; 300 when
    /// absent).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86400)]
    pub retry_delay: Option<i64>,
}

/// A job's copy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobCopyResponse {
    /// The store the copies go to.
    pub store_uuid: Uuid,
    /// Its name.
    pub store_name: String,
    /// Its plugin.
    pub store_plugin: String,
    /// The retention policy that keeps the copies there.
    pub retention_uuid: Uuid,
    /// Its name.
    pub retention_name: String,
    /// Its rules, said in words.
    pub retention_rules: String,
    /// How often a failed copy is tried again.
    pub retries: i64,
    /// Seconds before the first retry.
    pub retry_delay: i64,
}
