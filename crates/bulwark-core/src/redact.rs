//! Keeping endpoint secrets out of API answers.
//!
//! Endpoints hold passwords and keys. The API never returns them: every value under a secret key
//! is replaced with [`REDACTED`]. A client that edits a resource usually sends back what it read,
//! so on update a [`REDACTED`] value means "keep the stored secret" ([`restore_secrets`]).
//!
//! Which keys are secret is decided by name ([`is_secret_key`]); plugins that describe their
//! fields (`info`'s `fields`, type `password`) add their own keys to that list.

use serde_json::{Map, Value};

/// What a secret value is replaced with in API output.
pub const REDACTED: &str = "<redacted>";

/// Word parts that mark a key as holding a secret.
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "credentials",
    "private_key",
    "privatekey",
    "apikey",
    "api_key",
    "access_key",
    "account_key",
];

/// True when an endpoint key names a secret (`password`, `db_password`, `secret_access_key`,
/// `apiToken`, ...). Matching ignores case and `-`/`_` differences.
/// Hides each secret of `secrets` in `text` (longer ones first) where it stands as a value:
///
/// - never where it is only part of a longer word (a password `pass` leaves `password` alone);
/// - a secret of letters only, standing between spaces (or a line's ends) like a word of prose,
///   is left too: `wrong password` stays readable when the password is `wrong`, and says
///   nothing about which word would be the secret;
/// - everywhere else it is replaced: `password=wrong`, `"wrong"`, `user:wrong@host`, and any
///   secret with a digit or a symbol wherever it stands as a token.
pub fn hide_secrets(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in sorted {
        out = hide_one(&out, secret);
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn hide_one(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(secret) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + secret.len()..].chars().next();
        let first = secret.chars().next();
        let last = secret.chars().next_back();
        let starts_clean = !(before.is_some_and(is_word) && first.is_some_and(is_word));
        let ends_clean = !(after.is_some_and(is_word) && last.is_some_and(is_word));
        let spaced = |c: Option<char>| c.is_none_or(char::is_whitespace);
        let prose = secret.chars().all(char::is_alphabetic) && spaced(before) && spaced(after);
        out.push_str(&rest[..at]);
        if starts_clean && ends_clean && !prose {
            out.push_str(REDACTED);
        } else {
            out.push_str(secret);
        }
        rest = &rest[at + secret.len()..];
    }
    out.push_str(rest);
    out
}

/// True for keys whose values are secrets.
pub fn is_secret_key(key: &str) -> bool {
    let norm: String = key
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    SECRET_PARTS.iter().any(|part| norm.contains(part))
}

/// Returns the endpoint with every secret value replaced by [`REDACTED`], at any depth. An
/// endpoint that is not a JSON object (stored before validation existed) is hidden whole.
pub fn redact_endpoint(endpoint: &str, extra_secret_keys: &[String]) -> String {
    match serde_json::from_str::<Value>(endpoint) {
        Ok(mut v @ Value::Object(_)) => {
            redact_value(&mut v, extra_secret_keys);
            v.to_string()
        }
        _ => REDACTED.to_string(),
    }
}

fn redact_value(v: &mut Value, extra: &[String]) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if is_secret_key(k) || extra.iter().any(|e| e == k) {
                    if !child.is_null() {
                        *child = Value::String(REDACTED.to_string());
                    }
                } else {
                    redact_value(child, extra);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value(i, extra)),
        _ => {}
    }
}

/// Puts stored secrets back where an update sent [`REDACTED`], so that editing a resource without
/// retyping its password keeps the password. A [`REDACTED`] with nothing stored behind it is an
/// error: the client would otherwise save the placeholder as the secret.
pub fn restore_secrets(
    incoming: &mut Map<String, Value>,
    stored: &Map<String, Value>,
) -> Result<(), String> {
    for (k, v) in incoming.iter_mut() {
        match v {
            Value::String(s) if s == REDACTED => match stored.get(k) {
                Some(old) => *v = old.clone(),
                None => {
                    return Err(format!(
                        "endpoint key '{k}' is {REDACTED} but no value is stored for it; send the real value"
                    ));
                }
            },
            Value::Object(inner) => {
                let empty = Map::new();
                let stored_inner = stored.get(k).and_then(Value::as_object).unwrap_or(&empty);
                restore_secrets(inner, stored_inner)?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_where_they_stand_as_values() {
        let hide = |text: &str, secret: &str| hide_secrets(text, &[secret.to_string()]);
        // An ordinary word in prose, and a secret inside a longer word, stay.
        assert_eq!(
            hide("wrong password for user app", "wrong"),
            "wrong password for user app"
        );
        assert_eq!(
            hide("password authentication failed", "pass"),
            "password authentication failed"
        );
        // As a value it goes, wherever it stands.
        assert_eq!(
            hide("password=wrong host=db", "wrong"),
            "password=<redacted> host=db"
        );
        assert_eq!(
            hide("url postgres://u:wrong@db/x", "wrong"),
            "url postgres://u:<redacted>@db/x"
        );
        assert_eq!(hide("got 'wrong'", "wrong"), "got '<redacted>'");
        // A password with digits or symbols goes wherever it is a token, even in prose.
        assert_eq!(
            hide("login hunter2 refused", "hunter2"),
            "login <redacted> refused"
        );
        assert_eq!(hide("p@ss! and more", "p@ss!"), "<redacted> and more");
        // Longer secrets first, so a shorter one inside them does not split them.
        let both = hide_secrets("k=abc123xyz", &["abc".to_string(), "abc123xyz".to_string()]);
        assert_eq!(both, "k=<redacted>");
        assert_eq!(hide("", "x"), "");
        assert_eq!(hide("abc", ""), "abc");
    }
    use serde_json::json;

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "PGPASSWORD",
            "db-password",
            "secret_access_key",
            "apiToken",
            "repository_passphrase",
            "private_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "host", "port", "user", "bucket", "key", "base_dir", "database",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn redacts_at_any_depth() {
        let ep = json!({"host":"db","password":"hunter2","tls":{"client_key_passphrase":"p"},
                        "list":[{"token":"t"}],"empty_password":null})
        .to_string();
        let out: Value = serde_json::from_str(&redact_endpoint(&ep, &[])).unwrap();
        assert_eq!(
            out,
            json!({"host":"db","password":REDACTED,"tls":{"client_key_passphrase":REDACTED},
                   "list":[{"token":REDACTED}],"empty_password":null})
        );
        assert!(!out.to_string().contains("hunter2"));
    }

    #[test]
    fn extra_keys_and_non_objects() {
        let ep = json!({"bucket":"b","key":"AKIA"}).to_string();
        let out = redact_endpoint(&ep, &["key".to_string()]);
        assert!(!out.contains("AKIA"));
        assert_eq!(redact_endpoint("not json", &[]), REDACTED);
    }

    #[test]
    fn restores_placeholders_from_stored_values() {
        let stored = json!({"password":"hunter2","tls":{"token":"t1"}});
        let mut incoming = json!({"password":REDACTED,"host":"new","tls":{"token":REDACTED}});
        restore_secrets(
            incoming.as_object_mut().unwrap(),
            stored.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(
            incoming,
            json!({"password":"hunter2","host":"new","tls":{"token":"t1"}})
        );

        let mut orphan = json!({"password": REDACTED});
        let err = restore_secrets(orphan.as_object_mut().unwrap(), &Map::new()).unwrap_err();
        assert!(err.contains("no value is stored"));
    }
}
