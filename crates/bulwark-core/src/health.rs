//! A job's health at a glance, from its last runs, its schedule and its recovery point objective
//! (RPO: how old its newest good archive may be).
//!
//! In order: a paused job is `paused`; one whose last finished backup failed is `failing` (or
//! `retrying` while a retry of it is due, see [`Health::retrying`]); one
//! with no good archive yet is `never`; one whose newest good archive is older than its RPO is
//! `late`; any other is `ok`. A job without an RPO of its own gets twice the longest gap between
//! two runs of its schedule (so a nightly job is late after 48 hours without a good archive).

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::timespec::Schedule;

/// A job's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Its newest good archive is within its RPO and its last run succeeded.
    Ok,
    /// Its newest good archive is older than its RPO.
    Late,
    /// Its last finished backup failed (or was canceled).
    Failing,
    /// Its last scheduled backup failed and a retry is due.
    Retrying,
    /// It has no good archive yet.
    Never,
    /// It is paused.
    Paused,
}

impl Health {
    /// Every health, in the order people care about them.
    pub const ALL: [Health; 6] = [
        Health::Failing,
        Health::Retrying,
        Health::Late,
        Health::Never,
        Health::Paused,
        Health::Ok,
    ];

    /// The word the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Late => "late",
            Health::Failing => "failing",
            Health::Retrying => "retrying",
            Health::Never => "never",
            Health::Paused => "paused",
        }
    }

    /// `failing` becomes `retrying` while a retry of the failed backup is due.
    pub fn retrying(self, retry_due: bool) -> Health {
        match self {
            Health::Failing if retry_due => Health::Retrying,
            h => h,
        }
    }

    /// Parses the API's word.
    pub fn parse(s: &str) -> Option<Health> {
        Health::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's health (see the module's documentation). Times are Unix seconds.
pub fn health(
    paused: bool,
    last_run_succeeded: Option<bool>,
    last_success_at: Option<i64>,
    rpo: i64,
    now: i64,
) -> Health {
    match (paused, last_run_succeeded, last_success_at) {
        (true, _, _) => Health::Paused,
        (false, Some(false), _) => Health::Failing,
        (false, _, None) => Health::Never,
        (false, _, Some(at)) if now.saturating_sub(at) > rpo => Health::Late,
        _ => Health::Ok,
    }
}

/// Twice the longest gap between two runs of `schedule` over the coming year (at least one
/// minute); a day when it runs less than twice a year.
pub fn derived_rpo(schedule: &Schedule, tz: Tz, now: DateTime<Utc>) -> i64 {
    let horizon = now.timestamp() + 366 * 86_400;
    let mut longest = 0i64;
    let mut at = schedule.next_after(now, tz);
    for _ in 0..2000 {
        let Some(t) = at else { break };
        if t.timestamp() > horizon {
            break;
        }
        let next = schedule.next_after(t, tz);
        if let Some(n) = next {
            longest = longest.max(n.timestamp() - t.timestamp());
        }
        at = next;
    }
    if longest == 0 {
        return 86_400;
    }
    (2 * longest).max(60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn health_in_order_of_what_matters() {
        let rpo = 2 * 86_400;
        let now = 1_000_000_000;
        assert_eq!(health(true, Some(false), None, rpo, now), Health::Paused);
        assert_eq!(
            health(false, Some(false), Some(now - 10), rpo, now),
            Health::Failing
        );
        assert_eq!(health(false, None, None, rpo, now), Health::Never);
        assert_eq!(
            health(false, Some(true), Some(now - 10), rpo, now),
            Health::Ok
        );
        // The clock moves on past the RPO: late, and back to ok with a new archive.
        assert_eq!(
            health(false, Some(true), Some(now - rpo), rpo, now),
            Health::Ok
        );
        assert_eq!(
            health(false, Some(true), Some(now - rpo - 1), rpo, now),
            Health::Late
        );
        for h in Health::ALL {
            assert_eq!(Health::parse(h.as_str()), Some(h));
        }
    }

    #[test]
    fn the_rpo_follows_the_schedule() {
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap();
        let tz: Tz = "UTC".parse().unwrap();
        let rpo = |s: &str| derived_rpo(&s.parse::<Schedule>().unwrap(), tz, now);
        assert_eq!(rpo("daily at 4am"), 2 * 86_400);
        assert_eq!(rpo("hourly at :15"), 2 * 3600);
        assert_eq!(rpo("sundays at 4:00"), 14 * 86_400);
        assert_eq!(rpo("every 5 minutes"), 600);
    }
}
