//! `bulwark agent`: the Bulwark process on a data system's host. It keeps its own ed25519 key
//! (`agent_ed25519` in its data directory, made at first start) and a file of the core keys it
//! authorizes (`authorized_cores`, OpenSSH public key lines), and serves the agent API to an
//! authorized core over the link, in either direction:
//!
//! - **listen**: it listens on its address (the `agent` a target names) and a core dials it;
//! - **dial**: it dials the core's agent port and keeps the connection, reconnecting with
//!   backoff; the first time, with an enrollment token that also names the core's key.
//!
//! Only the plugins on its allow-list are offered, and the core's key is checked at every
//! connection (the file is read again each time, so `bulwark agent authorize` needs no restart).

mod config;
mod journal;
mod keys;
mod tasks;
pub mod wire;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use bulwark_link::session::{read_line, write_line};
use bulwark_link::{Hello, Identity, Keepalive, Pins, PublicKey, Welcome};

pub use config::{AgentConfig, AgentConfigError};

/// The agent's key file in its data directory.
pub const KEY_FILE: &str = "agent_ed25519";
/// The authorized core keys in its data directory.
pub const AUTHORIZED_FILE: &str = "authorized_cores";

/// Why the agent cannot run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Its configuration.
    #[error(transparent)]
    Config(#[from] AgentConfigError),
    /// Its key files.
    #[error(transparent)]
    Keys(#[from] bulwark_link::FileError),
    /// The network.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// TLS configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// The agent's identity, made at first use.
pub fn identity(config: &AgentConfig) -> Result<Identity, AgentError> {
    std::fs::create_dir_all(&config.data_dir)?;
    Ok(bulwark_link::load_or_create(
        &config.data_dir.join(KEY_FILE),
        &format!("bulwark-agent {}", config.name),
    )?)
}

/// The core keys the agent authorizes now (none when the file does not exist yet).
pub fn authorized(config: &AgentConfig) -> Result<Vec<PublicKey>, AgentError> {
    let path = config.data_dir.join(AUTHORIZED_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    Ok(bulwark_link::read_authorized(&path)?)
}

/// Adds a core key to the authorized cores (once).
pub fn authorize(config: &AgentConfig, key: &PublicKey) -> Result<bool, AgentError> {
    let mut keys = authorized(config)?;
    if keys.contains(key) {
        return Ok(false);
    }
    keys.push(*key);
    write_authorized(config, &keys)?;
    Ok(true)
}

/// Removes a core key from the authorized cores; the last one is never removed (the agent
/// would then accept no core at all).
pub fn forget(config: &AgentConfig, key: &PublicKey) -> Result<bool, AgentError> {
    let mut keys = authorized(config)?;
    let before = keys.len();
    keys.retain(|k| k != key);
    if keys.len() == before || keys.is_empty() {
        return Ok(false);
    }
    write_authorized(config, &keys)?;
    Ok(true)
}

fn write_authorized(config: &AgentConfig, keys: &[PublicKey]) -> Result<(), AgentError> {
    let path = config.data_dir.join(AUTHORIZED_FILE);
    let text: String = keys
        .iter()
        .map(|k| format!("{}\n", k.to_openssh()))
        .collect();
    let tmp = path.with_extension("tmp");
    let at = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    std::fs::create_dir_all(&config.data_dir).map_err(at)?;
    std::fs::write(&tmp, text).map_err(at)?;
    std::fs::rename(&tmp, &path).map_err(at)?;
    Ok(())
}

/// Runs the agent until it is stopped.
pub async fn run(config: AgentConfig, exe: &Path) -> Result<(), AgentError> {
    let me = Arc::new(identity(&config)?);
    let router = api(&config, exe, me.public());
    drop(me);
    let me = identity(&config)?;
    let keepalive = Keepalive {
        interval: Duration::from_secs(config.keepalive),
        timeout: Duration::from_secs(config.keepalive),
    };
    if let Some(listen) = config.listen {
        let listener = TcpListener::bind(listen).await?;
        println!(
            "bulwark agent {} (key {}) listening on {}",
            config.name,
            me.public(),
            listener.local_addr()?
        );
        loop {
            let (tcp, peer) = listener.accept().await?;
            let (config, router) = (config.clone(), router.clone());
            tokio::spawn(async move {
                // The key is read at each connection: a rotated key is used from the next one.
                let me = match identity(&config) {
                    Ok(me) => me,
                    Err(e) => {
                        tracing::error!(error = %e, "The agent's key cannot be read.");
                        return;
                    }
                };
                if let Err(e) = serve_dialed(&config, &me, router, tcp, keepalive).await {
                    tracing::warn!(%peer, error = %e, "A core's connection ended.");
                }
            });
        }
    }
    let core = config.core.clone().unwrap_or_default();
    println!(
        "bulwark agent {} (key {}) dialing the core at {core}",
        config.name,
        me.public()
    );
    let mut wait = Duration::from_secs(1);
    loop {
        let me = identity(&config)?;
        match dial_core(&config, &me, router.clone(), keepalive).await {
            Ok(()) => wait = Duration::from_secs(1),
            Err(e) => {
                tracing::warn!(core = %core, error = %e, "The session with the core ended.");
                eprintln!("bulwark agent: {e}");
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// Listen mode: a core dialed; the agent is the TLS server and checks the core's key.
async fn serve_dialed(
    config: &AgentConfig,
    me: &Identity,
    router: axum::Router,
    tcp: TcpStream,
    keepalive: Keepalive,
) -> Result<(), String> {
    let pins = Pins::of(authorized(config).map_err(|e| e.to_string())?);
    let tls_config = bulwark_link::server_config(me, pins).map_err(|e| e.to_string())?;
    let mut tls = TlsAcceptor::from(Arc::new(tls_config))
        .accept(tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    introduce(&mut tls, config, None).await?;
    bulwark_link::session::serve(tls, router, keepalive)
        .await
        .map_err(|e| e.to_string())
}

/// Dial mode: one connection to the core, served until it closes.
async fn dial_core(
    config: &AgentConfig,
    me: &Identity,
    router: axum::Router,
    keepalive: Keepalive,
) -> Result<(), String> {
    let core = config.core.as_deref().unwrap_or_default();
    let known = authorized(config).map_err(|e| e.to_string())?;
    // Until it is enrolled, the core is pinned by the fingerprint its token carries.
    let token = if known.is_empty() {
        config.token().map_err(|e| e.to_string())?
    } else {
        None
    };
    let pins = match &token {
        Some(t) => {
            let parsed =
                crate::agents::parse_token(t).ok_or("the enrollment token is malformed")?;
            Pins::fingerprint(&parsed.core)
        }
        None if known.is_empty() => {
            return Err(
                "no core is authorized and no enrollment token is given (--token or token_file)"
                    .into(),
            );
        }
        None => Pins::of(known),
    };
    let tcp = TcpStream::connect(core)
        .await
        .map_err(|e| format!("cannot reach the core at {core}: {e}"))?;
    let tls_config = bulwark_link::client_config(me, pins).map_err(|e| e.to_string())?;
    let name =
        rustls::pki_types::ServerName::try_from("bulwark-core").map_err(|e| e.to_string())?;
    let mut tls = TlsConnector::from(Arc::new(tls_config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with the core at {core}: {e}"))?;
    let core_key = bulwark_link::peer_key(tls.get_ref().1).ok_or("the core presented no key")?;
    introduce(&mut tls, config, token).await?;
    if authorize(config, &core_key).map_err(|e| e.to_string())? {
        println!("bulwark agent: enrolled; the core's key {core_key} is authorized from now on");
    }
    println!("bulwark agent: session with the core at {core} open");
    bulwark_link::session::serve(tls, router, keepalive)
        .await
        .map_err(|e| e.to_string())
}

/// Says who the agent is and reads the core's answer.
async fn introduce<IO>(
    io: &mut IO,
    config: &AgentConfig,
    token: Option<String>,
) -> Result<(), String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let hello = Hello {
        bulwark_agent: 1,
        name: config.name.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        mode: if config.listen.is_some() {
            "listen"
        } else {
            "dial"
        }
        .into(),
        token,
    };
    write_line(io, &hello).await.map_err(|e| e.to_string())?;
    let welcome: Welcome = tokio::time::timeout(Duration::from_secs(30), read_line(io))
        .await
        .map_err(|_| "the core did not answer within 30 s".to_string())?
        .map_err(|e| e.to_string())?;
    if welcome.ok {
        Ok(())
    } else {
        Err(format!(
            "the core refused this agent: {}",
            welcome.error.unwrap_or_default()
        ))
    }
}

/// The agent API the core calls.
fn api(config: &AgentConfig, exe: &Path, key: PublicKey) -> axum::Router {
    let info = Arc::new((config.clone(), exe.to_path_buf(), key));
    let tasks = tasks::Tasks {
        config: Arc::new(config.clone()),
        exe: Arc::new(exe.to_path_buf()),
        running: Arc::default(),
    };
    let work = axum::Router::new()
        .route("/agent/v1/backups", axum::routing::post(tasks::backup))
        .route("/agent/v1/restores", axum::routing::post(tasks::restore))
        .route(
            "/agent/v1/tasks/{task}/cancel",
            axum::routing::post(tasks::cancel),
        )
        .route(
            "/agent/v1/tasks/{task}/events",
            axum::routing::get(tasks::reattach),
        )
        .route(
            "/agent/v1/tasks/{task}/ack",
            axum::routing::post(tasks::ack),
        )
        .route("/agent/v1/key/next", axum::routing::post(keys::next))
        .route("/agent/v1/key/commit", axum::routing::post(keys::commit))
        .route("/agent/v1/cores", axum::routing::post(keys::add_core))
        .route(
            "/agent/v1/cores/forget",
            axum::routing::post(keys::forget_core),
        )
        .with_state(tasks);
    axum::Router::new().merge(work).route(
        "/agent/v1/info",
        get(move || {
            let info = info.clone();
            async move {
                let (config, exe, key) = &*info;
                let mut plugins = Vec::new();
                for p in crate::plugins::discover(&config.plugin_dirs, exe) {
                    if config.plugins.iter().any(|a| a == p.command.name()) {
                        plugins.push(crate::plugins::describe(&p).await);
                    }
                }
                Json(serde_json::json!({
                    "name": config.name,
                    "version": env!("CARGO_PKG_VERSION"),
                    "fingerprint": key.fingerprint(),
                    "plugins": plugins,
                    "paths": config.paths,
                }))
            }
        }),
    )
}
