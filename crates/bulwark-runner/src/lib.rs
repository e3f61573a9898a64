//! The runner: how Bulwark calls plugins. Every plugin, built-in or external, runs as a child
//! process in its own process group, so a timeout or a cancel can stop it and everything it
//! started (a `pg_dump` under a shell script) at once.
//!
//! - [`PluginCommand`] says how to start one plugin: an external executable, called with
//!   `--endpoint JSON` as seed 003 says, or a built-in, called as `bulwark plugin NAME` with the
//!   endpoint in the environment so secrets stay out of the process list.
//! - [`run_collect`] runs one action to the end and returns its exit code, stdout and stderr.
//! - [`StderrLog`] reads a plugin's stderr in chunks (never line by line with a length limit, so a
//!   long line cannot stall the pipe) and hides endpoint secrets before anything is kept.
//!
//! The task engine builds backup and restore pipelines from the same pieces.

pub mod codec;
mod exec;
pub mod leftovers;
mod pace;
pub mod pipeline;
pub mod single;
pub mod staged;
mod stderr;
pub mod verify;

pub use exec::{Call, Outcome, PluginCommand, RunError, kill_group, run_collect};
pub use stderr::{LogSink, StderrLog, Tail, secret_values, stream_lines};
