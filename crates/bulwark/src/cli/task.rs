//! `pause`/`unpause`/`paused job`, `run job`, `drill job`, `restore archive`, `cancel task`, and `--wait`:
//! following a task to its end with a progress bar (bytes, throughput, elapsed) on a terminal,
//! its log when it fails, and exit 0 only when it is done.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest13::Method;
use serde_json::{Value, json};

use super::{CliResult, Client, Conn, Kind, encode, finish, label, print_json, text};

/// The word `job`, as the seed writes `pause job REF`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum JobWord {
    Job,
}

/// The word `archive`, as in `restore archive REF`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum ArchiveWord {
    Archive,
}

/// `archive` (as in `restore archive REF`) or `latest`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum RestoreWord {
    Archive,
    Latest,
}

/// The word `store`, as in `check store REF`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum StoreWord {
    Store,
}

/// The word `task`, as in `cancel task REF`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq)]
pub enum TaskWord {
    Task,
}

/// How often a followed task is read.
const POLL: Duration = Duration::from_millis(250);

/// `bulwark pause job REF` and `bulwark unpause job REF`.
pub fn pause(reference: &str, paused: bool, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let job = c.resolve(Kind::Job, reference)?;
        let verb = if paused { "pause" } else { "unpause" };
        let path = format!("/v1/job/{}/{verb}", encode(&text(&job["uuid"])));
        let answer = c.send(Method::POST, &path, Some(&json!({})))?;
        if conn.json {
            print_json(&answer);
        } else {
            println!("{verb}d job {}", label(&job));
        }
        Ok(())
    })())
}

/// `bulwark paused job REF`: whether it is paused. Exit 0 either way; `--json` prints
/// `{"uuid", "name", "paused"}`.
pub fn paused(reference: &str, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let job = c.resolve(Kind::Job, reference)?;
        let paused = job["paused"].as_bool().unwrap_or(false);
        if conn.json {
            print_json(&json!({"uuid": job["uuid"], "name": job["name"], "paused": paused}));
        } else if paused {
            println!("job {} is paused", label(&job));
        } else {
            println!("job {} is not paused", label(&job));
        }
        Ok(())
    })())
}

/// Options of commands that start a task.
#[derive(Debug, clap::Args, Clone)]
pub struct Start {
    /// Follow the task to its end: a progress bar on a terminal, its log if it fails; the exit
    /// code is 0 only if it is done. Ctrl-C stops following, not the task.
    #[arg(long)]
    pub wait: bool,
    /// Who asks (shown as the task's owner; default anon).
    #[arg(long)]
    pub owner: Option<String>,
}

fn start_body(start: &Start) -> Value {
    match &start.owner {
        Some(o) => json!({"owner": o}),
        None => json!({}),
    }
}

/// `bulwark run job REF [--wait]`.
pub fn run(reference: &str, start: &Start, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let job = c.resolve(Kind::Job, reference)?;
        let path = format!("/v1/job/{}/run", encode(&text(&job["uuid"])));
        let answer = c.send(Method::POST, &path, Some(&start_body(start)))?;
        started(
            &c,
            &answer,
            &format!("backup of job {}", label(&job)),
            start,
            conn,
        )
    })())
}

/// `bulwark drill job REF [--wait]`.
pub fn drill(reference: &str, start: &Start, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let job = c.resolve(Kind::Job, reference)?;
        let path = format!("/v1/job/{}/drill", encode(&text(&job["uuid"])));
        let answer = c.send(Method::POST, &path, Some(&start_body(start)))?;
        started(
            &c,
            &answer,
            &format!("restore drill of job {}", label(&job)),
            start,
            conn,
        )
    })())
}

/// How sure the caller is about a restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct Confirm {
    /// Restore without asking.
    pub yes: bool,
    /// Only say what the restore would do.
    pub dry_run: bool,
}

/// A restore's preview, for people.
fn describe_preview(p: &Value) -> String {
    let age = p["age"].as_i64().unwrap_or(0);
    let age = if age >= 86_400 {
        format!("{} days", age / 86_400)
    } else if age >= 3600 {
        format!("{} hours", age / 3600)
    } else {
        format!("{} minutes", age / 60)
    };
    format!(
        "Archive {} ({}, {} bytes, taken {} UTC, {age} ago)\ninto target '{}' ({}, {}){}:\n{}.",
        text(&p["archive_uuid"]),
        text(&p["plugin"]),
        text(&p["size"]),
        text(&p["taken_at"]),
        text(&p["target_name"]),
        text(&p["target_plugin"]),
        text(&p["target_endpoint"]),
        if p["in_place"] == true {
            ", the target it was taken from"
        } else {
            ""
        },
        text(&p["effect"])
    )
}

/// Which archive: `archive REF`, or the newest of a job or a target.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pick<'a> {
    pub reference: Option<&'a str>,
    pub job: Option<&'a str>,
    pub target: Option<&'a str>,
}

/// Where to: a target (default: the archive's own), or a directory; all or some paths.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dest<'a> {
    pub to: Option<&'a str>,
    pub to_dir: Option<&'a str>,
    pub paths: &'a [String],
}

pub fn restore(
    pick: Pick<'_>,
    dest: Dest<'_>,
    start: &Start,
    confirm: Confirm,
    conn: &Conn,
) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let archive = match pick.reference {
            Some(r) => c.resolve(Kind::Archive, r)?,
            None => super::browse::latest(&c, pick.job, pick.target)?,
        };
        let mut body = start_body(start);
        if !dest.paths.is_empty() {
            body["paths"] = json!(dest.paths);
        }
        let into = match (dest.to, dest.to_dir) {
            (Some(_), Some(_)) => return Err("give --to or --to-dir, not both".into()),
            (Some(t), None) => {
                let target = c.resolve(Kind::Target, t)?;
                body["target"] = target["uuid"].clone();
                format!("target {}", label(&target))
            }
            (None, Some(d)) => {
                let abs = std::path::absolute(d)
                    .map_err(|e| format!("--to-dir {d}: {e}"))?
                    .display()
                    .to_string();
                body["to_dir"] = abs.clone().into();
                format!("directory {abs} (on the daemon's host)")
            }
            (None, None) => format!("its own target '{}'", text(&archive["target_name"])),
        };
        let path = format!("/v1/archive/{}/restore", encode(&text(&archive["uuid"])));
        let mut dry = body.clone();
        dry["dry_run"] = true.into();
        let preview = c.send(Method::POST, &path, Some(&dry))?;
        if confirm.dry_run {
            if conn.json {
                print_json(&preview);
            } else {
                println!("{}", describe_preview(&preview));
            }
            return Ok(());
        }
        if !confirm.yes {
            let asker = super::change::Asker::new();
            if asker.terminal {
                eprintln!("{}", describe_preview(&preview));
                let answer = asker.line("Restore? [y/N] ")?;
                if !matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
                    return Err("not restored".into());
                }
            } else if preview["in_place"] == true {
                return Err(format!(
                    "restoring archive {} over its own target '{}' replaces what that holds; without a terminal to ask on, add --yes (--dry-run shows what it would do)",
                    text(&archive["uuid"]),
                    text(&archive["target_name"])
                ));
            }
        }
        let answer = c.send(Method::POST, &path, Some(&body))?;
        let what = format!("restore of archive {} into {into}", text(&archive["uuid"]));
        started(&c, &answer, &what, start, conn)
    })())
}

/// `bulwark check store REF [--read-data SUBSET]` and `bulwark prune store REF`: a repository
/// store's maintenance, as a task.
pub fn maintain(reference: &str, check: Option<Option<&str>>, wait: bool, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let store = c.resolve(Kind::Store, reference)?;
        let uuid = encode(&text(&store["uuid"]));
        let (path, body, what) = match check {
            Some(read) => {
                let body = match read {
                    Some(r) => json!({ "read_data": r }),
                    None => json!({}),
                };
                (format!("/v1/store/{uuid}/check"), Some(body), "check")
            }
            None => (format!("/v1/store/{uuid}/prune"), None, "prune"),
        };
        let answer = c.send(Method::POST, &path, body.as_ref())?;
        let what = format!("{what} of store {}", label(&store));
        let start = Start { wait, owner: None };
        started(&c, &answer, &what, &start, conn)
    })())
}

/// `bulwark cancel task REF`.
pub fn cancel(reference: &str, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let task = c.resolve(Kind::Task, reference)?;
        let uuid = text(&task["uuid"]);
        let answer = c.send(Method::DELETE, &format!("/v1/task/{}", encode(&uuid)), None)?;
        if conn.json {
            print_json(&answer);
        } else {
            println!("canceled task {uuid}");
        }
        Ok(())
    })())
}

/// After a task was queued: says so, or with `--wait` follows it to its end.
fn started(c: &Client, answer: &Value, what: &str, start: &Start, conn: &Conn) -> CliResult<()> {
    let task = text(&answer["task_uuid"]);
    if !start.wait {
        if conn.json {
            print_json(answer);
        } else {
            println!("queued the {what}: task {task}");
        }
        return Ok(());
    }
    if !conn.json {
        eprintln!("Queued the {what}: task {task}.");
    }
    let clock = Instant::now();
    let end = follow(c, &task)?;
    let status = text(&end["status"]);
    if conn.json {
        print_json(&end);
    } else if status == "done" {
        let last = text(&end["log"])
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        println!("task {task} done in {}: {last}", elapsed(clock.elapsed()));
    }
    if status == "done" {
        return Ok(());
    }
    if !conn.json {
        eprintln!("--- the log of task {task} ---");
        eprintln!("{}", text(&end["log"]).trim_end());
        eprintln!("---");
    }
    Err(format!("task {task} {status}"))
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// Reads the task until it has ended; shows its progress on a terminal (stderr). Ctrl-C stops
/// the waiting, not the task, and says how to cancel it.
fn follow(c: &Client, task: &str) -> CliResult<Value> {
    let id = task.to_string();
    let api = c.base().to_string();
    // Only one handler per process, and one wait per command: a second one is not set.
    let _ = ctrlc::set_handler(move || {
        eprintln!(
            "\nbulwark: stopped waiting; task {id} goes on. Follow it with `bulwark show task {id} --api {api}`, cancel it with `bulwark cancel task {id} --api {api}`."
        );
        std::process::exit(130);
    });
    // Drawn on stderr only when it is a terminal; hidden otherwise.
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template(
        "{spinner} {msg:10} {bytes:>11} {binary_bytes_per_sec:>13}  elapsed {elapsed_precise}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    let path = format!("/v1/task/{}", encode(task));
    loop {
        let t = c.get(&path)?;
        let status = text(&t["status"]);
        if let Some(b) = t["bytes"].as_u64() {
            bar.set_position(b);
        }
        bar.set_message(status.clone());
        if matches!(status.as_str(), "done" | "failed" | "canceled") {
            bar.finish_and_clear();
            return Ok(t);
        }
        std::thread::sleep(POLL);
    }
}

/// `bulwark log task REF [--follow]`: a task's log; with `--follow`, as it grows, until the
/// task ends.
pub fn log(reference: &str, follow: bool, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let task = c.uuid_of(Kind::Task, reference)?;
        let mut path = format!("/v1/task/{}/log", encode(&task));
        if follow {
            path.push_str("?follow=t");
        }
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        c.copy_to(&path, &mut out)
    })())
}
