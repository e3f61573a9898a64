//! `bulwark create`, `bulwark edit` (alias `update`) and `bulwark delete`.
//!
//! `create` takes every field as a flag; on a terminal it asks for a required field that is
//! missing (a target's or store's endpoint field by field, as its plugin's `info` describes
//! them, secrets without echo). Without a terminal a missing field is an error. `edit` reads the
//! record, changes what the flags say and sends it back whole (the API's `PUT` wants every
//! field); stored secrets stay as they are unless a flag replaces them. `delete` asks first on a
//! terminal, unless `--yes`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest13::Method;
use serde_json::{Map, Value, json};

use super::{CliResult, Client, Conn, Kind, encode, finish, label, print_json, reference, text};

/// A target's agent by default: the daemon's own host.
const DEFAULT_AGENT: &str = bulwark_core::validate::LOCAL_AGENT;

/// Fields every resource has.
#[derive(Debug, Args, Clone, Default)]
pub struct Common {
    /// Its human-friendly name.
    #[arg(long)]
    pub name: Option<String>,
    /// A note for operators.
    #[arg(long)]
    pub summary: Option<String>,
}

/// A schedule's fields.
#[derive(Debug, Args, Clone, Default)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub common: Common,
    /// When it fires: a timespec phrase ("daily at 4am", "every 6 hours"), a cron expression
    /// or an interval.
    #[arg(long)]
    pub when: Option<String>,
}

/// A retention policy's fields.
#[derive(Debug, Args, Clone, Default)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub common: Common,
    /// Keep every archive this long: seconds, or a duration such as 7d, 12h, 2w (at least
    /// 1h); `none` (edit) to keep by the other rules alone.
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    #[command(flatten)]
    pub rules: super::retention::RuleArgs,
}

/// How an endpoint is given.
#[derive(Debug, Args, Clone, Default)]
pub struct EndpointArgs {
    /// The whole endpoint, as a JSON object; `@FILE` reads it from a file and `@-` from
    /// standard input, which keeps secrets out of the process list.
    #[arg(long, value_name = "JSON|@FILE")]
    pub endpoint: Option<String>,
    /// One endpoint key (repeatable). The value is typed as the plugin's `info` says (a port
    /// or number, a bool, a comma-separated list); other values are strings.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove an endpoint key (repeatable; edit only).
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
}

impl EndpointArgs {
    fn given(&self) -> bool {
        self.endpoint.is_some() || !self.set.is_empty() || !self.unset.is_empty()
    }
}

/// A target's fields.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    #[command(flatten)]
    pub common: Common,
    /// The target plugin (see `bulwark list plugins`).
    #[arg(long)]
    pub plugin: Option<String>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// `local` (the default: the daemon's own host) or the host:port of the agent that reaches
    /// it (see `bulwark list agents`).
    #[arg(long, value_name = "HOST:PORT")]
    pub agent: Option<String>,
    /// Create it without running the plugin's `validate` on the endpoint first (create only).
    #[arg(long)]
    pub no_validate: bool,
}

/// A store's fields.
#[derive(Debug, Args, Clone, Default)]
pub struct StoreArgs {
    #[command(flatten)]
    pub common: Common,
    /// The store plugin (see `bulwark list plugins`).
    #[arg(long)]
    pub plugin: Option<String>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// For a repository store: when to prune it (a schedule phrase; "" for the daemon's
    /// default).
    #[arg(long, value_name = "WHEN")]
    pub prune_schedule: Option<String>,
    /// Create it without running the plugin's `validate` on the endpoint first (create only).
    #[arg(long)]
    pub no_validate: bool,
}

/// A job's fields; references are names, UUIDs or unique UUID prefixes.
#[derive(Debug, Args, Clone, Default)]
pub struct JobArgs {
    #[command(flatten)]
    pub common: Common,
    /// What it backs up.
    #[arg(long)]
    #[arg(add = super::complete::targets())]
    pub target: Option<String>,
    /// Where the archives go.
    #[arg(long)]
    #[arg(add = super::complete::stores())]
    pub store: Option<String>,
    /// When it runs.
    #[arg(long, add = super::complete::schedules())]
    pub schedule: Option<String>,
    /// How long its archives are kept.
    #[arg(long = "retention-policy", alias = "retention", value_name = "POLICY", add = super::complete::policies())]
    pub retention: Option<String>,
    /// Its priority: 0 runs first, 100 last (default 50); or hen-backup's words: immediate
    /// (0), next (5), superior (25), normal (50), inferior (75), on-idle (100).
    #[arg(long, value_parser = priority_arg)]
    pub priority: Option<i64>,
    /// At most this many bytes a second go to its store: `50M`, `500K`, bytes; `0` for no
    /// limit (edit).
    #[arg(long, value_name = "RATE")]
    pub bandwidth: Option<String>,
    /// Its recovery point objective: it is late when its newest good archive is older (`2d`,
    /// `36h`; seconds; default twice the longest gap between two runs of its schedule).
    #[arg(long, value_name = "DURATION")]
    pub rpo: Option<String>,
    /// When restore drills run: its newest good archive restored into the drill target (or a
    /// temporary directory, for fs and sqlite jobs) and verified. A schedule's name; "" for
    /// none (edit).
    #[arg(long, value_name = "SCHEDULE", add = super::complete::schedules())]
    pub drill_schedule: Option<String>,
    /// The scratch target drills restore into and wipe: same plugin, backed up by no job. ""
    /// for none (edit).
    #[arg(long, value_name = "TARGET", add = super::complete::targets())]
    pub drill_target: Option<String>,
    /// Its steps before and after backups and restores, a JSON list (`@FILE` reads it from a
    /// file, `@-` from standard input; `[]` for none). See the README's Steps and hooks.
    #[arg(long, value_name = "JSON|@FILE")]
    pub steps: Option<String>,
    /// Paused: it runs only when asked (`bulwark run job`).
    #[arg(long, conflicts_with = "unpaused")]
    pub paused: bool,
    /// Not paused (edit only): it runs on its schedule again.
    #[arg(long)]
    pub unpaused: bool,
    #[command(flatten)]
    pub retry: super::retention::RetryArgs,
}

/// What `create` makes.
#[derive(Debug, Subcommand, Clone)]
pub enum CreateWhat {
    /// A schedule.
    ///
    /// Example: bulwark create schedule --name nightly --when "daily at 4am"
    Schedule(ScheduleArgs),
    /// A retention policy.
    ///
    /// Example: bulwark create retention policy --name month --expires 30d
    #[command(visible_alias = "retention-policy", alias = "policy")]
    Retention {
        /// `policy`, as SHIELD's CLI writes it (`create retention policy`); optional.
        #[arg(hide = true, value_parser = ["policy"])]
        word: Option<String>,
        #[command(flatten)]
        args: RetentionArgs,
    },
    /// A target: a data system to back up.
    ///
    /// Example: bulwark create target --name orders --plugin postgres --set host=db1 --set database=orders --set user=backup --set password="$PGPASSWORD"
    Target(TargetArgs),
    /// A store: where archives go.
    ///
    /// Example: bulwark create store --name disk --plugin fs --set base_dir=/srv/backups
    Store(StoreArgs),
    /// A job: a target, a store, a schedule and a retention policy.
    ///
    /// Example: bulwark create job --name orders-nightly --target orders --store disk --schedule nightly --retention-policy month
    Job(JobArgs),
}

/// What `edit` changes; only the fields given change.
#[derive(Debug, Subcommand, Clone)]
pub enum EditWhat {
    /// A schedule.
    ///
    /// Example: bulwark edit schedule nightly --when "daily at 2am"
    Schedule {
        /// Its name, UUID or unique UUID prefix.
        reference: String,
        #[command(flatten)]
        args: ScheduleArgs,
    },
    /// A retention policy.
    ///
    /// Example: bulwark edit retention policy month --expires 31d
    #[command(visible_alias = "retention-policy", alias = "policy")]
    Retention {
        /// Its name, UUID or unique UUID prefix (after an optional `policy`).
        #[arg(num_args = 1..=2, required = true)]
        reference: Vec<String>,
        #[command(flatten)]
        args: RetentionArgs,
    },
    /// A target. Secrets stay unless a flag replaces them.
    ///
    /// Example: bulwark edit target orders --set host=db2 --unset sslmode
    Target {
        /// Its name, UUID or unique UUID prefix.
        reference: String,
        #[command(flatten)]
        args: TargetArgs,
    },
    /// A store. Secrets stay unless a flag replaces them.
    ///
    /// Example: bulwark edit store disk --name local-disk
    Store {
        /// Its name, UUID or unique UUID prefix.
        reference: String,
        #[command(flatten)]
        args: StoreArgs,
    },
    /// A job.
    ///
    /// Example: bulwark edit job orders-nightly --schedule hourly --priority 10
    Job {
        /// Its name, UUID or unique UUID prefix.
        reference: String,
        #[command(flatten)]
        args: JobArgs,
    },
    /// An archive's notes.
    ///
    /// Example: bulwark edit archive 3f2a --notes "before the 2.0 migration"
    Archive {
        /// Its UUID or a unique prefix.
        reference: String,
        /// Free-form notes.
        #[arg(long)]
        notes: Option<String>,
        /// Pin it: retention never purges it (deleting it still can).
        #[arg(long, conflicts_with = "no_keep")]
        keep: bool,
        /// Unpin it: retention purges it at its time again.
        #[arg(long)]
        no_keep: bool,
    },
}

/// Asks on a terminal for what the flags left out.
pub(super) struct Asker {
    pub(super) terminal: bool,
}

impl Asker {
    pub(super) fn new() -> Asker {
        Asker {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    /// `given`, or on a terminal an answer to `label`; otherwise an error naming the flag.
    fn required(&self, given: Option<String>, flag: &str, label: &str) -> CliResult<String> {
        if let Some(v) = given {
            return Ok(v);
        }
        if !self.terminal {
            return Err(format!(
                "missing --{flag}: {label} is required (on a terminal, bulwark asks for it)"
            ));
        }
        loop {
            let answer = self.line(&format!("{label}: "))?;
            if !answer.is_empty() {
                return Ok(answer);
            }
            eprintln!("{label} is required.");
        }
    }

    /// One line from the terminal, trimmed.
    pub(super) fn line(&self, prompt: &str) -> CliResult<String> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| format!("reading the terminal failed: {e}"))?;
        if n == 0 {
            return Err("no answer (end of input)".into());
        }
        Ok(answer.trim().to_string())
    }

    /// A secret, read without echo.
    fn secret(&self, prompt: &str) -> CliResult<String> {
        rpassword::prompt_password(prompt).map_err(|e| format!("reading the terminal failed: {e}"))
    }
}

/// An endpoint field as a plugin's `info` describes it.
struct Field {
    name: String,
    kind: String,
    title: String,
    required: bool,
    default: Option<String>,
    example: Option<String>,
}

/// The endpoint fields plugin `name` describes (none when it describes none).
fn fields_of(c: &Client, plugin: &str) -> CliResult<Vec<Field>> {
    let p = c.get(&format!("/v1/plugin/{}", encode(plugin)))?;
    if let Some(e) = p["error"].as_str() {
        return Err(format!("plugin '{plugin}' cannot be used: {e}"));
    }
    Ok(p["fields"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| Field {
            name: text(&f["name"]),
            kind: text(&f["type"]),
            title: text(&f["title"]),
            required: f["required"].as_bool().unwrap_or(false),
            default: f["default"].as_str().map(str::to_string),
            example: f["example"].as_str().map(str::to_string),
        })
        .filter(|f| !f.name.is_empty())
        .collect())
}

/// `value` typed as the field `kind` says.
fn typed(key: &str, value: &str, kind: Option<&str>) -> CliResult<Value> {
    Ok(match kind {
        Some("port" | "number" | "integer") => value
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{key} must be a number, not '{value}'"))?,
        Some("bool") => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "t" => Value::Bool(true),
            "false" | "no" | "n" | "0" | "f" => Value::Bool(false),
            _ => return Err(format!("{key} must be true or false, not '{value}'")),
        },
        Some("list") => Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        _ => Value::String(value.to_string()),
    })
}

/// hen-backup's priority words, as the 0 (first) to 100 (last) Bulwark keeps.
pub const PRIORITY_WORDS: &[(&str, i64)] = &[
    ("immediate", 0),
    ("next", 5),
    ("superior", 25),
    ("normal", 50),
    ("inferior", 75),
    ("on-idle", 100),
];

/// `--priority`: 0 to 100, or one of hen-backup's words.
pub(crate) fn priority_arg(given: &str) -> Result<i64, String> {
    if let Some((_, n)) = PRIORITY_WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(given))
    {
        return Ok(*n);
    }
    given
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=100).contains(n))
        .ok_or_else(|| {
            format!(
                "a priority is 0 (first) to 100, or one of {}",
                PRIORITY_WORDS
                    .iter()
                    .map(|(w, n)| format!("{w} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// `--steps`: a JSON list, given or read from a file.
fn steps_arg(given: &str) -> CliResult<Value> {
    let text = read_at(given)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("--steps is not JSON: {e}"))?;
    if !v.is_array() {
        return Err("--steps must be a JSON list of steps".to_string());
    }
    Ok(v)
}

/// A flag's value, or with `@FILE` the file's content (`@-`: standard input), which keeps
/// secrets off the command line.
fn read_at(given: &str) -> CliResult<String> {
    match given.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("reading standard input failed: {e}"))?;
            Ok(s)
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the endpoint file {path}: {e}")),
        None => Ok(given.to_string()),
    }
}

/// Applies `--endpoint`, `--set` and `--unset` to `base`.
fn apply_endpoint(
    args: &EndpointArgs,
    fields: &[Field],
    mut base: Map<String, Value>,
) -> CliResult<Map<String, Value>> {
    if let Some(given) = &args.endpoint {
        let json = read_at(given)?;
        base = match serde_json::from_str::<Value>(&json) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("--endpoint must be a JSON object".into()),
            Err(e) => return Err(format!("--endpoint is not valid JSON: {e}")),
        };
    }
    for pair in &args.set {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set wants KEY=VALUE, not '{pair}'"))?;
        let kind = fields.iter().find(|f| f.name == k).map(|f| f.kind.as_str());
        base.insert(k.to_string(), typed(k, v, kind)?);
    }
    for k in &args.unset {
        base.remove(k);
    }
    Ok(base)
}

/// Asks for each endpoint field on a terminal: required ones until answered, optional ones
/// skipped on an empty answer, passwords without echo.
/// With `given` keys already set (from flags), asks only for the required fields still missing.
fn ask_endpoint(
    asker: &Asker,
    plugin: &str,
    fields: &[Field],
    given: Map<String, Value>,
) -> CliResult<Map<String, Value>> {
    let only_missing = !given.is_empty();
    let mut map = given;
    let fields: Vec<&Field> = fields
        .iter()
        .filter(|f| !only_missing || (f.required && !map.contains_key(&f.name)))
        .collect();
    if only_missing && fields.is_empty() {
        return Ok(map);
    }
    if fields.is_empty() {
        let json = asker.required(None, "endpoint", &format!("{plugin} endpoint (JSON)"))?;
        return apply_endpoint(
            &EndpointArgs {
                endpoint: Some(json),
                ..EndpointArgs::default()
            },
            &[],
            map,
        );
    }
    if only_missing {
        eprintln!("The {plugin} endpoint still needs:");
    } else {
        eprintln!("The {plugin} endpoint (an empty answer skips an optional field):");
    }
    for f in fields {
        let title = if f.title.is_empty() {
            &f.name
        } else {
            &f.title
        };
        let hint = match (&f.default, &f.example) {
            (Some(d), _) => format!(" [default {d}]"),
            (None, Some(e)) if f.kind != "password" => format!(" [e.g. {e}]"),
            _ => String::new(),
        };
        let opt = if f.required { "" } else { " (optional)" };
        let prompt = format!("  {} - {title}{opt}{hint}: ", f.name);
        loop {
            let answer = if f.kind == "password" {
                asker.secret(&prompt)?
            } else {
                asker.line(&prompt)?
            };
            if answer.is_empty() {
                if f.required {
                    eprintln!("  {} is required.", f.name);
                    continue;
                }
                break;
            }
            match typed(&f.name, &answer, Some(&f.kind)) {
                Ok(v) => {
                    map.insert(f.name.clone(), v);
                    break;
                }
                Err(e) => eprintln!("  {e}"),
            }
        }
    }
    Ok(map)
}

/// A target's or store's endpoint for `create`: from the flags, and on a terminal asked for (all
/// of it, or the required fields the flags left out).
fn new_endpoint(
    c: &Client,
    asker: &Asker,
    plugin: &str,
    args: &EndpointArgs,
) -> CliResult<Map<String, Value>> {
    let fields = fields_of(c, plugin)?;
    let given = if args.given() {
        apply_endpoint(args, &fields, Map::new())?
    } else {
        Map::new()
    };
    if !asker.terminal {
        if args.given() {
            return Ok(given);
        }
        return Err(
            "missing --endpoint (or --set KEY=VALUE): the endpoint is required (on a terminal, bulwark asks for it)"
                .into(),
        );
    }
    ask_endpoint(asker, plugin, &fields, given)
}

/// Seconds from `7d`, `12h`, `2w`, `90m` or a plain number of seconds.
/// A duration as the help says it: seconds (`3600`), or a number with `s`, `m`, `h`, `d` or `w`
/// (`90m`, `12h`, `7d`, `2w`; parts may follow one another: `1d12h`).
pub(crate) fn seconds(s: &str) -> CliResult<i64> {
    if let Ok(n) = s.trim().parse::<i64>() {
        return Ok(n);
    }
    let bad = || {
        format!(
            "'{s}' is not a duration: say seconds (3600) or a number with s, m, h, d or w (90m, 12h, 7d, 2w)"
        )
    };
    let d = humantime::parse_duration(s.trim()).map_err(|_| bad())?;
    if d.subsec_nanos() != 0 {
        return Err(bad());
    }
    i64::try_from(d.as_secs()).map_err(|_| format!("'{s}' is too long"))
}

fn insert_opt(body: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(v) = value {
        body.insert(key.to_string(), Value::String(v));
    }
}

/// The request path and body that create `what`.
fn create_request(c: &Client, what: &CreateWhat) -> CliResult<(Kind, Value)> {
    let asker = Asker::new();
    let name = |common: &Common| asker.required(common.name.clone(), "name", "Name");
    Ok(match what {
        CreateWhat::Schedule(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            let when = asker.required(a.when.clone(), "when", "When (e.g. daily at 4am)")?;
            body.insert("when".into(), when.into());
            (Kind::Schedule, Value::Object(body))
        }
        CreateWhat::Retention { args: a, .. } => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            // Rules alone need no expiry; without any rule, ask for one.
            let expires = if a.rules.given() {
                a.expires.clone()
            } else {
                Some(asker.required(
                    a.expires.clone(),
                    "expires",
                    "Keep archives for (e.g. 30d)",
                )?)
            };
            super::retention::duration_or_none(&mut body, "expires", expires.as_deref())?;
            a.rules.apply(&mut body)?;
            (Kind::Retention, Value::Object(body))
        }
        CreateWhat::Target(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            let plugin = asker.required(a.plugin.clone(), "plugin", "Plugin (e.g. postgres)")?;
            let endpoint = new_endpoint(c, &asker, &plugin, &a.endpoint)?;
            body.insert("plugin".into(), plugin.into());
            body.insert("endpoint".into(), Value::Object(endpoint));
            body.insert(
                "agent".into(),
                a.agent
                    .clone()
                    .unwrap_or_else(|| DEFAULT_AGENT.into())
                    .into(),
            );
            if a.no_validate {
                body.insert("validate".into(), false.into());
            }
            (Kind::Target, Value::Object(body))
        }
        CreateWhat::Store(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            let plugin = asker.required(a.plugin.clone(), "plugin", "Plugin (e.g. fs)")?;
            let endpoint = new_endpoint(c, &asker, &plugin, &a.endpoint)?;
            body.insert("plugin".into(), plugin.into());
            body.insert("endpoint".into(), Value::Object(endpoint));
            insert_opt(&mut body, "prune_schedule", a.prune_schedule.clone());
            if a.no_validate {
                body.insert("validate".into(), false.into());
            }
            (Kind::Store, Value::Object(body))
        }
        CreateWhat::Job(a) => {
            let mut body = Map::new();
            body.insert("name".into(), name(&a.common)?.into());
            insert_opt(&mut body, "summary", a.common.summary.clone());
            for (kind, key, flag, given) in [
                (Kind::Target, "target", "target", &a.target),
                (Kind::Store, "store", "store", &a.store),
                (Kind::Schedule, "schedule", "schedule", &a.schedule),
                (
                    Kind::Retention,
                    "retention",
                    "retention-policy",
                    &a.retention,
                ),
            ] {
                let label = format!("{} (name or UUID)", capitalized(kind.what()));
                let r = asker.required(given.clone(), flag, &label)?;
                body.insert(key.into(), c.uuid_of(kind, &r)?.into());
            }
            body.insert("paused".into(), a.paused.into());
            for (kind, key, given) in [
                (Kind::Schedule, "drill_schedule", &a.drill_schedule),
                (Kind::Target, "drill_target", &a.drill_target),
            ] {
                if let Some(r) = given.as_deref().filter(|r| !r.is_empty()) {
                    body.insert(key.into(), c.uuid_of(kind, r)?.into());
                }
            }
            if let Some(r) = &a.rpo {
                body.insert("rpo".into(), seconds(r)?.into());
            }
            if let Some(p) = a.priority {
                body.insert("priority".into(), p.into());
            }
            if let Some(steps) = &a.steps {
                body.insert("steps".into(), steps_arg(steps)?);
            }
            insert_opt(&mut body, "bandwidth", a.bandwidth.clone());
            a.retry.apply(&mut body, None)?;
            (Kind::Job, Value::Object(body))
        }
    })
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `bulwark create WHAT`.
pub fn create(what: &CreateWhat, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let (kind, body) = create_request(&c, what)?;
        let answer = c.send(Method::POST, kind.paths().0, Some(&body))?;
        if let Some(w) = answer["warning"].as_str() {
            eprintln!("bulwark: warning: {w}");
        }
        if conn.json {
            print_json(&answer);
        } else {
            println!(
                "created {} '{}' ({})",
                kind.what(),
                text(&body["name"]),
                text(&answer["uuid"])
            );
        }
        Ok(())
    })())
}

/// A target's or store's plugin and endpoint after an edit: the current ones, changed by the
/// flags (stored secrets come back `<redacted>`, which the API keeps).
fn edited_endpoint(
    c: &Client,
    plugin: &Option<String>,
    args: &EndpointArgs,
    cur: &Value,
) -> CliResult<(String, Map<String, Value>)> {
    let plugin = plugin.clone().unwrap_or_else(|| text(&cur["plugin"]));
    let fields = fields_of(c, &plugin)?;
    let endpoint = match serde_json::from_str::<Value>(cur["endpoint"].as_str().unwrap_or("{}")) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    Ok((plugin, apply_endpoint(args, &fields, endpoint)?))
}

/// On a terminal with no flags given: asks for each field, the current value as the default.
fn ask_changes(asker: &Asker, current: &Value, keys: &[&str]) -> CliResult<Map<String, Value>> {
    eprintln!("Editing; press Enter to keep a value.");
    let mut out = Map::new();
    for k in keys {
        let now = text(&current[*k]);
        let answer = asker.line(&format!("  {k} [{now}]: "))?;
        if !answer.is_empty() {
            out.insert(k.to_string(), Value::String(answer));
        }
    }
    Ok(out)
}

/// The request path and body that edit `what`, and what it is.
fn edit_request(c: &Client, what: &EditWhat) -> CliResult<(String, Value, String)> {
    let asker = Asker::new();
    let (kind, r) = match what {
        EditWhat::Schedule { reference, .. } => (Kind::Schedule, reference.clone()),
        EditWhat::Retention { reference: r, .. } => {
            (Kind::Retention, reference(Kind::Retention, r)?)
        }
        EditWhat::Target { reference, .. } => (Kind::Target, reference.clone()),
        EditWhat::Store { reference, .. } => (Kind::Store, reference.clone()),
        EditWhat::Job { reference, .. } => (Kind::Job, reference.clone()),
        EditWhat::Archive { reference, .. } => (Kind::Archive, reference.clone()),
    };
    let found = c.resolve(kind, &r)?;
    let uuid = text(&found["uuid"]);
    let cur = c.get(&format!("{}{}", kind.paths().1, encode(&uuid)))?;
    let pick = |given: &Option<String>, key: &str| -> Value {
        given
            .clone()
            .map(Value::String)
            .unwrap_or_else(|| Value::String(text(&cur[key])))
    };
    // With no flags on a terminal, ask for the plain fields.
    let nothing = |given: bool, keys: &[&str]| -> CliResult<Option<Map<String, Value>>> {
        if given {
            return Ok(None);
        }
        if !asker.terminal {
            return Err(format!(
                "nothing to change: give at least one of {}",
                keys.iter()
                    .map(|k| format!("--{}", k.replace('_', "-")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        ask_changes(&asker, &cur, keys).map(Some)
    };
    let common_given = |c: &Common| c.name.is_some() || c.summary.is_some();
    let body = match what {
        EditWhat::Schedule { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common) || a.when.is_some(),
                &["name", "summary", "when"],
            )?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "when": pick(&a.when, "when"),
            });
            merge(&mut body, asked);
            body
        }
        EditWhat::Retention { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common) || a.expires.is_some() || a.rules.given(),
                &["name", "summary", "expires"],
            )?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
            });
            if let Value::Object(m) = &mut body {
                m.extend(super::retention::current_rules(&cur));
            }
            merge(&mut body, asked);
            let expires = match (&a.expires, &body["expires"]) {
                (Some(e), _) => Some(e.clone()),
                (None, Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            if let Value::Object(m) = &mut body {
                super::retention::duration_or_none(m, "expires", expires.as_deref())?;
                a.rules.apply(m)?;
            }
            body
        }
        EditWhat::Target { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common)
                    || a.plugin.is_some()
                    || a.endpoint.given()
                    || a.agent.is_some(),
                &["name", "summary", "agent"],
            )?;
            let (plugin, endpoint) = edited_endpoint(c, &a.plugin, &a.endpoint, &cur)?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "plugin": plugin,
                "endpoint": endpoint,
                "agent": pick(&a.agent, "agent"),
            });
            merge(&mut body, asked);
            body
        }
        EditWhat::Store { args: a, .. } => {
            let asked = nothing(
                common_given(&a.common)
                    || a.plugin.is_some()
                    || a.endpoint.given()
                    || a.prune_schedule.is_some(),
                &["name", "summary", "prune_schedule"],
            )?;
            let (plugin, endpoint) = edited_endpoint(c, &a.plugin, &a.endpoint, &cur)?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "plugin": plugin,
                "endpoint": endpoint,
            });
            if let Some(p) = &a.prune_schedule {
                body["prune_schedule"] = p.clone().into();
            }
            merge(&mut body, asked);
            body
        }
        EditWhat::Job { args: a, .. } => {
            let refs_given = [&a.target, &a.store, &a.schedule, &a.retention]
                .iter()
                .any(|r| r.is_some());
            let asked = nothing(
                common_given(&a.common)
                    || refs_given
                    || a.priority.is_some()
                    || a.rpo.is_some()
                    || a.drill_schedule.is_some()
                    || a.drill_target.is_some()
                    || a.steps.is_some()
                    || a.bandwidth.is_some()
                    || a.retry.given()
                    || a.paused
                    || a.unpaused,
                &["name", "summary", "priority"],
            )?;
            let mut body = json!({
                "name": pick(&a.common.name, "name"),
                "summary": pick(&a.common.summary, "summary"),
                "priority": a.priority.map(Value::from).unwrap_or_else(|| cur["priority"].clone()),
                "rpo": match &a.rpo {
                    Some(r) => seconds(r)?.into(),
                    None => cur["rpo"].clone(),
                },
            });
            for (kind, key, given) in [
                (Kind::Target, "target", &a.target),
                (Kind::Store, "store", &a.store),
                (Kind::Schedule, "schedule", &a.schedule),
                (Kind::Retention, "retention", &a.retention),
            ] {
                body[key] = match given {
                    Some(r) => c.uuid_of(kind, r)?.into(),
                    None => cur[format!("{key}_uuid")].clone(),
                };
            }
            for (kind, key, given) in [
                (Kind::Schedule, "drill_schedule", &a.drill_schedule),
                (Kind::Target, "drill_target", &a.drill_target),
            ] {
                body[key] = match given.as_deref() {
                    Some("") => Value::Null,
                    Some(r) => c.uuid_of(kind, r)?.into(),
                    None => cur[format!("{key}_uuid")].clone(),
                };
            }
            if let Some(steps) = &a.steps {
                body["steps"] = steps_arg(steps)?;
            }
            if let Some(b) = &a.bandwidth {
                body["bandwidth"] = b.clone().into();
            }
            if a.paused || a.unpaused {
                body["paused"] = a.paused.into();
            }
            if let Value::Object(m) = &mut body {
                a.retry.apply(m, Some(&cur))?;
            }
            merge(&mut body, asked);
            if let Value::String(p) = &body["priority"] {
                body["priority"] = p
                    .parse::<i64>()
                    .map_err(|_| format!("priority must be a number, not '{p}'"))?
                    .into();
            }
            body
        }
        EditWhat::Archive {
            notes,
            keep,
            no_keep,
            ..
        } => {
            let asked = nothing(notes.is_some() || *keep || *no_keep, &["notes"])?;
            let mut body = json!({ "notes": pick(notes, "notes") });
            if *keep || *no_keep {
                body["keep"] = (*keep).into();
            }
            merge(&mut body, asked);
            body
        }
    };
    let path = format!("{}{}", kind.paths().1, encode(&uuid));
    Ok((path, body, format!("{} {}", kind.what(), label(&found))))
}

fn merge(body: &mut Value, asked: Option<Map<String, Value>>) {
    if let (Some(map), Some(asked)) = (body.as_object_mut(), asked) {
        map.extend(asked);
    }
}

/// `bulwark edit WHAT REF`.
pub fn edit(what: &EditWhat, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let (path, mut body, described) = edit_request(&c, what)?;
        // Pausing is its own request; the rest is one PUT of the whole record.
        let pause = body.as_object_mut().and_then(|m| m.remove("paused"));
        let answer = c.send(Method::PUT, &path, Some(&body))?;
        if let Some(p) = pause.and_then(|p| p.as_bool()) {
            let verb = if p { "pause" } else { "unpause" };
            c.send(Method::POST, &format!("{path}/{verb}"), Some(&json!({})))?;
        }
        if conn.json {
            print_json(&answer);
        } else {
            println!("updated {described}");
        }
        Ok(())
    })())
}

/// `bulwark delete KIND REF`.
pub fn delete(kind: Kind, words: &[String], yes: bool, conn: &Conn) -> ExitCode {
    finish((|| {
        if matches!(kind, Kind::Task | Kind::Plugin) {
            return Err(match kind {
                Kind::Task => "tasks are history and are not deleted; stop a running one with `bulwark cancel task REF`".into(),
                _ => "plugins are installed on the daemon's host, not deleted through the API".into(),
            });
        }
        let c = Client::new(conn)?;
        let found = c.resolve(kind, &reference(kind, words)?)?;
        let described = format!("{} {}", kind.what(), label(&found));
        let asker = Asker::new();
        if !yes && asker.terminal {
            let extra = if kind == Kind::Archive {
                " Its data is removed from the store."
            } else {
                ""
            };
            let answer = asker.line(&format!("Delete {described}?{extra} [y/N] "))?;
            if !matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes") {
                return Err("not deleted".into());
            }
        }
        let path = format!("{}{}", kind.paths().1, encode(&text(&found["uuid"])));
        let answer = c.send(Method::DELETE, &path, None)?;
        if conn.json {
            print_json(&answer);
        } else {
            println!("deleted {described}");
        }
        Ok(())
    })())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_and_typed_values() {
        assert_eq!(seconds("3600").unwrap(), 3600);
        assert_eq!(seconds("7d").unwrap(), 7 * 86400);
        assert_eq!(seconds("2w").unwrap(), 14 * 86400);
        assert_eq!(seconds("12h").unwrap(), 12 * 3600);
        assert!(seconds("soon").unwrap_err().contains("not a duration"));
        assert_eq!(seconds("1d12h").unwrap(), 36 * 3600);
        // Units that make no sense for retention are refused, and not offered.
        let err = seconds("5ms").unwrap_err();
        assert!(
            err.contains("s, m, h, d or w") && !err.contains("nsec"),
            "{err}"
        );
        assert!(!seconds("7x").unwrap_err().contains("nsec"));
        assert_eq!(typed("port", "5432", Some("port")).unwrap(), json!(5432));
        assert!(typed("port", "x", Some("port")).is_err());
        assert_eq!(typed("all", "yes", Some("bool")).unwrap(), json!(true));
        assert_eq!(
            typed("include", "a, b,", Some("list")).unwrap(),
            json!(["a", "b"])
        );
        // A password of digits stays a string.
        assert_eq!(
            typed("password", "0123", Some("password")).unwrap(),
            json!("0123")
        );
        assert_eq!(typed("x", "42", None).unwrap(), json!("42"));
    }

    #[test]
    fn endpoint_flags_apply_in_order() {
        let fields = vec![Field {
            name: "port".into(),
            kind: "port".into(),
            title: String::new(),
            required: false,
            default: None,
            example: None,
        }];
        let args = EndpointArgs {
            endpoint: Some(r#"{"host":"a","sslmode":"require"}"#.into()),
            set: vec!["port=5433".into(), "host=b=c".into()],
            unset: vec!["sslmode".into()],
        };
        let m = apply_endpoint(&args, &fields, Map::new()).unwrap();
        assert_eq!(Value::Object(m), json!({"host": "b=c", "port": 5433}));
        let bad = EndpointArgs {
            set: vec!["novalue".into()],
            ..EndpointArgs::default()
        };
        assert!(
            apply_endpoint(&bad, &fields, Map::new())
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        let bad = EndpointArgs {
            endpoint: Some("[1]".into()),
            ..EndpointArgs::default()
        };
        assert!(apply_endpoint(&bad, &fields, Map::new()).is_err());
    }
}
