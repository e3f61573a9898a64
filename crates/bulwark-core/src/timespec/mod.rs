//! The schedule language: parse, print back, and compute the next run.
//!
//! A [`Schedule`] is one of three things (see `TIMESPEC.md` in the shared docs):
//!
//! - a phrase of the timespec language: `daily at 4am`, `sundays 8am`, `hourly at :15`,
//!   `2nd tuesday at 23:15`, `every 6 hours from 4:39`, ...;
//! - a cron expression of 5 fields, or 6 with seconds first (`0/3 * * * * *`);
//! - a plain interval: `every 90s`, `every 4h`, `every 1h30m`.
//!
//! [`Schedule::next_after`] is a pure function of the schedule, an instant and a time zone: the
//! first matching instant strictly after the given one. Calendar phrases are evaluated in local
//! time: a local time skipped by a daylight-saving change runs at the first instant after the gap,
//! a local time that happens twice runs once, at the first. Plain intervals count from the Unix
//! epoch, so they do not depend on the time zone.
//!
//! Every schedule prints back in one canonical form (`daily at 16:00`, `thursdays at 23:35`), and
//! parsing the printed form gives the same schedule.

mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// A schedule that failed to parse: the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input}: {message}")]
pub struct TimespecError {
    /// The text that was given.
    pub input: String,
    /// What is wrong, and where.
    pub message: String,
}

/// A time of day, in minutes after midnight (0..1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// 0..=23
    pub hour: u32,
    /// 0..=59
    pub minute: u32,
}

impl Clock {
    fn minutes(self) -> u32 {
        self.hour * 60 + self.minute
    }

    fn from_minutes(m: u32) -> Self {
        Clock {
            hour: m / 60,
            minute: m % 60,
        }
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:02}", self.hour, self.minute)
    }
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `hourly at :MM`
    Hourly {
        /// Minute of the hour.
        minute: u32,
    },
    /// `daily at H:MM`
    Daily {
        /// Time of day.
        at: Clock,
    },
    /// `<weekday>s at H:MM`
    Weekly {
        /// Day of the week.
        weekday: Weekday,
        /// Time of day.
        at: Clock,
    },
    /// `monthly at H:MM on Nth`: a day of the month; months without that day are skipped.
    MonthlyDay {
        /// Day of the month, 1..=31.
        day: u32,
        /// Time of day.
        at: Clock,
    },
    /// `Nth <weekday> at H:MM`: the Nth occurrence of a weekday in the month (1..=5); months
    /// without a 5th occurrence are skipped.
    MonthlyWeekday {
        /// Which occurrence, 1..=5.
        nth: u32,
        /// Day of the week.
        weekday: Weekday,
        /// Time of day.
        at: Clock,
    },
    /// `every N minutes [from H:MM]`: from the given time each day, every N minutes until
    /// midnight, starting again the next day.
    EveryMinutes {
        /// Interval in minutes, 1..=1440.
        every: u32,
        /// First run of each day; less than the interval.
        from: Clock,
    },
    /// `every N hours [from H:MM]`: as `EveryMinutes`, in hours (1..=23).
    EveryHours {
        /// Interval in hours, 1..=23.
        every: u32,
        /// First run of each day; less than the interval.
        from: Clock,
    },
    /// A cron expression with 5 fields, or 6 with seconds first.
    Cron(Box<CronSchedule>),
    /// `every 90s`: a fixed interval counted from the Unix epoch.
    Interval {
        /// The interval in seconds, at least 1.
        seconds: u64,
    },
}

/// A cron expression, kept with its normalized text.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    text: String,
    cron: croner::Cron,
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl CronSchedule {
    /// The expression, with single spaces between fields.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The furthest a calendar schedule may look ahead. Every valid phrase matches well within this
/// (the rarest, "monthly on 31st" or a 5th weekday, match within a few months).
const LOOKAHEAD_DAYS: u64 = 800;

impl Schedule {
    /// Returns the first instant strictly after `after` that the schedule matches, evaluated in
    /// the time zone `tz`. `None` only if nothing matches within two years (a cron expression such
    /// as `0 0 30 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Interval { seconds } => {
                let secs = i64::try_from(*seconds).ok()?.max(1);
                let next = (after.timestamp().div_euclid(secs) + 1).checked_mul(secs)?;
                DateTime::from_timestamp(next, 0)
            }
            Schedule::Cron(c) => c
                .cron
                .find_next_occurrence(&after.with_timezone(&tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            _ => self.next_calendar(after, tz),
        }
    }

    fn next_calendar(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let mut day = after.with_timezone(&tz).date_naive();
        for _ in 0..LOOKAHEAD_DAYS {
            for time in self.times_on(day) {
                if let Some(t) = resolve_local(tz, day.and_time(time))
                    && t > after
                {
                    return Some(t);
                }
            }
            day = day.checked_add_days(Days::new(1))?;
        }
        None
    }

    /// The local times on `day` at which a calendar schedule runs, in order.
    fn times_on(&self, day: NaiveDate) -> Vec<NaiveTime> {
        let at_clock = |c: &Clock| NaiveTime::from_hms_opt(c.hour, c.minute, 0);
        let mut minutes: Vec<u32> = Vec::new();
        match self {
            Schedule::Hourly { minute } => minutes.extend((0..24).map(|h| h * 60 + minute)),
            Schedule::Daily { at } => minutes.push(at.minutes()),
            Schedule::Weekly { weekday, at } => {
                if day.weekday() == *weekday {
                    minutes.push(at.minutes());
                }
            }
            Schedule::MonthlyDay { day: dom, at } => {
                if day.day() == *dom {
                    minutes.push(at.minutes());
                }
            }
            Schedule::MonthlyWeekday { nth, weekday, at } => {
                if day.weekday() == *weekday && (day.day() - 1) / 7 + 1 == *nth {
                    minutes.push(at.minutes());
                }
            }
            Schedule::EveryMinutes { every, from } => {
                minutes.extend((from.minutes()..1440).step_by(*every as usize));
            }
            Schedule::EveryHours { every, from } => {
                minutes.extend((from.minutes()..1440).step_by((*every * 60) as usize));
            }
            Schedule::Cron(_) | Schedule::Interval { .. } => {}
        }
        minutes
            .into_iter()
            .filter_map(|m| at_clock(&Clock::from_minutes(m)))
            .collect()
    }
}

/// Turns a local time into an instant: the earlier one when the local time happens twice, and the
/// first instant after the gap when it does not exist (spring forward).
fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut probe = local;
    // A gap is at most a few hours; walk forward a minute at a time to its end.
    for _ in 0..(48 * 60) {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => return Some(a.min(b).with_timezone(&Utc)),
            LocalResult::None => probe += chrono::Duration::minutes(1),
        }
    }
    None
}

impl FromStr for Schedule {
    type Err = TimespecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse::parse(s).map_err(|message| TimespecError {
            input: s.trim().to_string(),
            message,
        })
    }
}

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn format_interval(mut secs: u64) -> String {
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = |c: &Clock| {
            if c.minutes() == 0 {
                String::new()
            } else {
                format!(" from {c}")
            }
        };
        match self {
            Schedule::Hourly { minute } => write!(f, "hourly at :{minute:02}"),
            Schedule::Daily { at } => write!(f, "daily at {at}"),
            Schedule::Weekly { weekday, at } => write!(f, "{}s at {at}", weekday_name(*weekday)),
            Schedule::MonthlyDay { day, at } => write!(f, "monthly at {at} on {}", ordinal(*day)),
            Schedule::MonthlyWeekday { nth, weekday, at } => {
                write!(f, "{} {} at {at}", ordinal(*nth), weekday_name(*weekday))
            }
            Schedule::EveryMinutes { every: 1, .. } => write!(f, "every minute"),
            Schedule::EveryMinutes { every, from: c } => {
                write!(f, "every {every} minutes{}", from(c))
            }
            Schedule::EveryHours { every, from: c } => write!(f, "every {every} hours{}", from(c)),
            Schedule::Cron(c) => f.write_str(&c.text),
            Schedule::Interval { seconds } => write!(f, "every {}", format_interval(*seconds)),
        }
    }
}
