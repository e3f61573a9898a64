//! Typed identifiers, one per catalog resource.
//!
//! Each is a UUID underneath; the newtypes keep a job's id from being passed where a target's is
//! expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Makes a new random (v4) identifier.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    )*};
}

id_type!(
    /// Identifies a target: a data system to back up.
    TargetId,
    /// Identifies a store: where archives are kept.
    StoreId,
    /// Identifies a schedule.
    ScheduleId,
    /// Identifies a retention policy.
    RetentionId,
    /// Identifies a job: a target, a store, a schedule and a retention policy together.
    JobId,
    /// Identifies an archive: one backup kept in a store.
    ArchiveId,
    /// Identifies a task: one backup, restore or purge run.
    TaskId,
    /// Identifies an agent: a Bulwark process on a data system's host.
    AgentId,
);
