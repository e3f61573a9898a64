//! `bulwark status`, `bulwark list KIND` and `bulwark show KIND REF`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use serde_json::Value;

use super::{CliResult, Client, Conn, Kind, encode, finish, print_json, reference, text};

/// `--used` / `--unused`.
#[derive(Debug, Args, Clone, Default)]
pub struct Usage {
    /// Only those some job uses.
    #[arg(long, conflicts_with = "unused")]
    pub used: bool,
    /// Only those no job uses (safe to delete).
    #[arg(long)]
    pub unused: bool,
}

/// What `list` lists, with the API's filters.
#[derive(Debug, Subcommand, Clone)]
pub enum ListWhat {
    /// Schedules. Example: bulwark list schedules --unused
    Schedules(Usage),
    /// Retention policies. Example: bulwark list retention policies --used
    #[command(visible_alias = "retention-policies", alias = "policies")]
    Retention {
        /// `policies`, as SHIELD's CLI writes it (`list retention policies`); optional.
        #[arg(hide = true, value_parser = ["policies", "policy"])]
        word: Option<String>,
        #[command(flatten)]
        usage: Usage,
    },
    /// Targets. Example: bulwark list targets --plugin postgres
    Targets {
        #[command(flatten)]
        usage: Usage,
        /// Only those of this plugin.
        #[arg(long)]
        plugin: Option<String>,
    },
    /// Stores. Example: bulwark list stores --unused
    Stores {
        #[command(flatten)]
        usage: Usage,
        /// Only those of this plugin.
        #[arg(long)]
        plugin: Option<String>,
    },
    /// Jobs. Example: bulwark list jobs --paused --target orders
    Jobs {
        /// Only paused jobs.
        #[arg(long, conflicts_with = "unpaused")]
        paused: bool,
        /// Only jobs that run on schedule.
        #[arg(long)]
        unpaused: bool,
        /// Only jobs of this target (name, UUID or prefix).
        #[arg(long)]
        target: Option<String>,
        /// Only jobs into this store.
        #[arg(long)]
        store: Option<String>,
        /// Only jobs on this schedule.
        #[arg(long)]
        schedule: Option<String>,
        /// Only jobs with this retention policy.
        #[arg(long = "retention-policy")]
        retention: Option<String>,
    },
    /// Archives. Example: bulwark list archives --target orders --after 20261101
    Archives {
        /// Only archives of this target.
        #[arg(long)]
        target: Option<String>,
        /// Only archives in this store.
        #[arg(long)]
        store: Option<String>,
        /// Only archives taken on or after this day (YYYYMMDD).
        #[arg(long, value_name = "YYYYMMDD")]
        after: Option<String>,
        /// Only archives taken before this day (YYYYMMDD).
        #[arg(long, value_name = "YYYYMMDD")]
        before: Option<String>,
        /// Also purged and expired archives, not only valid ones.
        #[arg(long)]
        all: bool,
    },
    /// Tasks. Example: bulwark list tasks --all
    Tasks {
        /// Also finished tasks, not only pending and running ones.
        #[arg(long)]
        all: bool,
        /// Only tasks in this state (pending, running, done, failed, canceled); implies --all.
        #[arg(long)]
        status: Option<String>,
        /// Only tasks of this job (name, UUID or prefix); implies --all.
        #[arg(long, add = super::complete::jobs())]
        job: Option<String>,
        /// At most this many, newest first.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Installed plugins. Example: bulwark list plugins
    Plugins,
    /// Agents on other hosts. Example: bulwark list agents
    Agents,
    /// The audit log, newest first (admins). Example: bulwark list audit --user alice --after 20261101
    Audit(super::auth::AuditFilter),
}

fn flag(on: bool, name: &str, value: &str, q: &mut Vec<String>) {
    if on {
        q.push(format!("{name}={value}"));
    }
}

fn usage(u: &Usage, q: &mut Vec<String>) {
    flag(u.used, "unused", "f", q);
    flag(u.unused, "unused", "t", q);
}

/// A day as YYYYMMDD, checked.
fn day(s: &str) -> CliResult<String> {
    let ok = s.len() == 8
        && s.chars().all(|c| c.is_ascii_digit())
        && chrono::NaiveDate::parse_from_str(s, "%Y%m%d").is_ok();
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a day written YYYYMMDD"))
    }
}

/// The list request for `what`, with references resolved to UUIDs.
fn list_path(c: &Client, what: &ListWhat) -> CliResult<(String, Kind)> {
    let mut q = Vec::new();
    let kind = match what {
        ListWhat::Schedules(u) => {
            usage(u, &mut q);
            Kind::Schedule
        }
        ListWhat::Retention { usage: u, .. } => {
            usage(u, &mut q);
            Kind::Retention
        }
        ListWhat::Targets { usage: u, plugin } | ListWhat::Stores { usage: u, plugin } => {
            usage(u, &mut q);
            if let Some(p) = plugin {
                q.push(format!("plugin={}", encode(p)));
            }
            if matches!(what, ListWhat::Targets { .. }) {
                Kind::Target
            } else {
                Kind::Store
            }
        }
        ListWhat::Jobs {
            paused,
            unpaused,
            target,
            store,
            schedule,
            retention,
        } => {
            flag(*paused, "paused", "t", &mut q);
            flag(*unpaused, "paused", "f", &mut q);
            for (kind, name, r) in [
                (Kind::Target, "target", target),
                (Kind::Store, "store", store),
                (Kind::Schedule, "schedule", schedule),
                (Kind::Retention, "retention", retention),
            ] {
                if let Some(r) = r {
                    q.push(format!("{name}={}", c.uuid_of(kind, r)?));
                }
            }
            Kind::Job
        }
        ListWhat::Archives {
            target,
            store,
            after,
            before,
            all,
        } => {
            if let Some(r) = target {
                q.push(format!("target={}", c.uuid_of(Kind::Target, r)?));
            }
            if let Some(r) = store {
                q.push(format!("store={}", c.uuid_of(Kind::Store, r)?));
            }
            if let Some(d) = after {
                q.push(format!("after={}", day(d)?));
            }
            if let Some(d) = before {
                q.push(format!("before={}", day(d)?));
            }
            flag(!*all, "status", "valid", &mut q);
            Kind::Archive
        }
        // Without --all, the tasks that have not ended (filtered here: the API takes one status).
        ListWhat::Tasks {
            status, job, limit, ..
        } => {
            if let Some(st) = status {
                q.push(format!("status={}", encode(st)));
            }
            if let Some(j) = job {
                q.push(format!("job={}", c.uuid_of(Kind::Job, j)?));
            }
            if let Some(l) = limit {
                q.push(format!("limit={l}"));
            }
            Kind::Task
        }
        ListWhat::Plugins => Kind::Plugin,
        ListWhat::Agents => Kind::Agent,
        ListWhat::Audit(_) => return Err("the audit log is listed by cli::auth".into()),
    };
    let base = kind.paths().0;
    let path = if q.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", q.join("&"))
    };
    Ok((path, kind))
}

fn short(v: &Value) -> String {
    v.as_str()
        .map(|s| s.chars().take(8).collect())
        .unwrap_or_default()
}

/// The columns of a table of `kind`: (heading, cell).
#[allow(clippy::type_complexity)]
fn columns(kind: Kind) -> Vec<(&'static str, Box<dyn Fn(&Value) -> String>)> {
    let f = |k: &'static str| -> Box<dyn Fn(&Value) -> String> { Box::new(move |v| text(&v[k])) };
    let uuid: Box<dyn Fn(&Value) -> String> = Box::new(|v| short(&v["uuid"]));
    match kind {
        Kind::Schedule => vec![
            ("UUID", uuid),
            ("NAME", f("name")),
            ("WHEN", f("when")),
            ("NEXT RUN", f("next_run")),
        ],
        Kind::Retention => vec![("UUID", uuid), ("NAME", f("name")), ("KEEPS", f("rules"))],
        Kind::Target => vec![
            ("UUID", uuid),
            ("NAME", f("name")),
            ("PLUGIN", f("plugin")),
            ("AGENT", f("agent")),
        ],
        Kind::Store => vec![
            ("UUID", uuid),
            ("NAME", f("name")),
            ("PLUGIN", f("plugin")),
            ("ENCRYPTED", f("encrypted")),
            (
                "ARCHIVES",
                Box::new(|v: &Value| text(&v["usage"]["archives"])),
            ),
            (
                "STORED",
                Box::new(|v: &Value| bytes_cell(&v["usage"]["stored"])),
            ),
            (
                "ADDED 7D",
                Box::new(|v: &Value| bytes_cell(&v["usage"]["added_week"])),
            ),
        ],
        Kind::Job => vec![
            ("UUID", uuid),
            ("NAME", f("name")),
            ("PAUSED", f("paused")),
            ("TARGET", f("target_name")),
            ("STORE", f("store_name")),
            ("SCHEDULE", f("schedule")),
            (
                "LAST",
                Box::new(|v: &Value| match &v["last_run"] {
                    Value::Null => "never".to_string(),
                    r => format!("{} {}", text(&r["at"]), text(&r["status"])),
                }),
            ),
            (
                "HEALTH",
                Box::new(|v: &Value| paint_health(&text(&v["health"]))),
            ),
            ("NEXT", f("next_run")),
        ],
        Kind::Archive => vec![
            ("UUID", uuid),
            ("TAKEN", f("taken_at")),
            ("STATUS", f("status")),
            (
                "SIZE",
                Box::new(|v: &Value| {
                    v["size"]
                        .as_u64()
                        .map(|b| indicatif::HumanBytes(b).to_string())
                        .unwrap_or_default()
                }),
            ),
            ("ADDED", Box::new(|v: &Value| bytes_cell(&v["added"]))),
            ("TARGET", f("target_name")),
            ("STORE", f("store_name")),
        ],
        Kind::Task => vec![
            ("UUID", uuid),
            ("TYPE", f("type")),
            ("STATUS", f("status")),
            ("OWNER", f("owner")),
            ("REQUESTED", f("requested_at")),
        ],
        Kind::Plugin => vec![
            ("NAME", f("name")),
            ("KIND", f("kind")),
            ("TITLE", f("title")),
            ("VERSION", f("version")),
        ],
        Kind::Notification => vec![
            ("UUID", uuid),
            ("NAME", f("name")),
            ("KIND", f("kind")),
            ("ENABLED", f("enabled")),
        ],
        Kind::Agent => vec![
            ("UUID", uuid),
            ("NAME", f("name")),
            ("ADDRESS", f("address")),
            ("MODE", f("mode")),
            ("STATUS", f("status")),
            ("ONLINE", f("online")),
            ("KEY", f("fingerprint")),
        ],
    }
}

/// A byte count in human form, or nothing.
fn bytes_cell(v: &Value) -> String {
    v.as_u64()
        .map(|b| indicatif::HumanBytes(b).to_string())
        .unwrap_or_default()
}

/// A job's health as a word, coloured on a terminal (green ok, yellow late or never, red
/// failing, dim paused); the word alone otherwise.
fn paint_health(h: &str) -> String {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || std::env::var_os("NO_COLOR").is_some() {
        return h.to_string();
    }
    let code = match h {
        "ok" => "32",
        "late" | "never" => "33",
        "failing" => "31",
        _ => "2",
    };
    format!("\x1b[{code}m{h}\x1b[0m")
}

/// The characters a cell shows: its length without colour escapes (`ESC [ ... m`).
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut escape = false;
    for c in s.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// A table of `kind`, with a heading row.
pub fn table(kind: Kind, rows: &[Value]) -> String {
    let cols = columns(kind);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|(_, cell)| cell(r)).collect())
        .collect();
    let heads: Vec<&str> = cols.iter().map(|(h, _)| *h).collect();
    grid(&heads, cells)
}

/// A heading row and rows of cells, columns padded to their widest cell.
pub fn grid(heads: &[&str], cells: Vec<Vec<String>>) -> String {
    let widths: Vec<usize> = heads
        .iter()
        .enumerate()
        .map(|(i, h)| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |c| visible_len(c)))
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: Vec<String>| {
        vals.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w.saturating_sub(visible_len(v)))))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(heads.iter().map(|h| h.to_string()).collect());
    for r in cells {
        out.push('\n');
        out.push_str(&line(r));
    }
    out
}

/// One resource as `key: value` lines, nested values as JSON.
pub(super) fn details(v: &Value) -> String {
    match v.as_object() {
        Some(map) => lines(map, 0).join("\n"),
        None => text(v),
    }
}

/// Seconds as people say them: `7 days`, `12 hours`, `90 minutes`, `1h 1m 1s`.
pub fn human_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs {
        0 => "0 seconds".into(),
        s if s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s % 3600 == 0 => plural(s / 3600, "hour"),
        s if s % 60 == 0 => plural(s / 60, "minute"),
        s if s < 60 => plural(s, "second"),
        s => humantime::format_duration(Duration::from_secs(s)).to_string(),
    }
}

/// A value as a person reads it: byte counts and durations in human form.
fn human(key: &str, v: &Value) -> String {
    match (key, v.as_u64()) {
        (
            "size" | "added" | "bytes" | "archive_size" | "stored" | "added_day" | "added_week",
            Some(b),
        ) => {
            format!("{} ({b} bytes)", indicatif::HumanBytes(b))
        }
        (
            "expires" | "expiry" | "uptime_seconds" | "idle_timeout" | "keep_within" | "grace"
            | "retry_delay",
            Some(s),
        ) => human_duration(s),
        _ => text(v),
    }
}

/// `key  value` lines, nested objects (and endpoint documents) indented under their key.
fn lines(map: &serde_json::Map<String, Value>, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let width = map.keys().map(String::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for (k, v) in map {
        let nested = match v {
            Value::Object(o) => Some(o.clone()),
            Value::String(s) if s.starts_with('{') => serde_json::from_str::<Value>(s)
                .ok()
                .and_then(|p| p.as_object().cloned()),
            _ => None,
        };
        match (nested, v) {
            (Some(o), _) if o.is_empty() => out.push(format!("{pad}{k:<width$}  (none)")),
            (Some(o), _) => {
                out.push(format!("{pad}{k}:"));
                out.extend(lines(&o, indent + 2));
            }
            (None, Value::Array(items)) if items.iter().any(Value::is_object) => {
                out.push(format!("{pad}{k}:"));
                for item in items {
                    match item.as_object() {
                        Some(o) => {
                            let mut inner = lines(o, indent + 4);
                            if let Some(first) = inner.first_mut() {
                                first.replace_range(indent + 2..indent + 4, "- ");
                            }
                            out.extend(inner);
                        }
                        None => out.push(format!("{pad}  - {}", text(item))),
                    }
                }
            }
            (None, Value::Array(items)) => out.push(format!(
                "{pad}{k:<width$}  {}",
                items.iter().map(text).collect::<Vec<_>>().join(", ")
            )),
            (None, Value::String(s)) if s.contains('\n') => out.push(format!(
                "{pad}{k}:\n{pad}    {}",
                s.trim_end().replace('\n', &format!("\n{pad}    "))
            )),
            (None, other) => out.push(format!("{pad}{k:<width$}  {}", human(k, other))),
        }
    }
    out
}

/// `bulwark status`: whether the daemon answers and is healthy (exit 1 when it is not).
pub fn status(conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let (code, s, body) = match c.request(reqwest13::Method::GET, "/v1/status", None) {
            Ok(answer) => answer,
            Err(e) => {
                if conn.json {
                    print_json(
                        &serde_json::json!({"health": "unreachable", "api": c.base(), "error": e}),
                    );
                }
                return Err(e);
            }
        };
        if s["health"].is_null() {
            let said: String = body.chars().take(300).collect();
            return Err(format!(
                "{} answered {code} to /v1/status, which is not a Bulwark status: {said}",
                c.base
            ));
        }
        if conn.json {
            print_json(&s);
        } else if s["health"] == "ok" {
            println!("the daemon at {} is up and healthy", c.base);
            println!("{}", details(&s));
        } else {
            println!("{}", details(&s));
        }
        if s["health"] == "ok" {
            // Healthy daemon; are the backups?
            let attention: Vec<String> = s["attention"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default();
            if attention.is_empty() {
                return Ok(());
            }
            return Err(format!(
                "{} job(s) need attention: {}",
                attention.len(),
                attention.join(", ")
            ));
        }
        Err(format!(
            "the daemon at {} is up but {}: catalog: {}",
            c.base,
            text(&s["health"]),
            text(&s["catalog"]["error"])
        ))
    })())
}

/// `bulwark list WHAT`.
pub fn list(what: &ListWhat, conn: &Conn) -> ExitCode {
    if let ListWhat::Audit(filter) = what {
        return super::auth::list_audit(filter, conn);
    }
    finish((|| {
        let c = Client::new(conn)?;
        let (path, kind) = list_path(&c, what)?;
        let mut rows = c.get(&path)?;
        if let (
            ListWhat::Tasks {
                all: false,
                status: None,
                job: None,
                ..
            },
            Some(list),
        ) = (what, rows.as_array_mut())
        {
            list.retain(|t| matches!(t["status"].as_str(), Some("pending" | "running")));
        }
        if conn.json {
            print_json(&rows);
        } else {
            println!(
                "{}",
                table(kind, rows.as_array().map(Vec::as_slice).unwrap_or(&[]))
            );
        }
        Ok(())
    })())
}

/// `bulwark show KIND REF`.
pub fn show(kind: Kind, words: &[String], conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let found = c.resolve(kind, &reference(kind, words)?)?;
        let (_, item, _) = kind.paths();
        let id = if kind == Kind::Plugin {
            found["name"].as_str().unwrap_or_default().to_string()
        } else {
            found["uuid"].as_str().unwrap_or_default().to_string()
        };
        let full = c.get(&format!("{item}{}", encode(&id)))?;
        if conn.json {
            print_json(&full);
        } else {
            println!("{}", details(&full));
        }
        Ok(())
    })())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn days_and_tables() {
        assert!(day("20261122").is_ok());
        assert!(day("2026-11-22").is_err());
        assert!(day("20261341").is_err());
        let rows = vec![
            serde_json::json!({"uuid": "0123456789abcdef", "name": "nightly", "when": "daily at 4:00", "next_run": null}),
        ];
        let t = table(Kind::Schedule, &rows);
        assert_eq!(t.lines().count(), 2);
        assert!(
            t.lines()
                .nth(1)
                .unwrap()
                .starts_with("01234567  nightly  daily at 4:00"),
            "{t}"
        );
        assert_eq!(encode("a b/✓"), "a%20b%2F%E2%9C%93");
    }

    #[test]
    fn colours_take_no_room() {
        assert_eq!(visible_len("\x1b[32mok\x1b[0m"), 2);
        let t = grid(
            &["A", "B"],
            vec![
                vec!["\x1b[31mfailing\x1b[0m".into(), "x".into()],
                vec!["ok".into(), "y".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(visible_len(lines[1]), visible_len(lines[2]), "{t:?}");
        assert_eq!(visible_len(lines[0]), 10);
    }

    #[test]
    fn show_reads_like_list() {
        assert_eq!(human_duration(7 * 86_400), "7 days");
        assert_eq!(human_duration(3600), "1 hour");
        assert_eq!(human_duration(90 * 60), "90 minutes");
        assert_eq!(human_duration(3661), "1h 1m 1s");
        let shown = details(&serde_json::json!({
            "name": "disk", "size": 50_435_456, "expires": 604_800,
            "endpoint": "{\"base_dir\":\"/srv\",\"password\":\"<redacted>\"}",
            "last_check": {"status": "done", "at": "2026-12-01 04:00:00"},
            "fields": [{"name": "host", "kind": "string"}],
        }));
        // Lines with their spacing squeezed.
        let text = shown
            .lines()
            .map(|l| {
                let lead = l.len() - l.trim_start().len();
                format!(
                    "{}{}",
                    &l[..lead],
                    l.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        for want in [
            "size 48.10 MiB (50435456 bytes)",
            "expires 7 days",
            "endpoint:\n  base_dir /srv\n  password <redacted>",
            "last_check:\n  at 2026-12-01 04:00:00",
            "fields:\n  - kind string\n    name host",
        ] {
            assert!(text.contains(want), "{want}: {shown}");
        }
        assert!(!shown.contains('{'), "{shown}");
    }
}
