//! `bulwark notify`: notification channels (a signed webhook, or email over SMTP), their test
//! sends and their deliveries. `show notification REF` and `delete notification REF` work too.

use clap::Subcommand;
use reqwest13::Method;
use serde_json::{Value, json};

use super::view::grid;
use super::{CliResult, Client, Conn, Kind, finish, label, print_json, text};

/// What `bulwark notify` does.
#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// List the channels.
    ///
    /// Example: bulwark notify list
    List,
    /// Make a channel: --webhook URL, or --email ADDRESSES with --smtp-host and --from.
    ///
    /// Example: bulwark notify add ops --webhook https://hooks.example.com/bulwark --event backup_failed --event job_late
    ///
    /// Or: bulwark notify add oncall --email oncall@example.com --from backup@example.com --smtp-host smtp.example.com --smtp-user backup --smtp-password-stdin
    Add {
        /// Its name.
        name: String,
        /// POST events to this URL as signed JSON.
        #[arg(
            long,
            value_name = "URL",
            conflicts_with = "email",
            required_unless_present = "email"
        )]
        webhook: Option<String>,
        /// Read the webhook's signing secret (16 characters or more) from stdin; without it
        /// the daemon makes one and this prints it once.
        #[arg(long, requires = "webhook")]
        secret_stdin: bool,
        /// Mail events to these addresses (separated by commas).
        #[arg(long, value_name = "ADDRESSES")]
        email: Option<String>,
        /// The SMTP server.
        #[arg(long, requires = "email")]
        smtp_host: Option<String>,
        /// Its port (default 587 for starttls, 465 for tls, 25 for none).
        #[arg(long, requires = "email")]
        smtp_port: Option<u16>,
        /// starttls (default), tls, or none (a relay on a trusted network).
        #[arg(long, requires = "email", value_parser = ["starttls", "tls", "none"])]
        smtp_security: Option<String>,
        /// The SMTP user.
        #[arg(long, requires = "email")]
        smtp_user: Option<String>,
        /// Read the SMTP password from stdin.
        #[arg(long, requires = "smtp_user")]
        smtp_password_stdin: bool,
        /// The sender's address.
        #[arg(long, requires = "email")]
        from: Option<String>,
        /// An event to send: backup_failed, job_late, job_recovered, restore_done,
        /// restore_failed, check_failed, drill_failed, copy_failed; repeat for more (default: all but restore_done).
        #[arg(long = "event")]
        events: Vec<String>,
        /// Only events of this job (name or UUID); repeat for more (default: every job).
        #[arg(long = "job")]
        jobs: Vec<String>,
        /// Make it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Send a test event to a channel now and say whether it arrived (exit 1 when not).
    ///
    /// Example: bulwark notify test ops
    Test {
        /// The channel's name or UUID.
        channel: String,
    },
    /// Send a channel nothing until it is enabled again.
    ///
    /// Example: bulwark notify disable ops
    Disable {
        /// The channel's name or UUID.
        channel: String,
    },
    /// Send a channel its events again.
    ///
    /// Example: bulwark notify enable ops
    Enable {
        /// The channel's name or UUID.
        channel: String,
    },
    /// Remove a channel and its deliveries.
    ///
    /// Example: bulwark notify remove ops
    Remove {
        /// The channel's name or UUID.
        channel: String,
    },
    /// List deliveries, newest first: what was sent, to whom, and how it went.
    ///
    /// Example: bulwark notify deliveries --status failed
    Deliveries {
        /// Only those of this channel (name or UUID).
        #[arg(long)]
        channel: Option<String>,
        /// pending, sent or failed.
        #[arg(long, value_parser = ["pending", "sent", "failed"])]
        status: Option<String>,
        /// Only those of this event.
        #[arg(long)]
        event: Option<String>,
        /// At most this many (default 50).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn stdin_line(what: &str) -> CliResult<String> {
    super::auth::read_password(true, what)
}

/// `bulwark notify ...`
pub fn notify(cmd: &NotifyCmd, conn: &Conn) -> std::process::ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        match cmd {
            NotifyCmd::List => {
                let list = c.get("/v1/notifications")?;
                if conn.json {
                    print_json(&list);
                } else {
                    println!(
                        "{}",
                        channel_table(list.as_array().map(Vec::as_slice).unwrap_or(&[]))
                    );
                }
            }
            NotifyCmd::Add { .. } => add(&c, cmd, conn)?,
            NotifyCmd::Test { channel } => {
                let found = c.resolve(Kind::Notification, channel)?;
                let path = format!("/v1/notification/{}/test", text(&found["uuid"]));
                let d = c.send(Method::POST, &path, None)?;
                if conn.json {
                    print_json(&d);
                }
                if d["status"] == "sent" {
                    if !conn.json {
                        println!("Sent a test to {}.", label(&found));
                    }
                } else {
                    return Err(format!(
                        "the test to {} was not delivered: {}",
                        label(&found),
                        text(&d["error"])
                    ));
                }
            }
            NotifyCmd::Enable { channel } | NotifyCmd::Disable { channel } => {
                let on = matches!(cmd, NotifyCmd::Enable { .. });
                let found = c.resolve(Kind::Notification, channel)?;
                let body = json!({
                    "name": found["name"], "kind": found["kind"], "config": found["config"],
                    "events": found["events"], "jobs": found["jobs"], "enabled": on,
                });
                let path = format!("/v1/notification/{}", text(&found["uuid"]));
                let answer = c.send(Method::PUT, &path, Some(&body))?;
                if conn.json {
                    print_json(&answer);
                } else {
                    let word = if on { "enabled" } else { "disabled" };
                    println!("{word} notification channel {}", label(&found));
                }
            }
            NotifyCmd::Remove { channel } => {
                let found = c.resolve(Kind::Notification, channel)?;
                let path = format!("/v1/notification/{}", text(&found["uuid"]));
                let answer = c.send(Method::DELETE, &path, None)?;
                if conn.json {
                    print_json(&answer);
                } else {
                    println!("removed notification channel {}", label(&found));
                }
            }
            NotifyCmd::Deliveries {
                channel,
                status,
                event,
                limit,
            } => {
                let mut q = vec![format!("limit={limit}")];
                if let Some(ch) = channel {
                    q.push(format!("channel={}", c.uuid_of(Kind::Notification, ch)?));
                }
                if let Some(s) = status {
                    q.push(format!("status={s}"));
                }
                if let Some(e) = event {
                    q.push(format!("event={}", super::encode(e)));
                }
                let list = c.get(&format!("/v1/notifications/deliveries?{}", q.join("&")))?;
                if conn.json {
                    print_json(&list);
                } else {
                    println!(
                        "{}",
                        delivery_table(list.as_array().map(Vec::as_slice).unwrap_or(&[]))
                    );
                }
            }
        }
        Ok(())
    })())
}

fn add(c: &Client, cmd: &NotifyCmd, conn: &Conn) -> CliResult<()> {
    let NotifyCmd::Add {
        name,
        webhook,
        secret_stdin,
        email,
        smtp_host,
        smtp_port,
        smtp_security,
        smtp_user,
        smtp_password_stdin,
        from,
        events,
        jobs,
        disabled,
    } = cmd
    else {
        return Ok(());
    };
    let (kind, config) = if let Some(url) = webhook {
        let mut config = json!({"url": url});
        if *secret_stdin {
            config["secret"] = stdin_line("secret")?.into();
        }
        ("webhook", config)
    } else {
        let mut config = json!({
            "to": email, "host": smtp_host, "from": from,
        });
        if let Some(p) = smtp_port {
            config["port"] = (*p).into();
        }
        if let Some(s) = smtp_security {
            config["security"] = s.as_str().into();
        }
        if let Some(u) = smtp_user {
            config["username"] = u.as_str().into();
            if !*smtp_password_stdin {
                return Err("--smtp-user needs --smtp-password-stdin (a password never goes on the command line)".into());
            }
            config["password"] = stdin_line("SMTP password")?.into();
        }
        ("email", config)
    };
    let mut body = json!({"name": name, "kind": kind, "config": config, "enabled": !disabled});
    if !events.is_empty() {
        body["events"] = json!(events);
    }
    if !jobs.is_empty() {
        let ids = jobs
            .iter()
            .map(|j| c.uuid_of(Kind::Job, j))
            .collect::<CliResult<Vec<_>>>()?;
        body["jobs"] = json!(ids);
    }
    let made = c.send(Method::POST, "/v1/notifications", Some(&body))?;
    if conn.json {
        print_json(&made);
        return Ok(());
    }
    println!(
        "created notification channel '{name}' ({})",
        text(&made["uuid"])
    );
    if let Some(secret) = made["secret"].as_str() {
        println!(
            "Signing secret (shown this once; the receiver checks X-Bulwark-Signature with it):"
        );
        println!("{secret}");
    }
    Ok(())
}

fn channel_table(rows: &[Value]) -> String {
    let cells = rows
        .iter()
        .map(|r| {
            let to = match r["kind"].as_str() {
                Some("webhook") => text(&r["config"]["url"]),
                _ => text(&r["config"]["to"]),
            };
            let jobs = r["jobs"].as_array().map_or(0, Vec::len);
            vec![
                text(&r["uuid"]).chars().take(8).collect(),
                text(&r["name"]),
                text(&r["kind"]),
                to,
                r["events"]
                    .as_array()
                    .map(|e| e.iter().map(text).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
                if jobs == 0 {
                    "all".into()
                } else {
                    jobs.to_string()
                },
                if r["enabled"] == true {
                    "yes".into()
                } else {
                    "no".into()
                },
            ]
        })
        .collect();
    grid(
        &["UUID", "NAME", "KIND", "TO", "EVENTS", "JOBS", "ENABLED"],
        cells,
    )
}

fn delivery_table(rows: &[Value]) -> String {
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                text(&r["created_at"]),
                text(&r["channel_name"]),
                text(&r["event"]),
                text(&r["status"]),
                text(&r["attempts"]),
                if r["status"] == "pending" {
                    text(&r["next_attempt_at"])
                } else {
                    text(&r["sent_at"])
                },
                text(&r["error"]).chars().take(80).collect(),
            ]
        })
        .collect();
    grid(
        &[
            "QUEUED",
            "CHANNEL",
            "EVENT",
            "STATUS",
            "TRIES",
            "SENT/NEXT",
            "ERROR",
        ],
        cells,
    )
}
