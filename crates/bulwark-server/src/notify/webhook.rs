//! A webhook channel: the payload POSTed as JSON, signed so the receiver can tell it came from
//! this daemon and was not replayed later.
//!
//! Headers: `X-Bulwark-Event`, `X-Bulwark-Delivery` (the delivery's UUID, the same on every
//! try), `X-Bulwark-Timestamp` (Unix seconds of this try) and `X-Bulwark-Signature:
//! sha256=HEX`, the HMAC-SHA256 under the channel's secret of `TIMESTAMP.BODY`. Redirects are
//! not followed; any answer but 2xx is a failed try.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

/// A webhook channel's settings.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: reqwest::Url,
    pub secret: String,
}

/// The shortest signing secret accepted.
pub const MIN_SECRET: usize = 16;

/// Reads a webhook's settings: `url` (http or https) and `secret`.
pub fn parse(config: &Map<String, Value>) -> Result<Webhook, String> {
    if let Some(k) = config
        .keys()
        .find(|k| !matches!(k.as_str(), "url" | "secret"))
    {
        return Err(format!("a webhook takes url and secret, not '{k}'"));
    }
    let url = config
        .get("url")
        .and_then(Value::as_str)
        .ok_or("a webhook needs a url")?;
    let url = reqwest::Url::parse(url).map_err(|e| format!("the url '{url}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "the url must be http:// or https:// with a host, not '{url}'"
        ));
    }
    let secret = config
        .get("secret")
        .and_then(Value::as_str)
        .ok_or("a webhook needs a secret")?
        .to_string();
    if secret.len() < MIN_SECRET {
        return Err(format!(
            "the webhook secret must be at least {MIN_SECRET} characters"
        ));
    }
    Ok(Webhook { url, secret })
}

/// `sha256=HEX` of `TIMESTAMP.BODY` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Sends one try.
pub async fn send(
    http: &reqwest::Client,
    hook: &Webhook,
    event: &str,
    delivery: uuid::Uuid,
    body: &str,
    now: i64,
) -> Result<(), String> {
    let res = http
        .post(hook.url.clone())
        .header("content-type", "application/json")
        .header("x-bulwark-event", event)
        .header("x-bulwark-delivery", delivery.to_string())
        .header("x-bulwark-timestamp", now.to_string())
        .header("x-bulwark-signature", signature(&hook.secret, now, body))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            // reqwest's text names the URL, which may carry a token in its query: say less.
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "failed"
            };
            format!("the webhook request {kind}: {}", root_cause(&e))
        })?;
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    let text = res.text().await.unwrap_or_default();
    let text: String = text.trim().chars().take(200).collect();
    Err(format!("the receiver answered {status}: {text}"))
}

/// The innermost cause of an error (the OS's "Connection refused"), without the URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Worked out apart, with Python's hmac module.
        assert_eq!(
            signature("Jefe", 1_700_000_000, "what do ya want for nothing?"),
            "sha256=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
        );
        assert_ne!(signature("Jefe", 1, "x"), signature("Jefe", 2, "x"));
        assert_ne!(signature("Jefe", 1, "x"), signature("jefe", 1, "x"));
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let ok = parse(&obj(
            serde_json::json!({"url": "https://h/x", "secret": "0123456789abcdef"}),
        ));
        assert!(ok.is_ok());
        for (v, says) in [
            (
                serde_json::json!({"secret": "0123456789abcdef"}),
                "needs a url",
            ),
            (
                serde_json::json!({"url": "ftp://h/", "secret": "0123456789abcdef"}),
                "http://",
            ),
            (
                serde_json::json!({"url": "nope", "secret": "0123456789abcdef"}),
                "not a URL",
            ),
            (
                serde_json::json!({"url": "http://h/", "secret": "short"}),
                "at least 16",
            ),
            (
                serde_json::json!({"url": "http://h/", "secret": "0123456789abcdef", "x": 1}),
                "not 'x'",
            ),
        ] {
            let err = parse(&obj(v)).err().unwrap_or_default();
            assert!(err.contains(says), "{err}");
        }
    }
}
