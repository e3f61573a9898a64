//! The one place time comes from.
//!
//! Everything that needs "now" (the API stamping `requested_at`, the scheduler, retention) asks a
//! [`Clock`], so tests can use a fixed one and nothing else in the code reads the system time.

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Returns the current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A clock that always answers the same instant; for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}
