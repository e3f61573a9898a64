//! `bulwark login`, `logout`, `token create|list|revoke` and `list audit`.
//!
//! `login` asks for the password on the terminal (or reads it from stdin with
//! `--password-stdin`; never from a flag), logs in, makes an API token `cli@HOST` that lasts 30
//! days, ends the login session, and keeps the token in `credentials.json` under the CLI's
//! configuration directory (mode 0600), keyed by the daemon's URL. `BULWARK_TOKEN` overrides it.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::view::grid;
use super::{CliResult, Client, Conn, config_dir, encode, finish, print_json, text};

/// How long a token made by `bulwark login` lasts.
const LOGIN_TOKEN_SECONDS: i64 = 30 * 86_400;

/// `bulwark token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make an API token for scripts and monitoring; it is printed once, on stdout.
    ///
    /// Example: bulwark token create --name nightly-checks --role viewer --expires 90d
    Create {
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// viewer, operator or admin (at most your own; your own by default).
        #[arg(long)]
        role: Option<String>,
        /// How long it lasts: 30d, 12h, 2w..., or `never` (default 90 days).
        #[arg(long)]
        expires: Option<String>,
        /// Limit it to this target (name or UUID); repeat for more.
        #[arg(long = "target")]
        targets: Vec<String>,
        /// `metrics`: it may only read /metrics (for a Prometheus scraper).
        #[arg(long, value_parser = ["metrics"])]
        scope: Option<String>,
    },
    /// List your API tokens (an admin sees everyone's); never their secrets.
    ///
    /// Example: bulwark token list
    List,
    /// Revoke an API token by its id; it is refused at once.
    ///
    /// Example: bulwark token revoke 3f9a0c1d2e4b
    Revoke {
        /// The token's id (the part after `bwk_`, as `token list` shows it).
        id: String,
    },
}

/// Filters of `bulwark list audit`.
#[derive(Debug, Args, Clone)]
pub struct AuditFilter {
    /// Only what this user did (themselves or through their tokens).
    #[arg(long)]
    user: Option<String>,
    /// Only what concerned this object (a UUID or token id).
    #[arg(long)]
    object: Option<String>,
    /// Only rows on or after this day (YYYYMMDD).
    #[arg(long, value_name = "YYYYMMDD")]
    after: Option<String>,
    /// Only rows before this day (YYYYMMDD).
    #[arg(long, value_name = "YYYYMMDD")]
    before: Option<String>,
    /// At most this many rows.
    #[arg(long)]
    limit: Option<u32>,
}

fn credentials_path() -> CliResult<PathBuf> {
    config_dir()
        .map(|d| d.join("credentials.json"))
        .ok_or_else(|| "no configuration directory: set HOME or XDG_CONFIG_HOME".to_string())
}

fn read_credentials() -> Map<String, Value> {
    credentials_path()
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

/// The token `bulwark login` saved for the daemon at `base`.
pub fn saved_token(base: &str) -> Option<String> {
    read_credentials()
        .get(base)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Writes the credentials file whole, mode 0600 (its directory 0700), through a new file
/// renamed into place.
fn write_credentials(all: &Map<String, Value>) -> CliResult<PathBuf> {
    let path = credentials_path()?;
    let dir = path.parent().ok_or("no directory for the credentials")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension("json.new");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let body = serde_json::to_string_pretty(&Value::Object(all.clone())).unwrap_or_default();
    f.write_all(body.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Reads a password: from stdin's first line with `--password-stdin`, else from the terminal
/// without echo.
pub fn read_password(from_stdin: bool, prompt: &str) -> CliResult<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            return Err("stdin gave an empty password".into());
        }
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "no terminal to ask for the password on; pipe it in with --password-stdin".into(),
        );
    }
    rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the password: {e}"))
}

/// `bulwark login`.
pub fn login(conn: &Conn, username: Option<&str>, password_stdin: bool) -> ExitCode {
    finish((|| {
        let mut c = Client::new(conn)?;
        c.set_token(None);
        let user = match username {
            Some(u) => u.to_string(),
            None if std::io::stdin().is_terminal() && !password_stdin => {
                eprint!("User name: ");
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| format!("cannot read the user name: {e}"))?;
                line.trim().to_string()
            }
            None => return Err("give the user name: bulwark login --username NAME".into()),
        };
        let password = read_password(password_stdin, &format!("Password for {user}: "))?;
        let session = c.send(
            reqwest13::Method::POST,
            "/v1/auth/login",
            Some(&json!({"username": user, "password": password})),
        )?;
        c.set_token(Some(text(&session["token"])));
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let made = c.send(
            reqwest13::Method::POST,
            "/v1/auth/tokens",
            Some(&json!({"name": format!("cli@{host}"), "expires_in": LOGIN_TOKEN_SECONDS})),
        )?;
        // The session was only the way to the token.
        let _ = c.send(reqwest13::Method::POST, "/v1/auth/logout", None);
        let mut all = read_credentials();
        all.insert(c.base().to_string(), made["token"].clone());
        let path = write_credentials(&all)?;
        if conn.json {
            print_json(&json!({"user": session["user"], "role": session["role"],
                "token_id": made["id"], "expires_at": made["expires_at"]}));
        } else {
            println!(
                "Logged in to {} as {} ({}); token {} saved in {} until {}",
                c.base(),
                text(&session["user"]),
                text(&session["role"]),
                text(&made["id"]),
                path.display(),
                text(&made["expires_at"])
            );
        }
        Ok(())
    })())
}

/// `bulwark logout`: revokes the saved token and forgets it.
pub fn logout(conn: &Conn) -> ExitCode {
    finish((|| {
        let mut c = Client::new(conn)?;
        let mut all = read_credentials();
        let Some(token) = all
            .get(c.base())
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(format!("no saved login for {}", c.base()));
        };
        c.set_token(Some(token.clone()));
        let id = token
            .strip_prefix("bwk_")
            .and_then(|t| t.split_once('_'))
            .map(|(id, _)| id.to_string())
            .unwrap_or_default();
        // A token that no longer works needs no revoking; it is forgotten all the same.
        let revoked = c.send(
            reqwest13::Method::DELETE,
            &format!("/v1/auth/token/{}", encode(&id)),
            None,
        );
        all.remove(c.base());
        write_credentials(&all)?;
        match revoked {
            Ok(_) => println!("Logged out of {}; token {id} revoked", c.base()),
            Err(e) => println!(
                "Logged out of {}; the daemon said of token {id}: {e}",
                c.base()
            ),
        }
        Ok(())
    })())
}

/// `bulwark token ...`
pub fn token(cmd: &TokenCmd, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        match cmd {
            TokenCmd::Create {
                name,
                role,
                expires,
                targets,
                scope,
            } => {
                let mut body = json!({"name": name});
                if let Some(s) = scope {
                    body["scope"] = s.as_str().into();
                }
                if let Some(r) = role {
                    body["role"] = r.as_str().into();
                }
                if let Some(e) = expires {
                    body["expires_in"] = match e.as_str() {
                        "never" => 0.into(),
                        d => super::change::seconds(d)
                            .map_err(|err| format!("--expires: {err}, or never"))?
                            .into(),
                    };
                }
                if !targets.is_empty() {
                    body["targets"] = json!(targets);
                }
                let made = c.send(reqwest13::Method::POST, "/v1/auth/tokens", Some(&body))?;
                if conn.json {
                    print_json(&made);
                } else {
                    println!("{}", text(&made["token"]));
                    eprintln!(
                        "Token {} ({}, {}) made; it is shown this once. Expires: {}.",
                        text(&made["id"]),
                        text(&made["name"]),
                        text(&made["role"]),
                        if made["expires_at"].is_null() {
                            "never".to_string()
                        } else {
                            text(&made["expires_at"])
                        }
                    );
                }
            }
            TokenCmd::List => {
                let list = c.get("/v1/auth/tokens")?;
                if conn.json {
                    print_json(&list);
                } else {
                    let rows = list.as_array().cloned().unwrap_or_default();
                    let cells = rows
                        .iter()
                        .map(|t| {
                            [
                                "id",
                                "name",
                                "user",
                                "role",
                                "status",
                                "expires_at",
                                "last_used_at",
                            ]
                            .iter()
                            .map(|k| text(&t[*k]))
                            .collect()
                        })
                        .collect();
                    println!(
                        "{}",
                        grid(
                            &[
                                "ID",
                                "NAME",
                                "USER",
                                "ROLE",
                                "STATUS",
                                "EXPIRES",
                                "LAST USED"
                            ],
                            cells
                        )
                    );
                }
            }
            TokenCmd::Revoke { id } => {
                let done = c.send(
                    reqwest13::Method::DELETE,
                    &format!("/v1/auth/token/{}", encode(id)),
                    None,
                )?;
                if conn.json {
                    print_json(&done);
                } else {
                    println!("token {id} revoked");
                }
            }
        }
        Ok(())
    })())
}

/// `bulwark list audit`.
pub fn list_audit(f: &AuditFilter, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let mut q = Vec::new();
        for (k, v) in [
            ("user", &f.user),
            ("object", &f.object),
            ("after", &f.after),
            ("before", &f.before),
        ] {
            if let Some(v) = v {
                q.push(format!("{k}={}", encode(v)));
            }
        }
        if let Some(l) = f.limit {
            q.push(format!("limit={l}"));
        }
        let path = if q.is_empty() {
            "/v1/audit".to_string()
        } else {
            format!("/v1/audit?{}", q.join("&"))
        };
        let rows = c.get(&path)?;
        if conn.json {
            print_json(&rows);
            return Ok(());
        }
        let cells = rows
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let object = match (text(&r["object_kind"]), text(&r["object"])) {
                    (k, o) if o.is_empty() => k,
                    (k, o) => format!("{k} {}", o.chars().take(12).collect::<String>()),
                };
                vec![
                    text(&r["at"]),
                    text(&r["actor"]),
                    text(&r["address"]),
                    text(&r["action"]),
                    object,
                    text(&r["outcome"]),
                ]
            })
            .collect();
        println!(
            "{}",
            grid(&["AT", "WHO", "FROM", "WHAT", "OBJECT", "OUTCOME"], cells)
        );
        Ok(())
    })())
}
