//! The `schelly` plugin: a Schelly backup provider (seed 002's webhook API) as a store, so that
//! Bulwark's scheduler and retention drive a backend that keeps its own data.
//!
//! As a **store** (endpoint `{"url", "headers", "delete_body", "poll_interval", "timeout"}`),
//! `store` sends what it reads (the create body) as `POST {url}`; the provider answers 2xx with
//! `{"id", "status", ...}`; the plugin polls `GET {url}/{id}` until `status` is `available` and
//! prints the key `ID` (or `ID:DATA_ID` when the provider names its data), failing when the
//! status is `error` or when `timeout` passes. `purge` is `DELETE {url}/{id}` (with
//! `delete_body`); a provider that no longer knows the id has nothing left to delete.
//! `retrieve` writes what `GET {url}/{id}` says: the provider keeps the data, Bulwark keeps the
//! record.
//!
//! As a **target** (endpoint `{"create_body": "..."}`), `backup` writes the create body (`{}` by
//! default; Schelly's `WEBHOOK_CREATE_BODY`), which the store posts. `restore` is not possible:
//! the data never leaves the provider.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use bulwark_plugin::{Endpoint, Exit, PluginError, Result, StoreOutput, StorePlugin, TargetPlugin};
use serde_json::Value;

use crate::params::opt_str;

/// The `schelly` plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Schelly;

struct Provider {
    url: String,
    headers: Vec<(String, String)>,
    delete_body: Option<String>,
    poll: Duration,
    timeout: Duration,
}

fn wrong(key: &str, what: &str) -> PluginError {
    PluginError::new(
        Exit::WrongEndpointType,
        format!("endpoint key '{key}' {what}"),
    )
}

fn seconds(ep: &Endpoint, key: &str, default: u64) -> Result<Duration> {
    match ep.get(key) {
        None | Some(Value::Null) => Ok(Duration::from_secs(default)),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| *n > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| wrong(key, "must be a number of seconds")),
    }
}

impl Provider {
    fn read(ep: &Endpoint) -> Result<Provider> {
        let url = opt_str(ep, "url")?.ok_or_else(|| {
            PluginError::new(Exit::MissingEndpointKey, "endpoint key 'url' is required")
        })?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(wrong("url", "must start with http:// or https://"));
        }
        let headers = match ep.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(wrong("headers", "must map names to strings")),
                })
                .collect::<Result<_>>()?,
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .and_then(|s| s.split_once(':'))
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .ok_or_else(|| wrong("headers", "must be \"Name: value\" strings"))
                })
                .collect::<Result<_>>()?,
            Some(_) => return Err(wrong("headers", "must be an object or a list")),
        };
        Ok(Provider {
            url: url.trim_end_matches('/').to_string(),
            headers,
            delete_body: opt_str(ep, "delete_body")?,
            poll: seconds(ep, "poll_interval", 2)?,
            timeout: seconds(ep, "timeout", 3600)?,
        })
    }

    fn client(&self) -> Result<reqwest::blocking::Client> {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| PluginError::failed(format!("cannot make an HTTP client: {e}")))
    }

    fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<String>,
    ) -> Result<(u16, Value)> {
        let mut req = self.client()?.request(method.clone(), url);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let answer = req
            .send()
            .map_err(|e| PluginError::failed(format!("{method} {url} failed: {e}")))?;
        let status = answer.status().as_u16();
        let text = answer.text().unwrap_or_default();
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }
}

fn id_of(key: &str) -> &str {
    key.split(':').next().unwrap_or(key)
}

impl StorePlugin for Schelly {
    fn validate(&self, endpoint: &Endpoint) -> Result<()> {
        Provider::read(endpoint).map(|_| ())
    }

    fn store(
        &self,
        endpoint: &Endpoint,
        _upload: Option<&str>,
        input: &mut dyn Read,
    ) -> Result<StoreOutput> {
        let p = Provider::read(endpoint)?;
        let mut body = String::new();
        input
            .read_to_string(&mut body)
            .map_err(|e| PluginError::failed(format!("reading the create body failed: {e}")))?;
        let (status, answer) = p.call(reqwest::Method::POST, &p.url, Some(body))?;
        if !(200..300).contains(&status) {
            return Err(PluginError::failed(format!(
                "the provider refused the backup: POST {} answered {status}: {answer}",
                p.url
            )));
        }
        let id = answer["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| answer["id"].as_u64().map(|n| n.to_string()))
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| {
                PluginError::failed(format!("the provider's answer has no usable id: {answer}"))
            })?;
        let deadline = Instant::now() + p.timeout;
        let mut last = answer;
        loop {
            match last["status"].as_str() {
                Some("available") => {
                    let key = match last["data_id"].as_str().filter(|d| !d.is_empty()) {
                        Some(d) => format!("{id}:{d}"),
                        None => id,
                    };
                    let size = last["size_mb"]
                        .as_f64()
                        .map(|mb| (mb * 1024.0 * 1024.0) as u64);
                    return Ok(StoreOutput {
                        key,
                        archive_size: size,
                        added: size,
                    });
                }
                Some("error") => {
                    return Err(PluginError::failed(format!(
                        "the provider's backup {id} failed: {}",
                        last["message"].as_str().unwrap_or("no message")
                    )));
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(PluginError::failed(format!(
                    "the provider's backup {id} was not available within {}s (last status: {})",
                    p.timeout.as_secs(),
                    last["status"]
                )));
            }
            std::thread::sleep(p.poll);
            let (code, answer) = p.call(reqwest::Method::GET, &format!("{}/{id}", p.url), None)?;
            if !(200..300).contains(&code) {
                return Err(PluginError::failed(format!(
                    "GET {}/{id} answered {code}: {answer}",
                    p.url
                )));
            }
            last = answer;
        }
    }

    fn retrieve(&self, endpoint: &Endpoint, key: &str, output: &mut dyn Write) -> Result<()> {
        let p = Provider::read(endpoint)?;
        let url = format!("{}/{}", p.url, id_of(key));
        let (code, answer) = p.call(reqwest::Method::GET, &url, None)?;
        if !(200..300).contains(&code) {
            return Err(PluginError::failed(format!("GET {url} answered {code}")));
        }
        writeln!(output, "{answer}").map_err(|e| PluginError::failed(e.to_string()))
    }

    fn purge(&self, endpoint: &Endpoint, key: &str) -> Result<()> {
        let p = Provider::read(endpoint)?;
        let url = format!("{}/{}", p.url, id_of(key));
        let (code, answer) = p.call(reqwest::Method::DELETE, &url, p.delete_body.clone())?;
        if (200..300).contains(&code) || code == 404 {
            Ok(())
        } else {
            Err(PluginError::failed(format!(
                "DELETE {url} answered {code}: {answer}"
            )))
        }
    }

    fn abandon(&self, _endpoint: &Endpoint, _upload: &str) -> Result<()> {
        // A backup the provider started keeps going there; it is not Bulwark's to remove
        // without an id, and no archive names it.
        Ok(())
    }
}

impl TargetPlugin for Schelly {
    fn validate(&self, endpoint: &Endpoint) -> Result<()> {
        opt_str(endpoint, "create_body").map(|_| ())
    }

    fn backup(
        &self,
        endpoint: &Endpoint,
        output: &mut dyn Write,
        log: &mut dyn Write,
    ) -> Result<()> {
        let body = opt_str(endpoint, "create_body")?.unwrap_or_else(|| "{}".into());
        output
            .write_all(body.as_bytes())
            .map_err(|e| PluginError::failed(format!("writing the create body failed: {e}")))?;
        let _ = writeln!(log, "asking the Schelly provider for a backup");
        Ok(())
    }

    fn restore(
        &self,
        _endpoint: &Endpoint,
        _input: &mut dyn Read,
        _log: &mut dyn Write,
    ) -> Result<()> {
        Err(PluginError::new(
            Exit::Unsupported,
            "a Schelly provider keeps its own data: restore it with the provider",
        ))
    }
}
