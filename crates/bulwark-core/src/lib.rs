//! The pure core of Bulwark: domain identifiers, the schedule language, validation and redaction
//! rules, and the task and archive state names.
//!
//! Nothing in this crate performs I/O or reads the wall clock: functions that depend on time take
//! it as an argument, so the scheduler, the API and the tests can all reason about the same values.
//!
//! ```
//! use bulwark_core::timespec::Schedule;
//! use chrono::{TimeZone, Utc};
//!
//! let spec: Schedule = "daily 4am".parse().unwrap();
//! assert_eq!(spec.to_string(), "daily at 4:00");
//! let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
//! let next = spec.next_after(now, chrono_tz::UTC).unwrap();
//! assert_eq!(next, Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap());
//! ```

pub mod clock;
pub mod health;
pub mod ids;
pub mod redact;
pub mod retention;
pub mod role;
pub mod state;
pub mod timefmt;
pub mod timespec;
pub mod validate;
