//! The `rabbitmq` target: a broker's definitions (vhosts, exchanges, queues, bindings, users,
//! permissions, policies, parameters) through the management plugin's HTTP API.
//!
//! Endpoint: `{"url": "http://rabbit1:15672", "user": "admin", "password": "...",
//! "vhost": "/"}`. Without `vhost`, the whole broker's definitions; with it, that virtual host's.
//!
//! Backup is `GET /api/definitions`, written as received (JSON); restore is `POST
//! /api/definitions` with it, which the broker imports as one operation: it adds and updates
//! what the backup holds and leaves other definitions alone. Messages are not definitions and
//! are not backed up. The user needs the `administrator` tag.

use std::io::{Read, Write};
use std::time::Duration;

use bulwark_plugin::{Endpoint, Exit, PluginError, Result, TargetPlugin};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use crate::params::{opt_str, str_or};

/// The `rabbitmq` target plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rabbitmq;

/// The largest definitions document a restore reads.
const MAX_DEFINITIONS: u64 = 512 << 20;

struct Api {
    url: String,
    user: String,
    password: String,
    vhost: Option<String>,
    client: Client,
}

/// A path segment, percent-encoded (a vhost is often "/").
fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Api {
    fn read(ep: &Endpoint) -> Result<Api> {
        let url = str_or(ep, "url", "http://localhost:15672")?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(PluginError::new(
                Exit::WrongEndpointType,
                format!("endpoint key 'url' must be an http:// or https:// address, not '{url}'"),
            ));
        }
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| PluginError::failed(format!("building an HTTP client failed: {e}")))?;
        Ok(Api {
            url: url.trim_end_matches('/').to_string(),
            user: str_or(ep, "user", "guest")?,
            password: opt_str(ep, "password")?.unwrap_or_default(),
            vhost: opt_str(ep, "vhost")?,
            client,
        })
    }

    fn definitions_path(&self) -> String {
        match &self.vhost {
            Some(v) => format!("/api/definitions/{}", segment(v)),
            None => "/api/definitions".into(),
        }
    }

    fn request(&self, rb: RequestBuilder) -> Result<Response> {
        let resp = rb
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .map_err(|e| {
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why = format!("{why}: {s}");
                    source = s.source();
                }
                PluginError::failed(format!(
                    "cannot reach the RabbitMQ management API at {}: {why}; the endpoint's url is the management API (port 15672 by default, not AMQP's 5672), which needs the rabbitmq_management plugin (rabbitmq-plugins enable rabbitmq_management)",
                    self.url
                ))
            })?;
        match resp.status() {
            StatusCode::UNAUTHORIZED => Err(PluginError::failed(format!(
                "wrong password for user {} at the RabbitMQ management API {}",
                self.user, self.url
            ))),
            StatusCode::NOT_FOUND => Err(PluginError::failed(format!(
                "{} answered 404: {}",
                self.url,
                match &self.vhost {
                    Some(v) => format!(
                        "vhost {v} does not exist (or the management plugin is not enabled)"
                    ),
                    None => "is this the management API, with the rabbitmq_management plugin enabled (rabbitmq-plugins enable rabbitmq_management)?".into(),
                }
            ))),
            s if s.is_success() => Ok(resp),
            StatusCode::BAD_REQUEST if self.vhost.is_some() => {
                let body = resp.text().unwrap_or_default();
                if body.contains("vhost_not_found") {
                    Err(PluginError::failed(format!(
                        "vhost {} does not exist at {}",
                        self.vhost.as_deref().unwrap_or_default(),
                        self.url
                    )))
                } else {
                    Err(PluginError::failed(format!(
                        "the RabbitMQ management API answered 400: {}",
                        body.chars().take(300).collect::<String>()
                    )))
                }
            }
            s => {
                let body = resp.text().unwrap_or_default();
                Err(PluginError::failed(format!(
                    "the RabbitMQ management API answered {s}: {}",
                    body.chars().take(300).collect::<String>()
                )))
            }
        }
    }

    fn get(&self, path: &str) -> Result<Response> {
        self.request(self.client.get(format!("{}{path}", self.url)))
    }
}

impl TargetPlugin for Rabbitmq {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        let api = Api::read(ep)?;
        let body = api.get("/api/whoami")?.bytes().map_err(|e| {
            PluginError::failed(format!("reading {}'s answer failed: {e}", api.url))
        })?;
        let me: Value = serde_json::from_slice(&body).map_err(|e| {
            PluginError::failed(format!("{} did not answer as RabbitMQ: {e}", api.url))
        })?;
        let tags = me["tags"].to_string();
        if !tags.contains("administrator") {
            return Err(PluginError::failed(format!(
                "user {} lacks the administrator tag that exporting and importing definitions needs",
                api.user
            )));
        }
        if let Some(v) = &api.vhost {
            api.get(&format!("/api/vhosts/{}", segment(v)))?;
        }
        Ok(())
    }

    fn backup(&self, ep: &Endpoint, output: &mut dyn Write, log: &mut dyn Write) -> Result<()> {
        let api = Api::read(ep)?;
        let body = api
            .get(&api.definitions_path())?
            .bytes()
            .map_err(|e| PluginError::failed(format!("reading the definitions failed: {e}")))?;
        let defs: Value = serde_json::from_slice(&body)
            .map_err(|e| PluginError::failed(format!("the definitions are not JSON: {e}")))?;
        output
            .write_all(&body)
            .and_then(|_| output.flush())
            .map_err(|e| PluginError::failed(format!("writing the backup failed: {e}")))?;
        let count = |k: &str| defs[k].as_array().map(Vec::len).unwrap_or(0);
        let _ = writeln!(
            log,
            "exported definitions from {}: {} vhosts, {} users, {} exchanges, {} queues, {} bindings, {} policies",
            api.url,
            count("vhosts"),
            count("users"),
            count("exchanges"),
            count("queues"),
            count("bindings"),
            count("policies")
        );
        Ok(())
    }

    fn restore(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        let api = Api::read(ep)?;
        let mut body = Vec::new();
        input
            .take(MAX_DEFINITIONS + 1)
            .read_to_end(&mut body)
            .map_err(|e| PluginError::failed(format!("reading the backup failed: {e}")))?;
        if body.len() as u64 > MAX_DEFINITIONS {
            return Err(PluginError::failed(
                "the backup is larger than 512 MiB; it is not a definitions document",
            ));
        }
        let defs: Value = serde_json::from_slice(&body).map_err(|e| {
            PluginError::failed(format!(
                "the backup is not a definitions document (not JSON: {e}); nothing was imported"
            ))
        })?;
        if !defs.is_object() {
            return Err(PluginError::failed(
                "the backup is not a definitions document; nothing was imported",
            ));
        }
        api.request(
            api.client
                .post(format!("{}{}", api.url, api.definitions_path()))
                .header("content-type", "application/json")
                .body(body),
        )?;
        let _ = writeln!(log, "imported the definitions into {}", api.url);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn vhosts_are_encoded_and_urls_checked() {
        assert_eq!(segment("/"), "%2F");
        assert_eq!(segment("a b/ü"), "a%20b%2F%C3%BC");
        let ep = serde_json::json!({"url": "rabbit:15672"});
        assert_eq!(
            Api::read(ep.as_object().unwrap()).err().unwrap().exit,
            Exit::WrongEndpointType
        );
        let ep = serde_json::json!({"url": "http://r:15672/", "vhost": "/"});
        let api = Api::read(ep.as_object().unwrap()).unwrap();
        assert_eq!(api.definitions_path(), "/api/definitions/%2F");
        assert_eq!(api.url, "http://r:15672");
    }
}
