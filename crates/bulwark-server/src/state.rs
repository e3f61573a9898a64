//! What every request handler can reach.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use bulwark_catalog::Catalog;
use bulwark_core::clock::Clock;

use crate::config::Mode;

/// The shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// The catalog.
    pub catalog: Catalog,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// The time zone schedules are evaluated in.
    pub tz: Tz,
    /// Normal or dev scheduling.
    pub mode: Mode,
    /// The shortest retention accepted, in seconds.
    pub minimum_expiry: i64,
    /// When the daemon started.
    pub started_at: DateTime<Utc>,
    /// Directories searched for external plugins, in order.
    pub plugin_dirs: Arc<[std::path::PathBuf]>,
    /// The `bulwark` binary, which runs the built-in plugins.
    pub bulwark_exe: Arc<std::path::Path>,
    /// The task engine.
    pub engine: crate::engine::Engine,
    /// Seals store secrets.
    pub vault: crate::vault::Vault,
    /// The daemon's default prune schedule for repository stores, canonical.
    pub prune_schedule: Arc<str>,
    /// Logins, sessions, tokens.
    pub auth: Arc<crate::config::AuthConfig>,
    /// True when the API is served over HTTPS.
    pub tls: bool,
    /// The daemon's data directory (restores into a directory may not write there).
    pub data_dir: Arc<std::path::Path>,
    /// `/metrics` needs no login.
    pub metrics_public: bool,
    /// What the operator should fix, shown in `/v1/status`.
    pub warnings: Arc<[String]>,
    /// Agents and their sessions.
    pub agents: crate::agents::Hub,
}

impl AppState {
    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one place that reads the system time.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The time written in a file (Unix seconds), read at every look. For tests only
/// (`testing.clock_file`).
///
/// When the file cannot be read or parsed, the last time it held is kept (a test rewriting the
/// file truncates it first, and a look in between found it empty: the daemon then took the wall
/// clock for one backup, which made the two-year retention test fail now and then). Only before
/// the file was ever read is the wall clock used.
#[derive(Debug)]
pub struct FileClock {
    path: std::path::PathBuf,
    /// The last time read from the file; `i64::MIN` for none yet.
    last: std::sync::atomic::AtomicI64,
}

impl FileClock {
    /// A clock reading `path`.
    pub fn new(path: std::path::PathBuf) -> FileClock {
        FileClock {
            path,
            last: std::sync::atomic::AtomicI64::new(i64::MIN),
        }
    }
}

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        use std::sync::atomic::Ordering;
        let read = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|t| DateTime::from_timestamp(*t, 0).is_some());
        let t = match read {
            Some(t) => {
                self.last.store(t, Ordering::SeqCst);
                t
            }
            None => self.last.load(Ordering::SeqCst),
        };
        match DateTime::from_timestamp(t, 0) {
            Some(at) if t != i64::MIN => at,
            _ => SystemClock.now(),
        }
    }
}

#[cfg(test)]
mod file_clock_tests {
    use super::*;

    #[test]
    fn a_file_caught_being_rewritten_keeps_the_last_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let clock = FileClock::new(path.clone());
        std::fs::write(&path, "1000000000").unwrap();
        assert_eq!(clock.now().timestamp(), 1_000_000_000);
        // Truncated, as `fs::write` leaves it for a moment before writing.
        std::fs::write(&path, "").unwrap();
        assert_eq!(clock.now().timestamp(), 1_000_000_000);
        std::fs::write(&path, "1000000060\n").unwrap();
        assert_eq!(clock.now().timestamp(), 1_000_000_060);
    }
}
