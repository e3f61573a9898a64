//! Retention rules and job retries on the command line, and `bulwark retention preview` and
//! `bulwark retention sweep`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest13::Method;
use serde_json::{Map, Value, json};

use super::change::seconds;
use super::view::grid;
use super::{CliResult, Client, Conn, Kind, encode, finish, label, print_json, text};

/// A retention policy's rules besides `--expires` (restic's `forget` flags).
#[derive(Debug, Args, Clone, Default)]
pub struct RuleArgs {
    /// Keep the N newest archives.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest archive of each of the N newest hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// ... of each of the N newest days (in the daemon's time zone).
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// ... of each of the N newest weeks (Monday to Sunday).
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// ... of each of the N newest months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// ... of each of the N newest years.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Keep every archive taken within this long of the newest (`30d`; `none` to drop it).
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// Never purge when fewer than N archives of a job would be left (default 1; 0: off).
    #[arg(long, value_name = "N")]
    pub min_good: Option<u32>,
}

impl RuleArgs {
    /// True when any rule was given.
    pub fn given(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_hourly.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_yearly.is_some()
            || self.keep_within.is_some()
            || self.min_good.is_some()
    }

    /// Writes the given rules into a policy's body (over what it holds); `none` removes one.
    pub fn apply(&self, body: &mut Map<String, Value>) -> CliResult<()> {
        for (key, n) in [
            ("keep_last", self.keep_last),
            ("keep_hourly", self.keep_hourly),
            ("keep_daily", self.keep_daily),
            ("keep_weekly", self.keep_weekly),
            ("keep_monthly", self.keep_monthly),
            ("keep_yearly", self.keep_yearly),
            ("min_good", self.min_good),
        ] {
            if let Some(n) = n {
                body.insert(key.into(), n.into());
            }
        }
        duration_or_none(body, "keep_within", self.keep_within.as_deref())
    }
}

/// Sets `key` to a duration in seconds, or removes it for `none`.
pub fn duration_or_none(
    body: &mut Map<String, Value>,
    key: &str,
    given: Option<&str>,
) -> CliResult<()> {
    match given {
        Some("none") => {
            body.remove(key);
        }
        Some(d) => {
            body.insert(key.into(), seconds(d)?.into());
        }
        None => {}
    }
    Ok(())
}

/// The rule fields a policy's answer carries, as a PUT takes them (absent ones left out).
pub fn current_rules(cur: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for key in [
        "expires",
        "keep_last",
        "keep_hourly",
        "keep_daily",
        "keep_weekly",
        "keep_monthly",
        "keep_yearly",
        "keep_within",
        "min_good",
    ] {
        if !cur[key].is_null() {
            out.insert(key.into(), cur[key].clone());
        }
    }
    out
}

/// A job's retries and grace time.
#[derive(Debug, Args, Clone, Default)]
pub struct RetryArgs {
    /// Try a failed scheduled backup again this many times (0 to 100).
    #[arg(long, value_name = "N")]
    pub retries: Option<i64>,
    /// Wait before the first retry (`30s`, `5m`); each later one waits twice as long.
    #[arg(long, value_name = "DURATION")]
    pub retry_delay: Option<String>,
    /// When a scheduled run finds the last backup still running: skip while it is younger
    /// than this, cancel it and start anew once older (`2h`; `none`: always skip).
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
}

impl RetryArgs {
    /// True when any was given.
    pub fn given(&self) -> bool {
        self.retries.is_some() || self.retry_delay.is_some() || self.grace.is_some()
    }

    /// Writes them into a job's body, over the job's current values (`cur`, on edit).
    pub fn apply(&self, body: &mut Map<String, Value>, cur: Option<&Value>) -> CliResult<()> {
        if let Some(cur) = cur {
            for key in ["retries", "retry_delay", "grace"] {
                if !cur[key].is_null() {
                    body.insert(key.into(), cur[key].clone());
                }
            }
        }
        if let Some(n) = self.retries {
            body.insert("retries".into(), n.into());
        }
        if let Some(d) = &self.retry_delay {
            body.insert("retry_delay".into(), seconds(d)?.into());
        }
        duration_or_none(body, "grace", self.grace.as_deref())
    }
}

/// `bulwark retention ...`
#[derive(Debug, Subcommand, Clone)]
pub enum RetentionCmd {
    /// Show what a policy would keep and purge of a job's archives if the sweep ran now, and
    /// why (whatever policy the job has now).
    ///
    /// Example: bulwark retention preview keep-dailies --job orders-nightly
    Preview {
        /// The policy's name, UUID or unique UUID prefix.
        #[arg(add = super::complete::policies())]
        policy: String,
        /// The job whose archives are decided.
        #[arg(long, add = super::complete::jobs())]
        job: String,
    },
    /// Run the retention sweep now: queue a purge of every archive no rule keeps.
    ///
    /// Example: bulwark retention sweep
    Sweep {},
}

/// `bulwark retention CMD`.
pub fn retention(cmd: &RetentionCmd, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        match cmd {
            RetentionCmd::Preview { policy, job } => {
                let p = c.resolve(Kind::Retention, policy)?;
                let j = c.resolve(Kind::Job, job)?;
                let path = format!(
                    "/v1/retention/{}/preview?job={}",
                    encode(&text(&p["uuid"])),
                    encode(&text(&j["uuid"]))
                );
                let answer = c.send(Method::GET, &path, None)?;
                if conn.json {
                    print_json(&answer);
                    return Ok(());
                }
                println!(
                    "Policy {} ({}) on job {}: keeps {}, purges {}.",
                    label(&p),
                    text(&answer["rules"]),
                    label(&j),
                    text(&answer["keep"]),
                    text(&answer["purge"])
                );
                let rows = answer["archives"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|a| {
                                let by: Vec<String> = a["kept_by"]
                                    .as_array()
                                    .map(|r| r.iter().map(text).collect())
                                    .unwrap_or_default();
                                vec![
                                    text(&a["uuid"]),
                                    text(&a["taken_at"]),
                                    text(&a["action"]).to_uppercase(),
                                    by.join(", "),
                                    if a["expires_at"].is_null() {
                                        "-".into()
                                    } else {
                                        text(&a["expires_at"])
                                    },
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                println!(
                    "{}",
                    grid(
                        &[
                            "ARCHIVE",
                            "TAKEN (UTC)",
                            "SWEEP",
                            "KEPT BY",
                            "GOES AT THE EARLIEST"
                        ],
                        rows
                    )
                    .trim_end()
                );
                Ok(())
            }
            RetentionCmd::Sweep {} => {
                let answer = c.send(Method::POST, "/v1/retention/sweep", Some(&json!({})))?;
                if conn.json {
                    print_json(&answer);
                    return Ok(());
                }
                println!("The sweep queued {} purges.", text(&answer["purges"]));
                Ok(())
            }
        }
    })())
}
