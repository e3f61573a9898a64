//! The names of task operations, task states and archive states, as the catalog and the API
//! spell them.

use std::fmt;
use std::str::FromStr;

/// Defines an enum whose variants have fixed lowercase names, with `as_str`, `Display`, `FromStr`
/// and the list of all names (for error messages).
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The name stored in the catalog and shown by the API.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err(UnknownName {
                        kind: stringify!($name),
                        given: s.to_string(),
                        expected: vec![$($text),*],
                    }),
                }
            }
        }
    };
}

/// A name that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not a valid {kind}; expected one of: {}", expected.join(", "))]
pub struct UnknownName {
    kind: &'static str,
    given: String,
    expected: Vec<&'static str>,
}

named_enum!(
    /// What a task does.
    TaskOp {
        /// Back up a job's target into its store.
        Backup = "backup",
        /// Put an archive back into a target.
        Restore = "restore",
        /// Remove an archive's data from its store.
        Purge = "purge",
        /// Verify a repository store.
        Check = "check",
        /// Reclaim the space of a repository store's unused data.
        Prune = "prune",
        /// Restore a job's newest good archive into a scratch destination and verify it.
        Drill = "drill",
        /// Copy an archive of a job into a further store of the job.
        Copy = "copy",
    }
);

named_enum!(
    /// Where a task is in its life: pending → running → done | failed | canceled.
    TaskStatus {
        /// Waiting for a worker.
        Pending = "pending",
        /// A worker is running it.
        Running = "running",
        /// Canceled before or while it ran.
        Canceled = "canceled",
        /// It ran and failed.
        Failed = "failed",
        /// It ran and succeeded.
        Done = "done",
    }
);

impl TaskStatus {
    /// True for the states a task never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Canceled | TaskStatus::Failed | TaskStatus::Done
        )
    }
}

named_enum!(
    /// Whether an archive's data is still in its store.
    ArchiveStatus {
        /// The data is in the store and can be restored.
        Valid = "valid",
        /// Deletion was requested (by a user or by expiry); a purge task removes the data.
        Purging = "purging",
        /// The data has been removed from the store.
        Purged = "purged",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(*s));
        }
        for s in TaskOp::ALL {
            assert_eq!(s.as_str().parse::<TaskOp>(), Ok(*s));
        }
        for s in ArchiveStatus::ALL {
            assert_eq!(s.as_str().parse::<ArchiveStatus>(), Ok(*s));
        }
    }

    #[test]
    fn unknown_name_lists_choices() {
        let err = "finished".parse::<TaskStatus>().unwrap_err().to_string();
        assert_eq!(
            err,
            "'finished' is not a valid TaskStatus; expected one of: pending, running, canceled, failed, done"
        );
    }
}
