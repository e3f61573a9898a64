//! An email channel: one plain-text message per event, over SMTP (lettre).
//!
//! Settings: `host`, `port` (default by `security`: 587, 465 or 25), `security` (`starttls`,
//! the default; `tls` for implicit TLS; `none` for a relay on a trusted network), `username` and
//! `password` (sealed in the catalog), `from`, and `to` (addresses separated by commas).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Map, Value};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain first, then STARTTLS, which must succeed.
    StartTls,
    /// TLS from the first byte.
    Tls,
    /// No encryption at all.
    None,
}

/// An email channel's settings.
#[derive(Debug, Clone)]
pub struct Email {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<(String, String)>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
}

const KEYS: [&str; 7] = [
    "host", "port", "security", "username", "password", "from", "to",
];

fn text<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn mailbox(field: &str, s: &str) -> Result<Mailbox, String> {
    s.trim()
        .parse()
        .map_err(|e| format!("{field} '{}' is not an email address: {e}", s.trim()))
}

/// Reads an email channel's settings.
pub fn parse(config: &Map<String, Value>) -> Result<Email, String> {
    if let Some(k) = config.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "an email channel takes {}, not '{k}'",
            KEYS.join(", ")
        ));
    }
    let host = text(config, "host").ok_or("an email channel needs the SMTP host")?;
    let security = match text(config, "security").unwrap_or("starttls") {
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        "none" => Security::None,
        other => {
            return Err(format!(
                "security must be starttls, tls or none, not '{other}'"
            ));
        }
    };
    let port = match config.get("port") {
        None | Some(Value::Null) => match security {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        },
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port must be 1 to 65535, not {v}"))?,
    };
    let credentials = match (text(config, "username"), text(config, "password")) {
        (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
        (None, None) => None,
        _ => return Err("username and password go together; give both or neither".into()),
    };
    if credentials.is_some() && security == Security::None {
        return Err(
            "a password is never sent without encryption: use security starttls or tls".into(),
        );
    }
    let from = mailbox(
        "from",
        text(config, "from").ok_or("an email channel needs from")?,
    )?;
    let to = text(config, "to")
        .ok_or("an email channel needs to (addresses separated by commas)")?
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| mailbox("to", s))
        .collect::<Result<Vec<_>, _>>()?;
    if to.is_empty() {
        return Err("an email channel needs at least one address in to".into());
    }
    Ok(Email {
        host: host.to_string(),
        port,
        security,
        credentials,
        from,
        to,
    })
}

/// Sends one message.
pub async fn send(
    mail: &Email,
    subject: &str,
    body: String,
    timeout: Duration,
) -> Result<(), String> {
    let builder = match mail.security {
        Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&mail.host),
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&mail.host),
        Security::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &mail.host,
        )),
    }
    .map_err(|e| format!("cannot set up TLS for {}: {e}", mail.host))?;
    let mut builder = builder.port(mail.port).timeout(Some(timeout));
    if let Some((user, password)) = &mail.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let transport = builder.build();
    let mut message = Message::builder().from(mail.from.clone());
    for to in &mail.to {
        message = message.to(to.clone());
    }
    let message = message
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("cannot write the message: {e}"))?;
    let sent = tokio::time::timeout(timeout, transport.send(message))
        .await
        .map_err(|_| format!("the SMTP server {} did not answer in time", mail.host))?;
    sent.map(|_| ()).map_err(|e| {
        format!(
            "the SMTP server {}:{} refused or failed: {e}",
            mail.host, mail.port
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults_and_lists() {
        let e = parse(&obj(serde_json::json!({
            "host": "smtp.example.com", "from": "backup@example.com",
            "to": "a@example.com, b@example.com"
        })))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.port, 587);
        assert_eq!(e.security, Security::StartTls);
        assert_eq!(e.to.len(), 2);
        let e = parse(&obj(serde_json::json!({
            "host": "h", "from": "f@x.org", "to": "t@x.org", "security": "tls", "port": "2465"
        })))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((e.port, e.security), (2465, Security::Tls));
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        for (v, says) in [
            (
                serde_json::json!({"from": "f@x.org", "to": "t@x.org"}),
                "SMTP host",
            ),
            (
                serde_json::json!({"host": "h", "to": "t@x.org"}),
                "needs from",
            ),
            (
                serde_json::json!({"host": "h", "from": "f@x.org", "to": " , "}),
                "at least one",
            ),
            (
                serde_json::json!({"host": "h", "from": "nope", "to": "t@x.org"}),
                "not an email",
            ),
            (
                serde_json::json!({"host": "h", "from": "f@x.org", "to": "t@x.org", "port": 0}),
                "port",
            ),
            (
                serde_json::json!({"host": "h", "from": "f@x.org", "to": "t@x.org", "security": "ssl"}),
                "starttls, tls or none",
            ),
            (
                serde_json::json!({"host": "h", "from": "f@x.org", "to": "t@x.org", "username": "u"}),
                "go together",
            ),
            (
                serde_json::json!({"host": "h", "from": "f@x.org", "to": "t@x.org", "security": "none",
                "username": "u", "password": "p"}),
                "never sent without encryption",
            ),
            (
                serde_json::json!({"host": "h", "from": "f@x.org", "to": "t@x.org", "cc": "x"}),
                "not 'cc'",
            ),
        ] {
            let err = parse(&obj(v)).err().unwrap_or_default();
            assert!(err.contains(says), "{err}");
        }
    }
}
