//! `bulwark`: the one binary of Bulwark. Each subcommand is one part of the system: `server`, the
//! core daemon; `plugin`, which runs a built-in plugin through seed 003's Plugin Calling
//! Protocol; `store-secret`, for disaster recovery; and the CLI (`status`, `list`, `show`,
//! `create`, `edit`, `delete`, `pause`, `unpause`, `paused`, `run`, `restore`, `cancel`, `check`,
//! `prune`, `completions`), which talks to a daemon only through its HTTP API.

mod cli;
mod host;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use bulwark_server::config::{Config, LogFormat};

/// Backup and restore for data services.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Where the daemon is and how to print; these flags go anywhere on the line.
    #[command(flatten)]
    conn: cli::Conn,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    /// Rotate an agent's key: the agent makes a new one, the core pins it, and the agent uses it
    /// from its next connection.
    ///
    /// Example: bulwark rotate-key agent db1
    RotateKey {
        /// The word `agent`.
        #[arg(value_name = "agent", value_parser = ["agent"])]
        word: String,
        /// The agent's name, UUID or unique UUID prefix.
        reference: String,
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
enum Shell {
    Bash,
    Zsh,
    Fish,
}

fn main() -> ExitCode {
    // `COMPLETE=SHELL bulwark ...`: the shell asks for completions (see `completions`).
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = Cli::parse();
    let conn = cli.conn;
    match cli.command {
        Command::Server { config } => run_server(config),
        Command::Plugin { name, args } => run_plugin(&name, &args),
        Command::Status {} => cli::view::status(&conn),
        Command::Log {
            reference, follow, ..
        } => cli::task::log(&reference, follow, &conn),
        Command::Validate { what, reference } => cli::validate::validate(what, &reference, &conn),
        Command::User { cmd, host } => host::user(&cmd, &host),
        Command::Secrets { cmd, host } => host::secrets(&cmd, &host),
        Command::Login {
            username,
            password_stdin,
        } => cli::auth::login(&conn, username.as_deref(), password_stdin),
        Command::Logout {} => cli::auth::logout(&conn),
        Command::Token { cmd } => cli::auth::token(&cmd, &conn),
        Command::Notify { cmd } => cli::notify::notify(&cmd, &conn),
        Command::Retention { cmd } => cli::retention::retention(&cmd, &conn),
        Command::Agent(args) => cli::agents::agent(&args),
        Command::AgentToken { cmd } => cli::agents::token(&cmd, &conn),
        Command::Approve {
            reference,
            fingerprint,
            ..
        } => cli::agents::decide(&reference, Some(&fingerprint), &conn),
        Command::Revoke { reference, .. } => cli::agents::decide(&reference, None, &conn),
        Command::RotateKey { reference, .. } => cli::agents::rotate(&reference, &conn),
        Command::List { what } => cli::view::list(&what, &conn),
        Command::Show { kind, reference } => cli::view::show(kind, &reference, &conn),
        Command::Create { what } => cli::change::create(&what, &conn),
        Command::Edit { what } => cli::change::edit(&what, &conn),
        Command::Delete {
            kind,
            reference,
            yes,
        } => cli::change::delete(kind, &reference, yes, &conn),
        Command::Pause { reference, .. } => cli::task::pause(&reference, true, &conn),
        Command::Unpause { reference, .. } => cli::task::pause(&reference, false, &conn),
        Command::Paused { reference, .. } => cli::task::paused(&reference, &conn),
        Command::Run {
            reference, start, ..
        } => cli::task::run(&reference, &start, &conn),
        Command::Drill {
            reference, start, ..
        } => cli::task::drill(&reference, &start, &conn),
        Command::Restore {
            reference,
            job,
            target,
            to,
            to_dir,
            paths,
            yes,
            dry_run,
            start,
            ..
        } => cli::task::restore(
            cli::task::Pick {
                reference: reference.as_deref(),
                job: job.as_deref(),
                target: target.as_deref(),
            },
            cli::task::Dest {
                to: to.as_deref(),
                to_dir: to_dir.as_deref(),
                paths: &paths,
            },
            &start,
            cli::task::Confirm { yes, dry_run },
            &conn,
        ),
        Command::Cancel { reference, .. } => cli::task::cancel(&reference, &conn),
        Command::Ls {
            reference, path, ..
        } => cli::browse::ls(&reference, path.as_deref(), &conn),
        Command::Cat {
            reference, path, ..
        } => cli::browse::cat(&reference, &path, &conn),
        Command::Check {
            reference,
            read_data,
            wait,
            ..
        } => cli::task::maintain(&reference, Some(read_data.as_deref()), wait, &conn),
        Command::Prune {
            reference, wait, ..
        } => cli::task::maintain(&reference, None, wait, &conn),
        Command::Completions { shell } => {
            let name = match shell {
                Shell::Bash => "bash",
                Shell::Zsh => "zsh",
                Shell::Fish => "fish",
            };
            let script = match cli::complete::registration(name) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bulwark: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // `bulwark completions zsh | head` closes the pipe early: that is not an error.
            use std::io::Write;
            match std::io::stdout().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("bulwark: writing the completions failed: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Command::StoreSecret {
            store,
            config,
            data_dir,
        } => host::store_secret(&store, config, data_dir),
    }
}

fn run_plugin(name: &str, args: &[String]) -> ExitCode {
    if name == bulwark_repo::NAME {
        bulwark_repo::cli::one_line_panics();
        // Stderr stays unlocked: rustic_core's worker threads report progress on it.
        let code = bulwark_repo::cli::run(
            args,
            bulwark_repo::cli::Env::from_process(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr(),
        );
        return ExitCode::from(code);
    }
    let Some(plugin) = bulwark_plugin::builtin::get(name).or_else(|| bulwark_targets::get(name))
    else {
        eprintln!(
            "bulwark plugin: there is no built-in plugin named '{name}' (built-in: {})",
            bulwark_server::plugins::builtin_names().join(", ")
        );
        return ExitCode::from(bulwark_plugin::Exit::Usage.code());
    };
    let code = bulwark_plugin::cli::run(
        &plugin,
        args,
        bulwark_plugin::cli::Env::from_process(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}

fn run_server(config_file: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(config_file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bulwark server: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bulwark server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let server = bulwark_server::Server::start(config).await?;
        let url = server.url();
        // The first line on stdout says where to reach the daemon; tools and tests read it.
        let agents = server
            .agent_addr()
            .map(|a| format!("; agents dial in on {a}"))
            .unwrap_or_default();
        println!(
            "Bulwark API listening on {url}/v1 (OpenAPI: {url}/v1/openapi.json); web UI on {url}/{agents}"
        );
        if server.needs_first_user().await {
            eprintln!(
                "No user exists yet: every call that needs a login is refused. Create the first admin on this host with: bulwark user add NAME --role admin --password-stdin{}",
                config_file
                    .as_ref()
                    .map(|f| format!(" --config {}", f.display()))
                    .unwrap_or_default()
            );
        }
        server.serve(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Daemon failed.");
            eprintln!("bulwark server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("BULWARK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: a journal or a log file gets plain text.
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("Shutdown requested; finishing requests in flight.");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every command and subcommand, as the words that reach it.
    fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subs.is_empty() {
            let help = format!(
                "{} {}",
                cmd.get_about().map(|s| s.to_string()).unwrap_or_default(),
                cmd.get_long_about()
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            );
            out.push((path, help));
            return;
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            leaves(s, p, out);
        }
    }

    #[test]
    fn help_speaks_to_users_not_to_the_team() {
        let mut all = Vec::new();
        leaves(&Cli::command(), vec![], &mut all);
        let mut cmd = Cli::command();
        let mut long = Vec::new();
        cmd.write_long_help(&mut long).unwrap();
        let mut texts: Vec<String> = all.into_iter().map(|(_, h)| h).collect();
        texts.push(String::from_utf8(long).unwrap());
        // Every argument's help too.
        fn args(cmd: &clap::Command, out: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                out.push(a.get_help().map(|h| h.to_string()).unwrap_or_default());
                out.push(a.get_long_help().map(|h| h.to_string()).unwrap_or_default());
            }
            for s in cmd.get_subcommands() {
                args(s, out);
            }
        }
        args(&Cli::command(), &mut texts);
        for t in texts {
            let lower = t.to_lowercase();
            assert!(!lower.contains("seed") && !lower.contains("shared/"), "{t}");
        }
    }

    #[test]
    fn every_command_has_an_example_that_parses() {
        let mut all = Vec::new();
        leaves(&Cli::command(), vec![], &mut all);
        assert!(all.len() > 25, "{}", all.len());
        for (path, help) in all {
            let at = help
                .find("Example: ")
                .unwrap_or_else(|| panic!("`bulwark {}` has no example: {help}", path.join(" ")));
            // The example is a real command line of this very command (perhaps in a pipe).
            let line = help[at..].lines().next().unwrap();
            let line = &line[line.find("bulwark ").unwrap()..];
            let words = shell_words(line);
            assert!(
                words[1..].starts_with(&path),
                "the example of `{}` runs something else: {line}",
                path.join(" ")
            );
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("the example `{line}` does not parse: {e}");
            }
        }
    }

    /// Splits a command line the way a shell would for these examples (quotes, no expansion),
    /// up to its end.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut quote = None;
        let mut any = false;
        for c in line.chars() {
            match (quote, c) {
                (None, '"' | '\'') => {
                    quote = Some(c);
                    any = true;
                }
                (Some(q), c) if c == q => quote = None,
                // The end of the command: a pipe, a redirection, a closing `$( )`.
                (None, '|' | '>' | ')') => break,
                (None, ' ') => {
                    if any {
                        words.push(std::mem::take(&mut cur));
                        any = false;
                    }
                }
                (_, c) => {
                    cur.push(c);
                    any = true;
                }
            }
        }
        if any {
            words.push(cur);
        }
        words
    }

    #[test]
    fn completions_for_three_shells() {
        // The scripts hand every completion back to `COMPLETE=SHELL bulwark`.
        for (shell, marker) in [
            ("bash", "_clap_complete_bulwark"),
            ("zsh", "#compdef bulwark"),
            ("fish", "COMPLETE=fish bulwark"),
        ] {
            let text = String::from_utf8(cli::complete::registration(shell).unwrap()).unwrap();
            assert!(text.contains(marker), "{shell}: {text}");
        }
        assert!(cli::complete::registration("tcsh").is_err());
        // Which the engine answers from the command tree.
        let complete = |words: &[&str]| -> Vec<String> {
            let args: Vec<std::ffi::OsString> = words.iter().map(Into::into).collect();
            let mut cmd = Cli::command();
            clap_complete::engine::complete(&mut cmd, args, words.len() - 1, None)
                .unwrap()
                .into_iter()
                .map(|c| c.get_value().to_string_lossy().into_owned())
                .collect()
        };
        for (words, want) in [
            (vec!["bulwark", "res"], "restore"),
            (vec!["bulwark", "unp"], "unpause"),
            (
                vec!["bulwark", "create", "job", "--retention-p"],
                "--retention-policy",
            ),
            (vec!["bulwark", "run", "job", "x", "--wa"], "--wait"),
        ] {
            let got = complete(&words);
            assert!(got.iter().any(|g| g == want), "{words:?}: {got:?}");
        }
    }
}
