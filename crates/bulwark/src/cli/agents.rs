//! Agents from the CLI: `bulwark agent` (the agent itself, on a data system's host),
//! `bulwark approve agent`, `bulwark revoke agent` and `bulwark agent-token create`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest13::Method;
use serde_json::json;

use super::{CliResult, Client, Conn, Kind, encode, finish, label, print_json, text};

/// `bulwark agent`'s flags.
#[derive(Debug, Args, Clone)]
pub struct AgentArgs {
    /// The agent's TOML configuration (see the README's agent section).
    #[arg(short, long, env = "BULWARK_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// An enrollment token from the core (`bulwark agent-token create`), for the first dial.
    #[arg(long, env = "BULWARK_AGENT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the agent's key fingerprint (making the key if there is none) and exit.
    #[arg(long)]
    pub fingerprint: bool,
    /// Authorize a core's key (an OpenSSH line, as `/v1/meta/pubkey` serves it; `-` reads it
    /// from stdin) and exit; --expect must give its fingerprint.
    #[arg(long, value_name = "KEY|-", requires = "expect")]
    pub authorize: Option<String>,
    /// The fingerprint the authorized key must have (`SHA256:...`, as the core prints it).
    #[arg(long, value_name = "SHA256:...")]
    pub expect: Option<String>,
}

/// `bulwark agent`: runs the agent, or prints its fingerprint, or authorizes a core.
pub fn agent(args: &AgentArgs) -> ExitCode {
    use bulwark_server::agent_host;
    finish((|| {
        let mut config =
            agent_host::AgentConfig::load(args.config.as_deref()).map_err(|e| e.to_string())?;
        config.token = args.token.clone();
        if args.fingerprint {
            let me = agent_host::identity(&config).map_err(|e| e.to_string())?;
            println!("{}", me.public());
            return Ok(());
        }
        if let Some(given) = &args.authorize {
            let line = if given == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
            } else {
                given.clone()
            };
            let key = bulwark_link::PublicKey::from_openssh(&line)
                .map_err(|e| format!("--authorize: {e}"))?;
            let expect = args.expect.as_deref().unwrap_or_default().trim();
            if key.fingerprint() != expect {
                return Err(format!(
                    "the key's fingerprint is {key}, not {expect}: it was not authorized (is something between you and the core?)"
                ));
            }
            let added = agent_host::authorize(&config, &key).map_err(|e| e.to_string())?;
            println!(
                "core key {key} {}",
                if added {
                    "authorized"
                } else {
                    "was authorized already"
                }
            );
            return Ok(());
        }
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("bulwark"));
        let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        rt.block_on(agent_host::run(config, &exe))
            .map_err(|e| e.to_string())
    })())
}

/// `bulwark agent-token ...`
#[derive(Debug, Subcommand, Clone)]
pub enum TokenCmd {
    /// Make a single-use enrollment token for a dial-out agent, shown once.
    ///
    /// Example: bulwark agent-token create --address db1.internal:5444 --expires 1h
    Create {
        /// The address the agent is known by: what targets name in their `agent` field.
        #[arg(long, value_name = "HOST:PORT")]
        address: String,
        /// How long it is valid (`1h`, `2d`; default one hour).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
}

/// `bulwark agent-token CMD`.
pub fn token(cmd: &TokenCmd, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let TokenCmd::Create { address, expires } = cmd;
        let mut body = json!({ "address": address });
        if let Some(e) = expires {
            body["expires_in"] = super::change::seconds(e)?.into();
        }
        let made = c.send(Method::POST, "/v1/agent-tokens", Some(&body))?;
        if conn.json {
            print_json(&made);
            return Ok(());
        }
        println!("{}", text(&made["token"]));
        eprintln!(
            "Single use, until {} UTC, for the agent at {}. On the agent's host:\n  bulwark agent --config agent.toml --token TOKEN\nThe token pins this core's key {}.",
            text(&made["expires_at"]),
            text(&made["address"]),
            text(&made["core_fingerprint"])
        );
        Ok(())
    })())
}

/// `bulwark approve agent REF --fingerprint FP` and `bulwark revoke agent REF`.
pub fn decide(reference: &str, approve: Option<&str>, conn: &Conn) -> ExitCode {
    finish((|| -> CliResult<()> {
        let c = Client::new(conn)?;
        let a = c.resolve(Kind::Agent, reference)?;
        let id = encode(&text(&a["uuid"]));
        let answer = match approve {
            Some(fp) => c.send(
                Method::POST,
                &format!("/v1/agent/{id}/approve"),
                Some(&json!({ "fingerprint": fp })),
            )?,
            None => c.send(
                Method::POST,
                &format!("/v1/agent/{id}/revoke"),
                Some(&json!({})),
            )?,
        };
        if conn.json {
            print_json(&answer);
        } else {
            println!("agent {} {}", label(&a), text(&answer["ok"]));
        }
        Ok(())
    })())
}

/// `bulwark rotate-key agent REF`.
pub fn rotate(reference: &str, conn: &Conn) -> ExitCode {
    finish((|| -> CliResult<()> {
        let c = Client::new(conn)?;
        let a = c.resolve(Kind::Agent, reference)?;
        let id = encode(&text(&a["uuid"]));
        let answer = c.send(
            Method::POST,
            &format!("/v1/agent/{id}/rotate-key"),
            Some(&json!({})),
        )?;
        if conn.json {
            print_json(&answer);
        } else {
            println!(
                "agent {}: key {} (was {})",
                label(&a),
                text(&answer["fingerprint"]),
                text(&a["fingerprint"])
            );
        }
        Ok(())
    })())
}

/// `bulwark rotate-key core [--force]`.
pub fn rotate_core(force: bool, conn: &Conn) -> ExitCode {
    finish((|| -> CliResult<()> {
        let c = Client::new(conn)?;
        let answer = c.send(
            Method::POST,
            "/v1/agents/rotate-core-key",
            Some(&json!({ "force": force })),
        )?;
        if conn.json {
            print_json(&answer);
            return Ok(());
        }
        println!(
            "core key {} (was {})",
            text(&answer["fingerprint"]),
            text(&answer["previous_fingerprint"])
        );
        let names = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default()
        };
        let updated = names(&answer["updated"]);
        if !updated.is_empty() {
            println!("agents that took it: {}", updated.join(", "));
        }
        if let Some(missed) = answer["unreached"].as_array().filter(|a| !a.is_empty()) {
            eprintln!(
                "These agents could not be reached and refuse the core until, on each one's host:\n  bulwark agent --config agent.toml --authorize '{}' --expect {}",
                text(&answer["public_key"]),
                text(&answer["fingerprint"])
            );
            for m in missed {
                eprintln!("  {}: {}", text(&m["agent"]), text(&m["error"]));
            }
        }
        eprintln!("Enrollment tokens made before this no longer work: make new ones.");
        Ok(())
    })())
}
