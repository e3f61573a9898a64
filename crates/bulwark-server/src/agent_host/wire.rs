//! What the core sends an agent to run a task, and the events the agent answers with, one JSON
//! object per line.

use serde::{Deserialize, Serialize};

/// One plugin of a task, as the agent needs it: its endpoint in clear (the agent keeps it in
/// memory only), and for a store what its secret gives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// The plugin's name; the agent runs it only if its allow-list names it.
    pub plugin: String,
    /// Its endpoint document.
    pub endpoint: String,
    /// Environment variables for it (a repository's password, snapshot tags).
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// The age key its stream is sealed with (a plugin store).
    #[serde(default)]
    pub key: Option<String>,
    /// Values to hide in what it prints, besides those the agent finds in the endpoint.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// A tree snapshot: the directory, and the snapshot it builds on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSpec {
    /// The directory on the agent's host.
    pub dir: String,
    /// The parent snapshot, if any.
    pub parent: Option<String>,
}

/// A backup the agent runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSpec {
    /// The task's UUID (a second request with the same one is refused while it runs).
    pub task: String,
    /// The upload's name for the store.
    pub upload: String,
    /// The target.
    pub target: PluginSpec,
    /// The store.
    pub store: PluginSpec,
    /// Set for a tree into a repository store.
    pub tree: Option<TreeSpec>,
    /// Seconds it may take.
    pub timeout: u64,
    /// The job's steps, run on the agent around the backup.
    #[serde(default)]
    pub steps: Vec<bulwark_api::Step>,
    /// The task's context for the steps (`BULWARK_JOB`, ...).
    #[serde(default)]
    pub vars: Vec<(String, String)>,
    /// At most this many bytes a second go to the store.
    #[serde(default)]
    pub bandwidth: Option<u64>,
}

/// A restore the agent runs: an archive of a store into a target, both on its host's side.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreSpec {
    /// The task's UUID.
    pub task: String,
    /// The archive's key in the store.
    pub key: String,
    /// `raw`, `sealed`, `stream` or `tree`.
    pub format: String,
    /// The target.
    pub target: PluginSpec,
    /// The store (its `key` is set only for a sealed archive).
    pub store: PluginSpec,
    /// Where a tree goes (the fs target's directory).
    pub dir: Option<String>,
    /// Only these paths of a tree.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Seconds it may take.
    pub timeout: u64,
    /// A restore drill: the target is a scratch target, verified after the restore and wiped
    /// at the end; the answer is a `drilled` event.
    #[serde(default)]
    pub drill: bool,
    /// The steps of the job that backs up this target, run around the restore.
    #[serde(default)]
    pub steps: Vec<bulwark_api::Step>,
    /// The task's context for the steps.
    #[serde(default)]
    pub vars: Vec<(String, String)>,
}

/// One event of a running task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A line for the task's log.
    Log(String),
    /// Bytes moved so far.
    Progress(u64),
    /// It succeeded: what the store printed, and the bytes moved.
    Done {
        /// The store's key.
        key: String,
        /// Bytes the store keeps for it, when it says.
        archive_size: Option<u64>,
        /// Bytes the store grew by, when it says.
        added: Option<u64>,
        /// Bytes from target to store.
        bytes: u64,
        /// Steps that failed with `on_failure: continue` (the archive is kept, the task fails).
        #[serde(default)]
        steps_failed: Option<String>,
    },
    /// A restore succeeded: the bytes that went into the target.
    Restored {
        /// Bytes restored.
        bytes: u64,
        /// Steps that failed with `on_failure: continue` (the task fails).
        #[serde(default)]
        steps_failed: Option<String>,
    },
    /// A drill restored its archive (in `rto` seconds) and checked it.
    Drilled {
        /// Seconds the restore took.
        rto: f64,
        /// `passed`, `unsupported` (the plugin cannot verify) or `failed`.
        check: String,
        /// Why the check failed.
        reason: Option<String>,
    },
    /// It failed (what is left in the store was cleaned up on the agent).
    Failed {
        /// The reason, in one line.
        reason: String,
        /// It was canceled.
        canceled: bool,
    },
}
