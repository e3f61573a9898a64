//! A session over an established link: one line each way to introduce the agent, then HTTP/2
//! in which the agent always serves and the core always asks, whoever opened the connection.
//!
//! The introduction: the agent writes a [`Hello`] (its name, version, mode, and an enrollment
//! token the first time it dials a core), the core answers a [`Welcome`] (or why not), each as
//! one line of JSON. HTTP/2 PINGs keep the connection alive through NAT idle timers and notice
//! a peer that went silent.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest introduction line read.
const LINE_LIMIT: usize = 64 * 1024;

/// What went wrong in a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The connection failed.
    #[error("the link failed: {0}")]
    Io(#[from] std::io::Error),
    /// The other end broke the protocol.
    #[error("the other end broke the protocol: {0}")]
    Protocol(String),
    /// HTTP/2 failed.
    #[error("the session failed: {0}")]
    Http(#[from] hyper::Error),
}

/// The agent's introduction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Always 1, this protocol.
    pub bulwark_agent: u32,
    /// Its name (for people; its key identifies it).
    pub name: String,
    /// Its Bulwark version.
    pub version: String,
    /// `listen` or `dial`.
    pub mode: String,
    /// An enrollment token, when it joins a core for the first time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The core's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    /// True when the session goes on.
    pub ok: bool,
    /// The agent's UUID in the core's catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Why not, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Writes one line of JSON.
pub async fn write_line<T: Serialize, IO: AsyncWrite + Unpin>(
    io: &mut IO,
    value: &T,
) -> Result<(), SessionError> {
    let mut line = serde_json::to_vec(value).map_err(|e| SessionError::Protocol(e.to_string()))?;
    line.push(b'\n');
    io.write_all(&line).await?;
    io.flush().await?;
    Ok(())
}

/// Reads one line of JSON, byte by byte (what follows it is HTTP/2 and must stay unread).
pub async fn read_line<T: DeserializeOwned, IO: AsyncRead + Unpin>(
    io: &mut IO,
) -> Result<T, SessionError> {
    let mut line = Vec::new();
    loop {
        let b = io.read_u8().await?;
        if b == b'\n' {
            break;
        }
        if line.len() >= LINE_LIMIT {
            return Err(SessionError::Protocol(
                "an introduction line over 64 KiB".into(),
            ));
        }
        line.push(b);
    }
    serde_json::from_slice(&line).map_err(|e| SessionError::Protocol(e.to_string()))
}

/// How often an idle session is pinged, and how long a ping may go unanswered.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    /// Between pings.
    pub interval: Duration,
    /// Before the session is given up.
    pub timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Keepalive {
            interval: Duration::from_secs(20),
            timeout: Duration::from_secs(20),
        }
    }
}

/// The agent's side: serves `router` over HTTP/2 until the link closes.
pub async fn serve<IO>(
    io: IO,
    router: axum::Router,
    keepalive: Keepalive,
) -> Result<(), SessionError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(router);
    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(keepalive.interval))
        .keep_alive_timeout(keepalive.timeout)
        .serve_connection(TokioIo::new(io), service)
        .await?;
    Ok(())
}

/// The core's side of a session: requests to the agent.
#[derive(Debug, Clone)]
pub struct Session {
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
}

impl Session {
    /// Starts HTTP/2 as the asking side; the connection is driven in the background.
    pub async fn open<IO>(io: IO, keepalive: Keepalive) -> Result<Session, SessionError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(keepalive.interval))
            .keep_alive_timeout(keepalive.timeout)
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(io))
            .await?;
        tokio::spawn(conn);
        Ok(Session { sender })
    }

    /// True once the link is gone.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// A request whose answer is read line by line as it comes (a task's events).
    pub async fn stream(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Lines), SessionError> {
        let mut sender = self.sender.clone();
        sender.ready().await?;
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| SessionError::Protocol(e.to_string()))?,
            None => Vec::new(),
        };
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://agent{path}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        Ok((
            status,
            Lines {
                body: resp.into_body(),
                buf: Vec::new(),
            },
        ))
    }

    /// One request; the answer's status and JSON body (`null` when it has none).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), SessionError> {
        let mut sender = self.sender.clone();
        sender.ready().await?;
        let bytes = match body {
            Some(b) => Bytes::from(
                serde_json::to_vec(b).map_err(|e| SessionError::Protocol(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://agent{path}"))
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        let value = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| SessionError::Protocol(e.to_string()))?
        };
        Ok((status, value))
    }
}

/// The lines of a streamed answer.
pub struct Lines {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
}

impl Lines {
    /// The next line, without its newline; `None` at the end of the answer.
    pub async fn next(&mut self) -> Result<Option<String>, SessionError> {
        loop {
            if let Some(at) = self.buf.iter().position(|b| *b == b'\n') {
                let rest = self.buf.split_off(at + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                line.pop();
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.buf.len() > LINE_LIMIT * 16 {
                return Err(SessionError::Protocol("a line over 1 MiB".into()));
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                None if self.buf.is_empty() => return Ok(None),
                None => {
                    let line = std::mem::take(&mut self.buf);
                    return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
                }
            }
        }
    }
}
