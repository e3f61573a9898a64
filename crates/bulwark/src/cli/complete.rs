//! Shell completion that knows the daemon's names: `bulwark run job <Tab>` offers the jobs,
//! `--target <Tab>` the targets. The shell script (`bulwark completions bash|zsh|fish`) calls
//! `bulwark` back with `COMPLETE=SHELL` set, which clap_complete answers; the names come from the
//! daemon the CLI would talk to (`BULWARK_API`, the config file; `BULWARK_TOKEN` or the saved
//! login), with a short timeout. Nothing reachable: no names, the rest still completes.

use std::ffi::OsStr;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};

use super::{Client, Conn};

fn names(lists: &[&str], current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(prefix) = current.to_str() else {
        return Vec::new();
    };
    let conn = Conn {
        api: None,
        json: false,
        ca_cert: None,
    };
    let Ok(c) = Client::new(&conn) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for list in lists {
        let Ok(items) = c.get(list) else { continue };
        for item in items.as_array().into_iter().flatten() {
            if let Some(name) = item["name"].as_str()
                && name.starts_with(prefix)
            {
                let help = item["summary"].as_str().filter(|s| !s.is_empty());
                out.push(CompletionCandidate::new(name).help(help.map(|h| h.to_string().into())));
            }
        }
    }
    out
}

/// Jobs by name.
pub fn jobs() -> ArgValueCompleter {
    ArgValueCompleter::new(|c: &OsStr| names(&["/v1/jobs"], c))
}

/// Targets by name.
pub fn targets() -> ArgValueCompleter {
    ArgValueCompleter::new(|c: &OsStr| names(&["/v1/targets"], c))
}

/// Stores by name.
pub fn stores() -> ArgValueCompleter {
    ArgValueCompleter::new(|c: &OsStr| names(&["/v1/stores"], c))
}

/// Schedules by name.
pub fn schedules() -> ArgValueCompleter {
    ArgValueCompleter::new(|c: &OsStr| names(&["/v1/schedules"], c))
}

/// Retention policies by name.
pub fn policies() -> ArgValueCompleter {
    ArgValueCompleter::new(|c: &OsStr| names(&["/v1/retention"], c))
}

/// Anything with a name (after a kind word, which this does not see).
pub fn any() -> ArgValueCompleter {
    ArgValueCompleter::new(|c: &OsStr| {
        names(
            &[
                "/v1/jobs",
                "/v1/targets",
                "/v1/stores",
                "/v1/schedules",
                "/v1/retention",
            ],
            c,
        )
    })
}

/// The registration script of `shell` for `bulwark completions SHELL`.
pub fn registration(shell: &str) -> Result<Vec<u8>, String> {
    use clap_complete::env::EnvCompleter;
    let mut out = Vec::new();
    let done = match shell {
        "bash" => clap_complete::env::Bash
            .write_registration("COMPLETE", "bulwark", "bulwark", "bulwark", &mut out),
        "zsh" => clap_complete::env::Zsh
            .write_registration("COMPLETE", "bulwark", "bulwark", "bulwark", &mut out),
        "fish" => clap_complete::env::Fish
            .write_registration("COMPLETE", "bulwark", "bulwark", "bulwark", &mut out),
        other => return Err(format!("no completions for the shell {other}")),
    };
    done.map_err(|e| format!("writing the completions failed: {e}"))?;
    Ok(out)
}
