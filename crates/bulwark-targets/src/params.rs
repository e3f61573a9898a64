//! Typed endpoint keys for the database targets, with the protocol's exit codes: 12 for a
//! required key that is missing, 13 for a key of the wrong type.

use std::path::PathBuf;

use bulwark_plugin::{Endpoint, Exit, PluginError, Result};
use serde_json::Value;

fn wrong(key: &str, what: &str) -> PluginError {
    PluginError::new(
        Exit::WrongEndpointType,
        format!("endpoint key '{key}' must be {what}"),
    )
}

/// A string key, or `None` when absent or null.
pub fn opt_str(ep: &Endpoint, key: &str) -> Result<Option<String>> {
    match ep.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(key, "a string")),
    }
}

/// A string key, or `default`.
pub fn str_or(ep: &Endpoint, key: &str, default: &str) -> Result<String> {
    Ok(opt_str(ep, key)?.unwrap_or_else(|| default.to_string()))
}

/// A TCP port: a number or a string of digits, 1 to 65535; `default` when absent.
pub fn port(ep: &Endpoint, key: &str, default: u16) -> Result<u16> {
    let n = match ep.get(key) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    n.and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| wrong(key, "a port number from 1 to 65535"))
}

/// A boolean key, `false` when absent.
pub fn flag(ep: &Endpoint, key: &str) -> Result<bool> {
    match ep.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(wrong(key, "true or false")),
    }
}

/// An optional absolute path.
pub fn opt_abspath(ep: &Endpoint, key: &str) -> Result<Option<PathBuf>> {
    match opt_str(ep, key)? {
        None => Ok(None),
        Some(s) if s.starts_with('/') => Ok(Some(PathBuf::from(s))),
        Some(s) => Err(wrong(key, &format!("an absolute path, not '{s}'"))),
    }
}

/// `database` (one) or `all: true` (every database), exactly one of them.
pub fn database_or_all(ep: &Endpoint) -> Result<Option<String>> {
    let all = flag(ep, "all")?;
    match (opt_str(ep, "database")?, all) {
        (Some(_), true) => Err(PluginError::new(
            Exit::WrongEndpointType,
            "give either 'database' or 'all': true, not both",
        )),
        (Some(db), false) if db.is_empty() => Err(wrong("database", "a database name")),
        (Some(db), false) => Ok(Some(db)),
        (None, true) => Ok(None),
        (None, false) => Err(PluginError::new(
            Exit::MissingEndpointKey,
            "endpoint key 'database' is required (or 'all': true for every database)",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ep(v: Value) -> Endpoint {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn ports_flags_and_the_database_choice() {
        let e = ep(serde_json::json!({"port": "5433", "p2": 70000, "p3": "x", "all": true}));
        assert_eq!(port(&e, "port", 1).unwrap(), 5433);
        assert_eq!(port(&e, "none", 7).unwrap(), 7);
        assert_eq!(port(&e, "p2", 1).unwrap_err().exit, Exit::WrongEndpointType);
        assert_eq!(port(&e, "p3", 1).unwrap_err().exit, Exit::WrongEndpointType);
        assert_eq!(database_or_all(&e).unwrap(), None);
        let e = ep(serde_json::json!({"database": "shop"}));
        assert_eq!(database_or_all(&e).unwrap().as_deref(), Some("shop"));
        let e = ep(serde_json::json!({}));
        assert_eq!(
            database_or_all(&e).unwrap_err().exit,
            Exit::MissingEndpointKey
        );
        let e = ep(serde_json::json!({"database": "a", "all": true}));
        assert_eq!(
            database_or_all(&e).unwrap_err().exit,
            Exit::WrongEndpointType
        );
        let e = ep(serde_json::json!({"all": "yes", "bin_dir": "rel"}));
        assert_eq!(flag(&e, "all").unwrap_err().exit, Exit::WrongEndpointType);
        assert!(opt_abspath(&e, "bin_dir").is_err());
    }
}
