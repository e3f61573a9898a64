//! Capturing a plugin's stderr for the task log.

use bulwark_core::redact::{REDACTED, is_secret_key};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much of a plugin's stderr a task log keeps; the rest is counted and dropped.
pub const MAX_KEPT: usize = 1 << 20;

/// The values of an endpoint's secret keys (and of `extra` keys), longest first, so they can be
/// hidden wherever a plugin prints them.
pub fn secret_values(endpoint: &str, extra: &[String]) -> Vec<String> {
    fn walk(v: &Value, extra: &[String], out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if is_secret_key(k) || extra.iter().any(|e| e == k) {
                        match v {
                            Value::String(s) if !s.is_empty() => out.push(s.clone()),
                            Value::Number(n) => out.push(n.to_string()),
                            _ => {}
                        }
                    } else {
                        walk(v, extra, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, extra, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(endpoint) {
        walk(&v, extra, &mut out);
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// A plugin's stderr as the task log keeps it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StderrLog {
    /// What was kept, secrets replaced by `<redacted>`.
    pub text: String,
    /// Bytes beyond [`MAX_KEPT`] that were read and dropped.
    pub dropped: u64,
}

impl StderrLog {
    /// Reads `stream` to its end in chunks, keeping at most [`MAX_KEPT`] bytes, and hides
    /// `secrets`. It never stops reading early, so the plugin never blocks on a full pipe.
    pub async fn capture(mut stream: impl AsyncRead + Unpin, secrets: &[String]) -> StderrLog {
        let mut kept = Vec::new();
        let mut dropped = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_KEPT.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&buf[..room]);
                    dropped += (n - room) as u64;
                }
            }
        }
        let mut text = String::from_utf8_lossy(&kept).into_owned();
        for s in secrets {
            text = text.replace(s.as_str(), REDACTED);
        }
        StderrLog { text, dropped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secret_values() {
        let ep = r#"{"host":"db","password":"hunter2","nested":{"api_token":"tok"},"pin":{"secret":1234}}"#;
        let s = secret_values(ep, &[]);
        assert_eq!(s, vec!["hunter2".to_string(), "1234".into(), "tok".into()]);
        assert_eq!(
            secret_values(r#"{"key":"AKIA"}"#, &["key".into()]),
            vec!["AKIA".to_string()]
        );
        assert!(secret_values("not json", &[]).is_empty());
    }

    #[tokio::test]
    async fn captures_long_output_and_hides_secrets() {
        let mut data = b"connecting with password hunter2\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 3 * MAX_KEPT));
        let log = StderrLog::capture(&data[..], &["hunter2".to_string()]).await;
        assert!(
            log.text
                .starts_with("connecting with password <redacted>\n")
        );
        assert!(!log.text.contains("hunter2"));
        assert_eq!(
            log.text.len() + log.dropped as usize - "<redacted>".len() + "hunter2".len(),
            data.len()
        );
    }
}
