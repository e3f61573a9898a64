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

/// The time written in a file (Unix seconds), read at every look; the wall clock when the file
/// cannot be read. For tests only (`testing.clock_file`).
#[derive(Debug, Clone)]
pub struct FileClock(pub std::path::PathBuf);

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .unwrap_or_else(|| SystemClock.now())
    }
}
