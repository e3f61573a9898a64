//! Checks on user input that do not need the catalog: names, plugin names, agent addresses and
//! endpoint documents. Each returns a message that says what is wrong, ready for an API error.

use serde_json::{Map, Value};

/// The longest name or plugin name accepted.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a human-friendly name: not empty, not only white space, not absurdly long.
pub fn name(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > MAX_NAME_LEN {
        return Err(format!("{field} is longer than {MAX_NAME_LEN} characters"));
    }
    // Control characters (newlines, escapes, NUL) in a name forge log lines and terminal output.
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{field} must not contain control characters (found U+{:04X})",
            c as u32
        ));
    }
    Ok(())
}

/// Checks a plugin name: lowercase letters, digits, `-`, `_` and `.`, starting with a letter or
/// digit, as the executables in plugin directories are named.
pub fn plugin_name(value: &str) -> Result<(), String> {
    let ok_first = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_rest = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !ok_first || !ok_rest || value.len() > 64 {
        return Err(format!(
            "plugin '{value}' is not a valid plugin name (lowercase letters, digits, '-', '_' and '.', at most 64)"
        ));
    }
    Ok(())
}

/// The `agent` of a target on the daemon's own host.
pub const LOCAL_AGENT: &str = "local";

/// Checks an agent: [`LOCAL_AGENT`], or an address `host:port`, with an IPv6 host in brackets
/// (`[::1]:5444`).
pub fn agent_address(value: &str) -> Result<(), String> {
    if value == LOCAL_AGENT {
        return Ok(());
    }
    let bad = || {
        format!(
            "agent '{value}' is neither 'local' (the daemon's host) nor a host:port address (for example 10.0.0.5:5444)"
        )
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && host_ok => Ok(()),
        _ => Err(bad()),
    }
}

/// Parses an endpoint document. Plugins receive it as `--endpoint JSON`, and the protocol accepts
/// only a JSON object there, so anything else is refused here, before it reaches a plugin.
pub fn endpoint(value: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "endpoint must be a JSON object, not {}",
            json_kind(&other)
        )),
        Err(e) => Err(format!("endpoint is not valid JSON: {e}")),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("name", "Orders DB").is_ok());
        assert_eq!(name("name", "  "), Err("name must not be empty".into()));
        assert!(name("name", &"x".repeat(201)).is_err());
        for bad in ["two\nlines", "esc\u{1b}[31m", "nul\0", "tab\there"] {
            let err = name("name", bad).unwrap_err();
            assert!(err.contains("control characters"), "{err}");
        }
        assert!(name("name", "caf\u{e9} \u{1F600}").is_ok());
    }

    #[test]
    fn plugin_names() {
        for ok in ["fs", "postgres", "s3-compat", "my_plugin.v2", "9p"] {
            assert!(plugin_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Postgres", "../x", "a b", "-x", "x/y"] {
            assert!(plugin_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn agents() {
        for ok in [
            "127.0.0.1:5444",
            "db-1.example.com:1",
            "[::1]:5444",
            "localhost:65535",
        ] {
            assert!(agent_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "host",
            ":5444",
            "host:0",
            "host:70000",
            "[zz]:1",
            "a b:1",
            "::1:5444x",
        ] {
            assert!(agent_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints() {
        assert!(endpoint(r#"{"base_dir":"/x"}"#).is_ok());
        assert_eq!(
            endpoint("[]"),
            Err("endpoint must be a JSON object, not an array".into())
        );
        assert!(
            endpoint("{")
                .unwrap_err()
                .starts_with("endpoint is not valid JSON")
        );
        assert!(endpoint("42").is_err());
    }
}
