//! `bulwark`: the one binary of Bulwark. Each subcommand is one part of the system: `server`, the
//! core daemon; `plugin`, which runs a built-in plugin through seed 003's Plugin Calling
//! Protocol; `store-secret`, for disaster recovery; and the CLI (`status`, `list`, `show`,
//! `create`, `edit`, `delete`, `pause`, `unpause`, `paused`, `run`, `restore`, `cancel`, `check`,
//! `prune`, `completions`), which talks to a daemon only through its HTTP API.

mod cli;
mod commands;
mod host;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;

use bulwark_server::config::{Config, LogFormat};
use commands::{Cli, Command, Shell};

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
        Command::Apply {
            file,
            dry_run,
            update_secrets,
        } => cli::apply::apply(&file, dry_run, update_secrets, &conn),
        Command::Export { yaml } => cli::apply::export(yaml, &conn),
        Command::RotateKey {
            word,
            reference,
            force,
        } => match (word.as_str(), reference) {
            ("core", None) => cli::agents::rotate_core(force, &conn),
            ("agent", Some(r)) if !force => cli::agents::rotate(&r, &conn),
            _ => {
                eprintln!(
                    "usage: bulwark rotate-key agent REF, or bulwark rotate-key core [--force]"
                );
                std::process::ExitCode::from(2)
            }
        },
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
