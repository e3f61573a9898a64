//! Endpoint secrets sealed in place: every string under a secret-looking key (`password`,
//! `secret_key`, `token`, ... at any depth, as [`bulwark_core::redact::is_secret_key`] says)
//! becomes `bulwark:sealed:` and a value of the [`Vault`], sealed as `endpoint KEY`. The rest of
//! the document stays readable, so redaction, filters and "keep the stored secret" work as
//! before. Endpoints are opened only just before a plugin gets them.

use serde_json::Value;

use bulwark_core::redact::is_secret_key;

use crate::vault::Vault;

/// The marker of a sealed value inside an endpoint document.
pub const MARK: &str = "bulwark:sealed:";

fn walk(
    v: &mut Value,
    f: &mut dyn FnMut(&str, &mut String) -> Result<(), String>,
) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                match item {
                    Value::String(s) if is_secret_key(k) => f(k, s)?,
                    other => walk(other, f)?,
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn map(
    text: &str,
    f: &mut dyn FnMut(&str, &mut String) -> Result<(), String>,
) -> Result<String, String> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| format!("an endpoint is not JSON: {e}"))?;
    walk(&mut v, f)?;
    Ok(v.to_string())
}

/// Seals the secret values of an endpoint that are not sealed yet.
pub fn seal(vault: &Vault, text: &str) -> Result<String, String> {
    map(text, &mut |k, s| {
        if !s.is_empty() && !s.starts_with(MARK) {
            *s = format!("{MARK}{}", vault.seal_as(s, &format!("endpoint {k}")));
        }
        Ok(())
    })
}

/// Opens the sealed values of an endpoint, for a plugin.
pub fn open(vault: &Vault, text: &str) -> Result<String, String> {
    map(text, &mut |k, s| {
        if let Some(sealed) = s.strip_prefix(MARK) {
            *s = vault
                .open_as(sealed, &format!("endpoint {k}"))
                .map_err(|e| format!("endpoint key {k}: {e}"))?;
        }
        Ok(())
    })
}

/// Opens with `old` and seals with `new` (a key rotation); plain secrets get sealed too.
pub fn reseal(old: &Vault, new: &Vault, text: &str) -> Result<String, String> {
    seal(new, &open(old, text)?)
}

/// True when an endpoint holds a secret value in clear.
pub fn has_clear_secret(text: &str) -> bool {
    let mut found = false;
    let _ = map(text, &mut |_, s| {
        found |= !s.is_empty() && !s.starts_with(MARK);
        Ok(())
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_sealed_in_place_at_any_depth() {
        let v = Vault::from_key(&[3; 32]);
        // Secrets with '-', which base64 never writes, so a sealed value cannot hold one by chance.
        let ep = r#"{"host":"db1","password":"hunter-2","s3":{"secret_key":"abc-d","region":"x"},"list":[{"token":"t-1"}],"port":5432}"#;
        assert!(has_clear_secret(ep));
        let sealed = seal(&v, ep).unwrap();
        for secret in ["hunter-2", "abc-d", "t-1"] {
            assert!(!sealed.contains(secret), "{sealed}");
        }
        assert!(
            sealed.contains("\"host\":\"db1\"") && sealed.contains("\"region\":\"x\""),
            "{sealed}"
        );
        assert!(!has_clear_secret(&sealed));
        // Sealing again changes nothing; opening gives the original back.
        assert_eq!(seal(&v, &sealed).unwrap(), sealed);
        let opened: Value = serde_json::from_str(&open(&v, &sealed).unwrap()).unwrap();
        assert_eq!(opened, serde_json::from_str::<Value>(ep).unwrap());
        // Redaction still hides them.
        let shown = bulwark_core::redact::redact_endpoint(&sealed, &[]);
        assert!(!shown.contains(MARK), "{shown}");
    }

    #[test]
    fn a_value_moved_to_another_key_does_not_open() {
        let v = Vault::from_key(&[4; 32]);
        let sealed: Value =
            serde_json::from_str(&seal(&v, r#"{"password":"p"}"#).unwrap()).unwrap();
        let moved = serde_json::json!({"token": sealed["password"]}).to_string();
        assert!(open(&v, &moved).unwrap_err().contains("endpoint key token"));
    }

    #[test]
    fn rotation_reseals_under_the_new_key() {
        let (old, new) = (Vault::from_key(&[5; 32]), Vault::from_key(&[6; 32]));
        let sealed = seal(&old, r#"{"password":"p","other":"o"}"#).unwrap();
        let again = reseal(&old, &new, &sealed).unwrap();
        assert!(again.contains(new.key_id()) && !again.contains(old.key_id()));
        assert_eq!(
            open(&new, &again).unwrap(),
            r#"{"other":"o","password":"p"}"#
        );
        assert!(open(&old, &again).is_err());
    }
}
