//! A job's health as the API, the metrics and the notifications see it: from its last runs, its
//! schedule (its next run, and the RPO derived from it) and its own RPO.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use bulwark_catalog::{Job, JobRuns};
use bulwark_core::health::Health;
use bulwark_core::state::TaskStatus;
use bulwark_core::timespec::Schedule;

use crate::config::Mode;

/// What [`assess`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assessment {
    /// The job's RPO, or the one derived from its schedule, in seconds.
    pub(crate) effective_rpo: i64,
    pub(crate) health: Health,
    /// When it runs next; `None` when paused or its schedule cannot be read.
    pub(crate) next_run: Option<DateTime<Utc>>,
}

/// The schedule a job runs on: in dev mode every job runs every minute.
fn schedule(j: &Job, mode: Mode) -> Option<Schedule> {
    match mode {
        Mode::Dev => "every minute".parse().ok(),
        Mode::Normal => j.schedule.timespec.parse().ok(),
    }
}

/// Assesses a job at `now`.
pub(crate) fn assess(
    j: &Job,
    runs: &JobRuns,
    now: DateTime<Utc>,
    tz: Tz,
    mode: Mode,
) -> Assessment {
    let spec = schedule(j, mode);
    let effective_rpo = j.rpo.unwrap_or_else(|| {
        spec.as_ref()
            .map_or(86_400, |s| bulwark_core::health::derived_rpo(s, tz, now))
    });
    let health = bulwark_core::health::health(
        j.paused,
        runs.last_run.as_ref().map(|r| r.1 == TaskStatus::Done),
        runs.last_success.as_ref().map(|s| s.0),
        effective_rpo,
        now.timestamp(),
    )
    .retrying(j.retry_at.is_some());
    let next_run = if j.paused {
        None
    } else {
        spec.and_then(|s| s.next_after(now, tz))
    };
    Assessment {
        effective_rpo,
        health,
        next_run,
    }
}
