//! The flags of `bulwark create` and `bulwark edit`: each kind's fields, as clap arguments.

use clap::{Args, Subcommand};

/// A target's agent by default: the daemon's own host.
pub(super) const DEFAULT_AGENT: &str = bulwark_core::validate::LOCAL_AGENT;

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
    pub(super) fn given(&self) -> bool {
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
    /// Copy each new archive into a further store, kept there by this retention policy
    /// (`offsite:monthly`); repeat for more stores. Edit: replaces the job's copies.
    #[arg(long = "copy", value_name = "STORE:POLICY", add = super::complete::stores())]
    pub copies: Vec<String>,
    /// No copies any more (edit).
    #[arg(long, conflicts_with = "copies")]
    pub no_copies: bool,
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
