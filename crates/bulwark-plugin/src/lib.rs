//! Seed 003's Plugin Calling Protocol, as Rust types, and the built-in plugins that speak it.
//!
//! A plugin is an executable called as `PLUGIN ACTION --endpoint JSON [--key KEY]`, with data on
//! stdin/stdout, diagnostics on stderr and an exit code ([`protocol::Exit`]). Built-in plugins
//! implement [`StorePlugin`] and/or [`TargetPlugin`] and are exposed through the very same
//! protocol by `bulwark plugin NAME ACTION ...` ([`cli::run`]), so the daemon can treat built-in
//! and external plugins alike.

pub mod builtin;
pub mod cli;
pub mod differences;
pub mod protocol;

use std::io::{Read, Write};

use serde_json::{Map, Value};

pub use differences::Differences;
pub use protocol::{
    Action, Exit, Features, Field, PROGRESS_PREFIX, PluginInfo, StoreOutput, UPLOAD_ENV,
    progress_line,
};

/// An endpoint document: the JSON object a plugin is configured with.
pub type Endpoint = Map<String, Value>;

/// Why a plugin action failed: the exit code it maps to and a message for stderr.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    /// The protocol exit code.
    pub exit: Exit,
    /// What went wrong, in one line.
    pub message: String,
}

impl PluginError {
    /// A failure with the given exit code.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        PluginError {
            exit,
            message: message.into(),
        }
    }

    /// Exit 4: any other failure of the plugin.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }
}

/// The plugin result type.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

/// A store plugin: keeps blobs and gives them back by key.
///
/// Contract: `store` reads its input to the end and returns a key only once the blob is durable;
/// a failed `store` leaves nothing retrievable behind. `retrieve` of a key `store` never returned
/// (or that was purged) fails with a message naming the key. `purge` removes the blob; purging an
/// unknown key fails the same way.
pub trait StorePlugin: Send + Sync {
    /// Checks an endpoint without touching stored data.
    fn validate(&self, endpoint: &Endpoint) -> Result<()>;
    /// Stores everything read from `input`. `upload` names this upload (the caller's
    /// [`protocol::UPLOAD_ENV`]) so that [`StorePlugin::abandon`] can find what it left if it is
    /// killed.
    fn store(
        &self,
        endpoint: &Endpoint,
        upload: Option<&str>,
        input: &mut dyn Read,
    ) -> Result<StoreOutput>;
    /// Writes the blob stored under `key` to `output`.
    fn retrieve(&self, endpoint: &Endpoint, key: &str, output: &mut dyn Write) -> Result<()>;
    /// Removes the blob stored under `key`.
    fn purge(&self, endpoint: &Endpoint, key: &str) -> Result<()>;
    /// Removes whatever a `store` of `upload` left behind, finished or not; nothing left is
    /// success. Called only for uploads that never became archives.
    fn abandon(&self, endpoint: &Endpoint, upload: &str) -> Result<()>;
}

/// A target plugin: turns a data system into one stream and back.
///
/// Contract: `backup` writes the whole backup to `output` and fails (rather than returning)
/// when it could not; a backup that fails midway may have written part of a stream, which the
/// caller throws away. `restore` reads a stream `backup` wrote and puts the data back.
pub trait TargetPlugin: Send + Sync {
    /// Checks an endpoint without touching data.
    fn validate(&self, endpoint: &Endpoint) -> Result<()>;
    /// Writes a backup to `output`; diagnostics go to `log`.
    fn backup(
        &self,
        endpoint: &Endpoint,
        output: &mut dyn Write,
        log: &mut dyn Write,
    ) -> Result<()>;
    /// Restores the backup read from `input`; diagnostics go to `log`.
    fn restore(&self, endpoint: &Endpoint, input: &mut dyn Read, log: &mut dyn Write)
    -> Result<()>;
    /// Checks that the endpoint's data holds the backup read from `input` (a restore drill's
    /// proof); says what it checked in `log` and fails naming what differs. Optional.
    fn verify(
        &self,
        _endpoint: &Endpoint,
        _input: &mut dyn Read,
        _log: &mut dyn Write,
    ) -> Result<()> {
        Err(PluginError::new(
            Exit::Unsupported,
            "this target cannot verify restored data",
        ))
    }
    /// Removes what a restore put into the endpoint: called only on a drill's scratch target.
    /// Optional.
    fn wipe(&self, _endpoint: &Endpoint, _log: &mut dyn Write) -> Result<()> {
        Err(PluginError::new(
            Exit::Unsupported,
            "this target cannot wipe its data",
        ))
    }
}
