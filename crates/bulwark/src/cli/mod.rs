//! The CLI: seed 003's `shield` commands as `bulwark` subcommands that talk only to the HTTP
//! API, so they work against a daemon on another host.
//!
//! - [`view`]: `status`, `list KIND` (with the API's filters) and `show KIND REF`.
//! - [`change`]: `create`, `edit` (alias `update`) and `delete`, with flags, and prompts on a
//!   terminal for what is missing.
//! - [`task`]: `pause`, `unpause`, `paused`, `run job`, `restore archive`, `cancel task`,
//!   `check store`, `prune store`, and `--wait`, which follows a task with a progress bar.
//!
//! Where the daemon is: `--api URL`, else `BULWARK_API`, else `api = "..."` in
//! `~/.config/bulwark/cli.toml` (or `$XDG_CONFIG_HOME/bulwark/cli.toml`), else
//! `http://127.0.0.1:8450`. A reference (`REF`) is a UUID, a unique UUID prefix or a name; an
//! ambiguous one is an error that lists the candidates. `--json` prints JSON for scripts (the
//! API's own documents; see the README for each command's). Every failure is one line on
//! stderr, `bulwark: ...`, and exit code 1.
//!
//! Who is calling: `BULWARK_TOKEN`, else the token `bulwark login` saved for this daemon in
//! `~/.config/bulwark/credentials.json` (mode 0600), sent as `Authorization: Bearer TOKEN`.

pub mod agents;
pub mod apply;
pub mod auth;
pub mod browse;
pub mod change;
mod change_args;
pub mod complete;
mod endpoint_input;
pub mod notify;
pub mod retention;
pub mod task;
pub mod validate;
pub mod view;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::Value;

/// Where the daemon is, and how to print.
#[derive(Debug, Args, Clone)]
pub struct Conn {
    /// The daemon's address (default: $BULWARK_API, then `api` in ~/.config/bulwark/cli.toml,
    /// then http://127.0.0.1:8450).
    #[arg(long, global = true, value_name = "URL")]
    pub api: Option<String>,
    /// Print JSON instead of a table or a sentence (stable, for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// A PEM file of CA certificates to trust for an https daemon, besides the system's.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// A kind of resource, for `show` and `delete`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum Kind {
    Schedule,
    #[value(alias = "policy", alias = "retention-policy")]
    Retention,
    Target,
    Store,
    Job,
    Archive,
    Task,
    Plugin,
    /// A notification channel.
    #[value(alias = "notifications", alias = "channel")]
    Notification,
    /// An agent on another host.
    #[value(alias = "agents")]
    Agent,
}

impl Kind {
    /// (list path, item path prefix, what it is called).
    fn paths(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Schedule => ("/v1/schedules", "/v1/schedule/", "schedule"),
            Kind::Retention => ("/v1/retention", "/v1/retention/", "retention policy"),
            Kind::Target => ("/v1/targets", "/v1/target/", "target"),
            Kind::Store => ("/v1/stores", "/v1/store/", "store"),
            Kind::Job => ("/v1/jobs", "/v1/job/", "job"),
            Kind::Archive => ("/v1/archives", "/v1/archive/", "archive"),
            Kind::Task => ("/v1/tasks", "/v1/task/", "task"),
            Kind::Plugin => ("/v1/plugins", "/v1/plugin/", "plugin"),
            Kind::Notification => (
                "/v1/notifications",
                "/v1/notification/",
                "notification channel",
            ),
            Kind::Agent => ("/v1/agents", "/v1/agent/", "agent"),
        }
    }

    /// What it is called, for messages.
    fn what(self) -> &'static str {
        self.paths().2
    }
}

/// The reference words after a kind: one, or, for retention policies, `policy REF` as the seed
/// writes it (`show retention policy REF`).
pub fn reference(kind: Kind, words: &[String]) -> CliResult<String> {
    match words {
        [one] => Ok(one.clone()),
        [word, one]
            if kind == Kind::Retention && matches!(word.as_str(), "policy" | "policies") =>
        {
            Ok(one.clone())
        }
        _ => Err(format!(
            "expected one {} reference, got {}: {}",
            kind.what(),
            words.len(),
            words.join(" ")
        )),
    }
}

/// A failure, said in one line; the exit code is 1.
pub type CliResult<T> = Result<T, String>;

/// Talks to the daemon.
pub struct Client {
    base: String,
    http: reqwest13::blocking::Client,
    token: Option<String>,
}

/// The CLI's configuration directory: `$XDG_CONFIG_HOME/bulwark`, else `~/.config/bulwark`.
pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("bulwark"))
}

/// The config file's `api`, if any.
fn config_api() -> Option<String> {
    let text = std::fs::read_to_string(config_dir()?.join("cli.toml")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "api").then(|| v.trim().trim_matches('"').to_string())
    })
}

impl Client {
    /// The daemon named by `--api`, the environment or the config file.
    pub fn new(conn: &Conn) -> CliResult<Client> {
        let base = conn
            .api
            .clone()
            .or_else(|| std::env::var("BULWARK_API").ok().filter(|s| !s.is_empty()))
            .or_else(config_api)
            .unwrap_or_else(|| "http://127.0.0.1:8450".to_string());
        let base = base
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_string();
        let mut builder = reqwest13::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        if let Some(path) = &conn.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read --ca-cert {}: {e}", path.display()))?;
            let certs = reqwest13::Certificate::from_pem_bundle(&pem).map_err(|e| {
                format!("--ca-cert {} holds no PEM certificate: {e}", path.display())
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let token = std::env::var("BULWARK_TOKEN")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| auth::saved_token(&base));
        Ok(Client { base, http, token })
    }

    /// The daemon's base URL (`http://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Uses `token` for the requests that follow.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// GETs `path` and returns its JSON; a 4xx or 5xx becomes the API's error message.
    pub fn get(&self, path: &str) -> CliResult<Value> {
        self.send(reqwest13::Method::GET, path, None)
    }

    /// Sends a request with an optional JSON body and returns the answer's JSON; a 4xx or 5xx
    /// becomes the API's error message and status.
    pub fn send(
        &self,
        method: reqwest13::Method,
        path: &str,
        body: Option<&Value>,
    ) -> CliResult<Value> {
        let (status, json, body) = self.request(method, path, body)?;
        if !status.is_success() {
            let msg = json["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| body.chars().take(300).collect());
            let hint = if status.as_u16() == 401 && !msg.contains("bulwark user add") {
                "; log in with `bulwark login` or set BULWARK_TOKEN"
            } else {
                ""
            };
            return Err(format!(
                "{} ({}){hint}",
                msg.replace('\n', " "),
                status.as_u16()
            ));
        }
        Ok(json)
    }

    /// Sends a request; returns the status, the answer as JSON (a string if it is not JSON) and
    /// as text. Only a daemon that cannot be reached is an error here.
    pub fn request(
        &self,
        method: reqwest13::Method,
        path: &str,
        body: Option<&Value>,
    ) -> CliResult<(reqwest13::StatusCode, Value, String)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().map_err(|e| {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why = format!("{why}: {s}");
                source = s.source();
            }
            format!(
                "cannot reach the Bulwark daemon at {}: {why} (say where it is with --api URL or BULWARK_API)",
                self.base
            )
        })?;
        let status = resp.status();
        let body = resp
            .text()
            .map_err(|e| format!("reading the daemon's answer failed: {e}"))?;
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::String(body.clone()));
        Ok((status, json, body))
    }

    /// GETs `path` and copies the answer's body to `out` as it arrives, for as long as the
    /// daemon sends it (a followed task log); a 4xx or 5xx is the API's error.
    pub fn copy_to(&self, path: &str, out: &mut dyn std::io::Write) -> CliResult<()> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(30 * 86_400));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let mut resp = req
            .send()
            .map_err(|e| format!("cannot reach the Bulwark daemon at {}: {e}", self.base))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.text().unwrap_or_default();
            let msg = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(body);
            return Err(format!("{msg} ({})", status.as_u16()));
        }
        std::io::copy(&mut resp, out).map_err(|e| format!("reading the log failed: {e}"))?;
        Ok(())
    }

    /// Finds one resource of `kind` by UUID, unique UUID prefix or name.
    pub fn resolve(&self, kind: Kind, reference: &str) -> CliResult<Value> {
        let (list, _, what) = kind.paths();
        let items = self.get(list)?;
        let items = items.as_array().cloned().unwrap_or_default();
        let key = |v: &Value| {
            let field = if kind == Kind::Plugin { "name" } else { "uuid" };
            v[field].as_str().unwrap_or("").to_string()
        };
        let exact: Vec<&Value> = items
            .iter()
            .filter(|v| key(v) == reference || v["name"].as_str() == Some(reference))
            .collect();
        if exact.len() == 1 {
            return Ok(exact[0].clone());
        }
        let by_prefix: Vec<&Value> = if exact.is_empty() && kind != Kind::Plugin {
            items
                .iter()
                .filter(|v| key(v).starts_with(&reference.to_lowercase()))
                .collect()
        } else {
            exact
        };
        match by_prefix.len() {
            1 => Ok(by_prefix[0].clone()),
            0 => Err(format!(
                "no {what} matches '{reference}'{}",
                did_you_mean(reference, items.iter().filter_map(|v| v["name"].as_str()))
            )),
            _ => Err(format!(
                "'{reference}' matches {} {what}s; say which: {}",
                by_prefix.len(),
                by_prefix
                    .iter()
                    .map(|v| match v["name"].as_str() {
                        Some(name) => format!("{} ({name})", key(v)),
                        None => key(v),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The UUID of the resource `reference` names.
    pub fn uuid_of(&self, kind: Kind, reference: &str) -> CliResult<String> {
        Ok(text(&self.resolve(kind, reference)?["uuid"]))
    }
}

/// `; did you mean 'orders'?` for the names closest to a reference that matched nothing, or
/// nothing when none is close.
fn did_you_mean<'a>(reference: &str, names: impl Iterator<Item = &'a str>) -> String {
    let mut close: Vec<(f64, &str)> = names
        .map(|n| {
            (
                strsim::normalized_damerau_levenshtein(
                    &reference.to_lowercase(),
                    &n.to_lowercase(),
                ),
                n,
            )
        })
        .filter(|(score, _)| *score >= 0.6)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    close.dedup_by(|a, b| a.1 == b.1);
    match close.as_slice() {
        [] => String::new(),
        [(_, one)] => format!("; did you mean '{one}'?"),
        many => format!(
            "; did you mean one of {}?",
            many.iter()
                .take(3)
                .map(|(_, n)| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Percent-encodes a path segment or query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A JSON value as plain text: strings without quotes, null as nothing.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `name (uuid)`, for sentences.
fn label(v: &Value) -> String {
    match v["name"].as_str() {
        Some(n) => format!("'{n}' ({})", text(&v["uuid"])),
        None => text(&v["uuid"]),
    }
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// The exit of a command: 0, or its one-line error on stderr and 1.
pub fn finish(r: CliResult<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bulwark: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        let names = ["orders", "orders-eu", "billing"];
        assert_eq!(
            did_you_mean("ordrs", names.into_iter()),
            "; did you mean 'orders'?"
        );
        assert_eq!(did_you_mean("zzz", names.into_iter()), "");
        assert!(did_you_mean("order-eu", names.into_iter()).contains("'orders-eu'"));
    }
}
