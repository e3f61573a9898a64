//! The Bulwark core daemon: it reads its [`config::Config`], opens the catalog in its data
//! directory, makes or loads its key pair, and serves the `/v1` HTTP API until it is told to stop.
//!
//! [`Server::start`] binds the listener and returns the real address (so a port of 0 works);
//! [`Server::serve`] runs until the shutdown future completes, then closes the catalog.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = bulwark_server::config::Config::load(None)?;
//! let server = bulwark_server::Server::start(config).await?;
//! println!("listening on {}", server.local_addr());
//! server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod agent_host;
pub mod agents;
pub mod auth;
pub mod config;
mod drill_run;
pub mod engine;
mod error;
mod extract;
mod jobhealth;
pub mod keys;
pub mod metrics;
mod notify;
pub mod plugins;
mod restore_run;
pub mod rotate;
mod routes;
pub mod sealing;
pub mod serve;
mod state;
mod steps;
pub mod store_keys;
pub mod vault;

use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use tokio::net::TcpListener;

use bulwark_catalog::Catalog;
use bulwark_core::clock::Clock;

use crate::config::{Config, ConfigError};
use crate::engine::{Engine, EngineConfig};
use crate::state::{AppState, SystemClock};

pub use routes::{operations, router};
pub use state::AppState as State;

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be created or locked.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Another daemon holds the data directory.
    #[error("data directory {0} is in use by another bulwark server")]
    Locked(PathBuf),
    /// The catalog cannot be opened or migrated.
    #[error("catalog {path}: {source}")]
    Catalog {
        /// The catalog file.
        path: PathBuf,
        /// What failed.
        source: bulwark_catalog::CatalogError,
    },
    /// The key pair cannot be made or read.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// The master key cannot be made, read or does not match.
    #[error("master key: {0}")]
    Vault(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
}

/// What the operator should fix, from the configuration alone.
fn warnings(config: &Config) -> Vec<String> {
    let mut w = Vec::new();
    if !config.listen.ip().is_loopback() && config.tls.cert.is_none() {
        w.push(format!(
            "listening on {} without TLS: passwords and tokens cross the network in clear; set tls.cert and tls.key",
            config.listen
        ));
    }
    w
}

/// A started daemon: listener bound, catalog open.
pub struct Server {
    listener: TcpListener,
    agent_listener: Option<TcpListener>,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    // Held for the life of the server: the lock on the data directory.
    _lock: File,
}

impl Server {
    /// Prepares the data directory, locks it, opens the catalog, loads the key pair and binds the
    /// listen address.
    pub async fn start(config: Config) -> Result<Server, ServerError> {
        let clock: Arc<dyn Clock> = match &config.testing.clock_file {
            Some(path) => {
                tracing::warn!(file = %path.display(), "The daemon's clock is read from a file (testing.clock_file): for tests only.");
                Arc::new(crate::state::FileClock::new(path.clone()))
            }
            None => Arc::new(SystemClock),
        };
        Self::start_with_clock(config, clock).await
    }

    /// [`Server::start`] with another clock (tests drive session and lockout times with one).
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Server, ServerError> {
        let tz = config.tz()?;
        let dir = &config.data_dir;
        let dir_err = |source| ServerError::DataDir {
            path: dir.clone(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(dir_err)?;
        let lock = File::create(dir.join("bulwark.lock")).map_err(dir_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(ServerError::Locked(dir.clone())),
            Err(std::fs::TryLockError::Error(e)) => return Err(dir_err(e)),
        }

        let catalog_path = config.catalog_path();
        let catalog =
            Catalog::open(&catalog_path)
                .await
                .map_err(|source| ServerError::Catalog {
                    path: catalog_path.clone(),
                    source,
                })?;
        keys::load_or_create(dir)?;
        let vault = vault::Vault::load(dir, config.secrets.passphrase.as_deref())
            .map_err(ServerError::Vault)?;
        match rotate::seal_leftovers(&catalog, &vault).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                rows = n,
                "Sealed the secrets an older version kept in clear."
            ),
            Err(e) => return Err(ServerError::Vault(e)),
        }
        let prune_schedule = config
            .repository
            .prune_schedule
            .parse::<bulwark_core::timespec::Schedule>()
            .map_err(|e| ConfigError::Schedule("prune_schedule", e.to_string()))?;
        let check_schedule = match config.repository.check_schedule.as_str() {
            "" => None,
            s => Some(
                s.parse::<bulwark_core::timespec::Schedule>()
                    .map_err(|e| ConfigError::Schedule("check_schedule", e.to_string()))?,
            ),
        };

        let tls = match (&config.tls.cert, &config.tls.key) {
            (Some(cert), Some(key)) => {
                Some(serve::tls_config(cert, key).map_err(ServerError::Tls)?)
            }
            _ => None,
        };
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let bulwark_exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("bulwark"));
        let core_identity = std::fs::read_to_string(dir.join(keys::KEY_FILE))
            .ok()
            .and_then(|t| bulwark_link::Identity::from_openssh(&t).ok())
            .ok_or_else(|| ServerError::Vault("the core key cannot be read back".into()))?;
        tracing::info!(
            fingerprint = %core_identity.public(),
            "The core's key is {}; agents authorize it.",
            core_identity.public()
        );
        let hub = agents::Hub::new(
            core_identity,
            catalog.clone(),
            clock.clone(),
            bulwark_link::Keepalive {
                interval: Duration::from_secs(config.agents.keepalive),
                timeout: Duration::from_secs(config.agents.keepalive),
            },
        );
        let engine = Engine::new(
            catalog.clone(),
            clock.clone(),
            EngineConfig {
                workers: config.tasks.workers,
                task_timeout: Duration::from_secs(config.tasks.timeout),
                priority_aging: i64::try_from(config.tasks.priority_aging).unwrap_or(i64::MAX),
                sweep_interval: Duration::from_secs(config.retention.sweep_interval),
                purge_retry: Duration::from_secs(config.retention.purge_retry),
                mode: config.mode,
                tz,
                plugin_dirs: config.plugin_dirs.clone(),
                bulwark_exe: bulwark_exe.clone(),
                vault: vault.clone(),
                prune_schedule: prune_schedule.clone(),
                check_schedule,
                notifications: config.notifications.clone(),
                staging_dir: config.data_dir.join("staging"),
                agents: Some(hub.clone()),
                agent_grace: Duration::from_secs(config.agents.grace),
            },
        );
        let agent_listener = match config.agents.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?,
            ),
            None => None,
        };
        let state = AppState {
            agents: hub,
            catalog,
            started_at: clock.now(),
            clock,
            tz,
            mode: config.mode,
            minimum_expiry: config.retention.minimum_expiry,
            plugin_dirs: config.plugin_dirs.clone().into(),
            bulwark_exe: bulwark_exe.into(),
            engine,
            vault,
            prune_schedule: prune_schedule.to_string().into(),
            auth: Arc::new(config.auth.clone()),
            tls: tls.is_some(),
            metrics_public: config.metrics.public,
            data_dir: config.data_dir.clone().into(),
            warnings: warnings(&config).into(),
        };
        for w in state.warnings.iter() {
            tracing::warn!("{w}");
        }
        tracing::info!(
            data_dir = %dir.display(),
            catalog = %catalog_path.display(),
            timezone = %tz.name(),
            mode = config.mode.as_str(),
            "Daemon started."
        );
        Ok(Server {
            listener,
            agent_listener,
            state,
            tls,
            _lock: lock,
        })
    }

    /// True when no user exists yet: every call that needs a login is refused until the
    /// operator makes one on the host.
    pub async fn needs_first_user(&self) -> bool {
        self.state.catalog.count_users().await.is_ok_and(|n| n == 0)
    }

    /// Where the API is: `http://ADDR` or `https://ADDR`.
    pub fn url(&self) -> String {
        serve::url(self.local_addr(), self.tls.is_some())
    }

    /// The address dial-out agents connect to, when there is one.
    pub fn agent_addr(&self) -> Option<SocketAddr> {
        self.agent_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves the API until `shutdown` completes, lets requests in flight finish, and closes
    /// the catalog.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let catalog = self.state.catalog.clone();
        let engine = self.state.engine.clone();
        let mut parts = engine.start().await;
        let stop_agents = tokio_util::sync::CancellationToken::new();
        if let Some(l) = self.agent_listener {
            tokio::spawn(self.state.agents.clone().listen(l, stop_agents.clone()));
        }
        let app = router(self.state);
        let result = serve::serve(self.listener, app, self.tls, shutdown)
            .await
            .map_err(ServerError::Serve);
        stop_agents.cancel();
        // Running tasks are killed and cleaned up before the catalog closes.
        engine.shutdown();
        let drained = tokio::time::timeout(Duration::from_secs(60), async {
            while parts.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "Tasks did not stop within 60s; leaving them to the next start's recovery."
            );
        }
        catalog.close().await;
        tracing::info!("Daemon stopped.");
        result
    }
}
