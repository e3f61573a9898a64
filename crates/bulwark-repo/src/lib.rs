//! Bulwark's repository store: archives kept in a restic-format repository (v2: content-defined
//! chunking, deduplication, zstd, authenticated encryption) through `rustic_core`, on a local
//! directory (`rustic_backend`'s local backend) or object storage (OpenDAL; S3 always, other
//! services by cargo feature). A stock `restic` reads what this writes.
//!
//! It runs as the built-in plugin `repository` ([`cli`]), one short-lived process per call, so
//! the daemon can time it out, cancel it and keep its memory apart.

mod archiver;
pub mod browse;
pub mod cli;
pub mod copy;
pub mod endpoint;
mod object;
mod paced;
pub mod repo;
pub mod restore;
pub mod verify;
pub mod write;

/// The plugin's name.
pub const NAME: &str = "repository";

#[cfg(test)]
mod sizes_tests;
