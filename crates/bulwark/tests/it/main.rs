//! Integration tests: each starts the real `bulwark server` binary on a free loopback port with
//! its own data directory and drives the `/v1` API over HTTP.

// Test code: a panic is the failure report, and comparing with the wall clock is the point.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod agent_drills;
mod agent_keys;
mod agent_netns;
mod agent_redis_file;
mod agent_scripts;
mod agent_tasks;
mod agents;
mod apply;
mod archives;
mod authz;
mod bandwidth;
mod checks;
mod cli;
mod cli_edges;
mod common;
mod copies;
mod databases;
mod dist;
mod drill_databases;
mod drills;
mod engine;
mod health;
mod hygiene;
mod jobs;
mod leftovers;
mod lifecycle;
mod logins;
mod meta;
mod metrics;
mod notify;
mod pins;
mod plugin_cli;
mod plugins;
mod receivers;
mod repository;
mod resources;
mod restores;
mod retention;
mod retention_rules;
mod retries;
mod schelly;
mod secrets;
mod security;
mod servers;
mod steps;
mod tasks;
mod tls;
mod ui;
mod ui_browser;
mod usage;
mod validation;
mod watch;
