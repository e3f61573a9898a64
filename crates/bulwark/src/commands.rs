//! The command line: every subcommand and flag of `bulwark`, as clap reads them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{cli, host};

/// Backup and restore for data services.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Where the daemon is and how to print; these flags go anywhere on the line.
    #[command(flatten)]
    pub(crate) conn: cli::Conn,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the core daemon: the catalog, the HTTP API, the scheduler and the task workers.
    ///
    /// Example: bulwark server --config /etc/bulwark/bulwark.toml
    Server {
        /// A TOML configuration file; see the README for its keys. BULWARK_* environment
        /// variables override it.
        #[arg(short, long, env = "BULWARK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run a built-in plugin through the Plugin Calling Protocol, exactly as an external plugin
    /// is called: `ACTION [--endpoint JSON] [--key KEY]`, data on stdin/stdout, exit codes of
    /// the protocol. The endpoint may come from BULWARK_PLUGIN_ENDPOINT instead of the command
    /// line, which keeps secrets out of the process list.
    ///
    /// Example: echo hello | bulwark plugin fs store --endpoint '{"base_dir":"/tmp/store"}'
    Plugin {
        /// The built-in plugin: fs, repository, postgres, mysql, redis, sqlite or rabbitmq.
        name: String,
        /// The action and its flags.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print a store's secret, for disaster recovery: a repository store's password (what a
    /// stock restic needs), or the age key a plugin store's streams are sealed with. It reads
    /// the catalog and the master key in the data directory directly (the API never shows
    /// secrets), so it runs on the daemon's host as the daemon's user. The secret goes to
    /// stdout; how to use it goes to stderr.
    ///
    /// Example: RESTIC_PASSWORD=$(bulwark store-secret nightly) restic -r /srv/repo snapshots
    StoreSecret {
        /// The store's UUID or name.
        store: String,
        /// The daemon's configuration file (for its data directory and passphrase).
        #[arg(short, long, env = "BULWARK_CONFIG")]
        config: Option<PathBuf>,
        /// The data directory, overriding the configuration's.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Manage the users who may log in, on the daemon's host (it works on the data directory
    /// directly, so it needs no login; the first admin is made this way).
    ///
    /// Example: bulwark user list --config /etc/bulwark/bulwark.toml
    User {
        #[command(subcommand)]
        cmd: host::UserCmd,
        #[command(flatten)]
        host: host::HostArgs,
    },
    /// Manage the master key that seals every secret in the catalog, on the daemon's host.
    ///
    /// Example: bulwark secrets rotate --config /etc/bulwark/bulwark.toml
    Secrets {
        #[command(subcommand)]
        cmd: host::SecretsCmd,
        #[command(flatten)]
        host: host::HostArgs,
    },
    /// Log in to a daemon: the password is asked on the terminal (or read with
    /// --password-stdin), and an API token for this CLI is saved, mode 0600, in
    /// ~/.config/bulwark/credentials.json.
    ///
    /// Example: bulwark login --username alice --api https://backup1:8450
    Login {
        /// The user name (asked on a terminal when missing).
        #[arg(short, long)]
        username: Option<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Log out: revoke the saved token and forget it.
    ///
    /// Example: bulwark logout
    Logout {},
    /// Make, list and revoke API tokens.
    ///
    /// Example: bulwark token list
    Token {
        #[command(subcommand)]
        cmd: cli::auth::TokenCmd,
    },
    /// Notification channels: a signed webhook or email, told when backups fail, jobs are
    /// late or recover, restores end, or store checks fail.
    ///
    /// Example: bulwark notify test ops
    Notify {
        #[command(subcommand)]
        cmd: cli::notify::NotifyCmd,
    },
    /// Run the agent on a data system's host: it serves an authorized core over TLS with both
    /// keys pinned, listening (the core dials it) or dialing the core (behind NAT). With
    /// --fingerprint it prints its key's fingerprint; with --authorize it authorizes a core.
    ///
    /// Example: bulwark agent --config /etc/bulwark/agent.toml --token bwa1_...
    Agent(cli::agents::AgentArgs),
    /// Enrollment tokens for dial-out agents.
    ///
    /// Example: bulwark agent-token create --address db1.internal:5444
    AgentToken {
        #[command(subcommand)]
        cmd: cli::agents::TokenCmd,
    },
    /// Approve an agent recorded at first contact, giving the fingerprint its host prints.
    ///
    /// Example: bulwark approve agent db1 --fingerprint SHA256:t1Vh0s...
    Approve {
        /// The word `agent`.
        #[arg(value_name = "agent", value_parser = ["agent"])]
        word: String,
        /// The agent's name, UUID or unique UUID prefix.
        reference: String,
        /// Its key's fingerprint, as `bulwark agent --fingerprint` prints it on its host.
        #[arg(long, value_name = "SHA256:...")]
        fingerprint: String,
    },
    /// Revoke an agent: its session closes at once and its key is refused from now on.
    ///
    /// Example: bulwark revoke agent db1
    Revoke {
        /// The word `agent`.
        #[arg(value_name = "agent", value_parser = ["agent"])]
        word: String,
        /// The agent's name, UUID or unique UUID prefix.
        reference: String,
    },
    /// Rotate an agent's key (the agent makes a new one, the core pins it, and the agent uses
    /// it from its next connection), or the core's own key (every approved agent authorizes
    /// the new key first, then forgets the old one).
    ///
    /// `bulwark rotate-key agent db1` rotates agent db1's key.
    ///
    /// Example: bulwark rotate-key core
    RotateKey {
        /// `agent` or `core`.
        #[arg(value_name = "agent|core", value_parser = ["agent", "core"])]
        word: String,
        /// The agent's name, UUID or unique UUID prefix (not for `core`).
        #[arg(required_if_eq("word", "agent"))]
        reference: Option<String>,
        /// `core` only: rotate even when approved agents cannot be reached (they then refuse
        /// the core until the new key is authorized on their hosts by hand).
        #[arg(long)]
        force: bool,
    },
    /// Make the daemon's schedules, retention policies, stores, targets and jobs what a TOML
    /// file (or YAML: `.yaml`, `.yml`) says, by name (configuration as code); `--dry-run`
    /// prints the changes only.
    /// Secrets are `${env:NAME}` or `${file:PATH}` in the file, never inline.
    ///
    /// Example: bulwark apply setup.toml --dry-run
    Apply {
        /// The TOML or YAML file (what `bulwark export` writes).
        file: String,
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Send secrets again even where nothing else changed (the daemon never shows them,
        /// so a changed secret cannot be seen).
        #[arg(long)]
        update_secrets: bool,
    },
    /// Write the current setup as a TOML (or YAML) file `bulwark apply` takes, secrets as
    /// `${env:...}`.
    ///
    /// Example: bulwark export --yaml
    Export {
        /// YAML instead of TOML.
        #[arg(long)]
        yaml: bool,
    },
    /// Retention: preview what a policy keeps of a job's archives, or run the sweep now.
    ///
    /// Example: bulwark retention preview keep-dailies --job orders-nightly
    Retention {
        #[command(subcommand)]
        cmd: cli::retention::RetentionCmd,
    },
    /// Check a target's or store's endpoint with its plugin's validate, without touching data
    /// (exit 1 when it does not work).
    ///
    /// Example: bulwark validate target orders-db
    Validate {
        /// target or store.
        what: cli::validate::Validatable,
        /// Its name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::any())]
        reference: String,
    },
    /// Print a task's log; with --follow, as it grows, until the task ends.
    ///
    /// Example: bulwark log task 7c1e --follow
    Log {
        /// The word `task`.
        #[arg(value_parser = ["task"])]
        word: String,
        /// The task's UUID or a unique prefix of it.
        reference: String,
        /// Keep printing as the log grows, until the task ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Say whether the daemon is up and healthy (through its API, on this host or another), and
    /// whether the backups are: exit 1 when a job is late, failing or never backed up.
    ///
    /// Example: bulwark status --api http://backup1:8450
    Status {},
    /// List schedules, retention policies, targets, stores, jobs, archives, tasks or plugins,
    /// with the API's filters; a table, or the API's JSON with --json.
    ///
    /// Example: bulwark list jobs --paused --target orders --json
    List {
        #[command(subcommand)]
        what: cli::view::ListWhat,
    },
    /// Show one resource, named by UUID, unique UUID prefix or name.
    ///
    /// Example: bulwark show job nightly
    Show {
        /// What kind of resource.
        kind: cli::Kind,
        /// Its name, UUID or unique UUID prefix (`show retention policy NAME` works too).
        #[arg(num_args = 1..=2, required = true, value_name = "REF", add = cli::complete::any())]
        reference: Vec<String>,
    },
    /// Create a schedule, retention policy, target, store or job. Fields come from flags; on
    /// a terminal, bulwark asks for a required one that is missing.
    ///
    /// Example: bulwark create schedule --name nightly --when "daily at 4am"
    Create {
        #[command(subcommand)]
        what: cli::change::CreateWhat,
    },
    /// Change a schedule, retention policy, target, store, job or an archive's notes; only the
    /// fields given change (on a terminal with none given, bulwark asks field by field).
    ///
    /// Example: bulwark edit job orders-nightly --schedule hourly
    #[command(visible_alias = "update")]
    Edit {
        #[command(subcommand)]
        what: cli::change::EditWhat,
    },
    /// Delete a schedule, retention policy, target, store, job or archive (an archive's data
    /// is purged from its store). Asks first on a terminal, unless --yes.
    ///
    /// Example: bulwark delete schedule old-nightly --yes
    Delete {
        /// What kind of resource.
        kind: cli::Kind,
        /// Its name, UUID or unique UUID prefix.
        #[arg(num_args = 1..=2, required = true, value_name = "REF", add = cli::complete::any())]
        reference: Vec<String>,
        /// Do not ask.
        #[arg(short, long)]
        yes: bool,
    },
    /// Pause a job: it no longer runs on its schedule (it still runs when asked).
    ///
    /// Example: bulwark pause job orders-nightly
    Pause {
        /// The word `job`, as SHIELD's CLI writes the command.
        #[arg(value_name = "job")]
        word: cli::task::JobWord,
        /// The job's name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::jobs())]
        reference: String,
    },
    /// Unpause a job: it runs on its schedule again.
    ///
    /// Example: bulwark unpause job orders-nightly
    Unpause {
        /// The word `job`, as SHIELD's CLI writes the command.
        #[arg(value_name = "job")]
        word: cli::task::JobWord,
        /// The job's name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::jobs())]
        reference: String,
    },
    /// Say whether a job is paused.
    ///
    /// Example: bulwark paused job orders-nightly --json
    Paused {
        /// The word `job`, as SHIELD's CLI writes the command.
        #[arg(value_name = "job")]
        word: cli::task::JobWord,
        /// The job's name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::jobs())]
        reference: String,
    },
    /// Run a job's backup now; with --wait, follow it to its end.
    ///
    /// Example: bulwark run job orders-nightly --wait
    Run {
        /// The word `job`, as SHIELD's CLI writes the command.
        #[arg(value_name = "job")]
        word: cli::task::JobWord,
        /// The job's name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::jobs())]
        reference: String,
        #[command(flatten)]
        start: cli::task::Start,
    },
    /// Run a restore drill of a job now: its newest good archive restored into its drill
    /// target (or a temporary directory), verified, timed and wiped; with --wait, follow it.
    ///
    /// Example: bulwark drill job orders-nightly --wait
    Drill {
        /// The word `job`.
        #[arg(value_name = "job")]
        word: cli::task::JobWord,
        /// The job's name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::jobs())]
        reference: String,
        #[command(flatten)]
        start: cli::task::Start,
    },
    /// Restore an archive into its own target, another with --to, or a directory with
    /// --to-dir; `restore latest --job J` picks the job's newest good archive. It shows what
    /// will happen and asks first (--yes to skip); with --wait, it follows the restore to its end.
    ///
    /// Example: bulwark restore archive 3f2a --to orders-staging --wait
    Restore {
        /// `archive` (then its reference), as SHIELD's CLI writes the command; or `latest`, the
        /// newest good archive of --job or --target.
        #[arg(value_name = "archive|latest")]
        word: cli::task::RestoreWord,
        /// The archive's UUID or a unique prefix of it.
        #[arg(required_if_eq("word", "archive"))]
        reference: Option<String>,
        /// With `latest`: the job whose newest good archive to restore.
        #[arg(long, conflicts_with = "reference")]
        job: Option<String>,
        /// With `latest`: the target whose newest good archive to restore.
        #[arg(long, conflicts_with_all = ["reference", "job"])]
        target: Option<String>,
        /// Restore into this directory on the daemon's host instead (admins; new or empty).
        #[arg(long, value_name = "DIR", conflicts_with = "to")]
        to_dir: Option<String>,
        /// Only this path of a tree archive (a file or a directory); repeat for more.
        #[arg(long = "path", value_name = "PATH")]
        paths: Vec<String>,
        /// The target to restore into (name, UUID or prefix); default: the archive's own.
        #[arg(add = cli::complete::targets())]
        #[arg(long, value_name = "TARGET")]
        to: Option<String>,
        /// Restore without asking (on a terminal it asks after showing what will happen; off a
        /// terminal a restore over the archive's own target needs this).
        #[arg(long, short)]
        yes: bool,
        /// Only show what the restore would do: destination, the archive's age and size.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        start: cli::task::Start,
    },
    /// List a directory of an archive in a repository store, without restoring it.
    ///
    /// Example: bulwark ls archive 3f2a etc/nginx
    Ls {
        /// The word `archive`.
        #[arg(value_name = "archive")]
        word: cli::task::ArchiveWord,
        /// The archive's UUID or a unique prefix of it.
        reference: String,
        /// The directory, from the archive's root (default: the root).
        path: Option<String>,
    },
    /// Write one file of an archive in a repository store to stdout, streamed.
    ///
    /// Example: bulwark cat archive 3f2a etc/nginx/nginx.conf
    Cat {
        /// The word `archive`.
        #[arg(value_name = "archive")]
        word: cli::task::ArchiveWord,
        /// The archive's UUID or a unique prefix of it.
        reference: String,
        /// The file, from the archive's root.
        path: String,
    },
    /// Cancel a pending or running task (a running one has its plugins killed).
    ///
    /// Example: bulwark cancel task 7c1e
    Cancel {
        /// The word `task`, as SHIELD's CLI writes the command.
        #[arg(value_name = "task")]
        word: cli::task::TaskWord,
        /// The task's UUID or a unique prefix of it.
        reference: String,
    },
    /// Check a repository store: its structure, and with --read-data part or all of its data
    /// read back and verified. The task's status is the verdict; with --wait, the exit code too.
    ///
    /// Example: bulwark check store vault --read-data 5% --wait
    Check {
        /// The word `store`.
        #[arg(value_name = "store")]
        word: cli::task::StoreWord,
        /// The store's name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::stores())]
        reference: String,
        /// Also read back data: `all`, a percentage (`10%`) or a size (`500MiB`).
        #[arg(long, value_name = "SUBSET")]
        read_data: Option<String>,
        /// Follow the task to its end; exit 0 only if the check passed.
        #[arg(long)]
        wait: bool,
    },
    /// Prune a repository store: remove data no archive uses any more.
    ///
    /// Example: bulwark prune store vault --wait
    Prune {
        /// The word `store`.
        #[arg(value_name = "store")]
        word: cli::task::StoreWord,
        /// The store's name, UUID or unique UUID prefix.
        #[arg(add = cli::complete::stores())]
        reference: String,
        /// Follow the task to its end; exit 0 only if it is done.
        #[arg(long)]
        wait: bool,
    },
    /// Print a shell completion script.
    ///
    /// Example: bulwark completions bash > /etc/bash_completion.d/bulwark
    Completions {
        /// The shell: bash, zsh or fish.
        shell: Shell,
    },
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
}
