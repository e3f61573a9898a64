//! The daemon's configuration: defaults in code, then a TOML file (`--config`), then
//! `BULWARK_`-prefixed environment variables (`__` separates sections:
//! `BULWARK_RETENTION__MINIMUM_EXPIRY=60`).
//!
//! Unknown keys in the file are an error, so a misspelt setting is never silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The port the daemon listens on by default.
pub const DEFAULT_PORT: u16 = 8450;

/// The shortest retention the API accepts by default, as seed 003 requires (one hour).
pub const DEFAULT_MINIMUM_EXPIRY: i64 = 3600;

/// Everything `bulwark server` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port of the HTTP API and UI. Loopback by default; put a TLS-terminating
    /// proxy in front before listening on other addresses.
    pub listen: SocketAddr,
    /// Where the catalog, the daemon's key pair and its working files live.
    pub data_dir: PathBuf,
    /// IANA time zone that schedules are evaluated in (`Europe/Berlin`); the system's zone by
    /// default, UTC if it cannot be found.
    pub timezone: String,
    /// `normal`, or `dev` to make every schedule fire every minute.
    pub mode: Mode,
    /// Log output: `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Directories searched, in order, for external plugins (executables named like plugins).
    pub plugin_dirs: Vec<PathBuf>,
    /// Retention rules.
    pub retention: RetentionConfig,
    /// The task engine.
    pub tasks: TasksConfig,
    /// How store secrets are sealed.
    pub secrets: SecretsConfig,
    /// Repository stores.
    pub repository: RepositoryConfig,
    /// Logins, sessions and tokens.
    pub auth: AuthConfig,
    /// HTTPS.
    pub tls: TlsConfig,
    /// Delivering notifications.
    pub notifications: NotificationsConfig,
    /// `/metrics`.
    pub metrics: MetricsConfig,
    /// Agents on other hosts.
    pub agents: AgentsConfig,
    /// For tests of the daemon only.
    pub testing: TestingConfig,
}

/// `[agents]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    /// The address dial-out agents connect to (TLS with pinned keys; put no TLS-terminating
    /// proxy in front). None: no agent can dial in; listen-mode agents still work.
    pub listen: Option<SocketAddr>,
    /// Seconds between keepalive pings of an agent session, and before an unanswered one ends it.
    pub keepalive: u64,
    /// Seconds a task on an agent waits for the agent's link to come back after it broke,
    /// before it fails.
    pub grace: u64,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            listen: None,
            keepalive: 20,
            grace: 120,
        }
    }
}

/// `[testing]`: for Bulwark's own tests; never set in production.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestingConfig {
    /// A file holding the time (Unix seconds) the daemon takes as now, read each time it asks:
    /// tests move it to run months of schedules and retention in seconds. The daemon warns at
    /// start while it is set.
    pub clock_file: Option<PathBuf>,
}

/// `[notifications]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Seconds before a failed delivery is tried again; each later try waits twice as long as
    /// the one before, at most an hour.
    pub retry_delay: u64,
    /// Tries of one delivery before it is given up.
    pub attempts: u32,
    /// Seconds one try may take (connecting, sending, the answer).
    pub timeout: u64,
    /// Seconds between two looks for jobs that became late.
    pub late_check_interval: u64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            retry_delay: 30,
            attempts: 8,
            timeout: 15,
            late_check_interval: 60,
        }
    }
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` to anyone who can reach the daemon, without a token (for a scraper on a
    /// trusted network). Off: it needs a login or a token with the `metrics` scope.
    pub public: bool,
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Seconds a login session lasts without use.
    pub session_idle: u64,
    /// Seconds a login session lasts at most, used or not.
    pub session_max: u64,
    /// Failed logins of one user within `lockout_window` that lock it.
    pub lockout_failures: u32,
    /// Seconds over which failed logins are counted.
    pub lockout_window: u64,
    /// Seconds a locked user stays locked.
    pub lockout_duration: u64,
    /// Failed logins from one address within `lockout_window` after which its logins are refused.
    pub address_failures: u32,
    /// Seconds a new API token lasts when its creator does not say.
    pub token_expiry: u64,
    /// Origins (`https://backup.example.com`) besides the daemon's own that may make state
    /// changes from a browser.
    pub trusted_origins: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle: 12 * 3600,
            session_max: 7 * 86_400,
            lockout_failures: 5,
            lockout_window: 900,
            lockout_duration: 900,
            address_failures: 20,
            token_expiry: 90 * 86_400,
            trusted_origins: Vec::new(),
        }
    }
}

/// `[tls]`: serve HTTPS with this certificate chain and key (PEM files).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// The private key.
    pub key: Option<PathBuf>,
}

/// `[secrets]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// A passphrase the master key is derived from. Without one, the daemon keeps a random
    /// master key in `master.key` in the data directory.
    pub passphrase: Option<String>,
}

/// `[repository]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositoryConfig {
    /// When repository stores are pruned, unless a store says otherwise (a schedule).
    pub prune_schedule: String,
    /// When repository stores are checked (structure only), unless a store says otherwise;
    /// empty for never.
    pub check_schedule: String,
}

impl Default for RepositoryConfig {
    fn default() -> Self {
        RepositoryConfig {
            prune_schedule: "daily at 3:00".into(),
            check_schedule: "sundays at 4:00".into(),
        }
    }
}

/// `[tasks]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    /// How many tasks run at once. 0 holds every task pending: nothing runs (maintenance).
    pub workers: usize,
    /// Seconds a backup, restore or purge may run before it is killed.
    pub timeout: u64,
    /// Seconds a pending task waits for each point it climbs in priority (towards 0), so that
    /// `on-idle` work is never starved for ever; 0: no aging.
    pub priority_aging: u64,
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig {
            workers: 2,
            timeout: 86_400,
            priority_aging: 60,
        }
    }
}

/// `mode`: how schedules fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Schedules fire when they say.
    Normal,
    /// Every schedule fires every minute (for developing plugins and trying things out).
    #[serde(alias = "DEV")]
    Dev,
}

impl Mode {
    /// The name used in configuration and in `/v1/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Dev => "dev",
        }
    }
}

/// `log_format`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[retention]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Seconds between two sweeps for expired archives.
    pub sweep_interval: u64,
    /// Seconds before a failed purge is tried again.
    pub purge_retry: u64,
    /// The shortest `expires` the API accepts, in seconds (3600). Lower it only for tests.
    pub minimum_expiry: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            sweep_interval: 60,
            purge_retry: 300,
            minimum_expiry: DEFAULT_MINIMUM_EXPIRY,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            data_dir: default_data_dir(),
            timezone: iana_time_zone::get_timezone().unwrap_or_else(|_| "UTC".to_string()),
            mode: Mode::Normal,
            log_format: LogFormat::Text,
            plugin_dirs: Vec::new(),
            retention: RetentionConfig::default(),
            tasks: TasksConfig::default(),
            secrets: SecretsConfig::default(),
            repository: RepositoryConfig::default(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            notifications: NotificationsConfig::default(),
            metrics: MetricsConfig::default(),
            agents: AgentsConfig::default(),
            testing: TestingConfig::default(),
        }
    }
}

/// `$XDG_DATA_HOME/bulwark`, else `~/.local/share/bulwark`, else `./bulwark-data`.
fn default_data_dir() -> PathBuf {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(x) = non_empty("XDG_DATA_HOME") {
        PathBuf::from(x).join("bulwark")
    } else if let Some(h) = non_empty("HOME") {
        PathBuf::from(h).join(".local/share/bulwark")
    } else {
        PathBuf::from("bulwark-data")
    }
}

/// The top-level keys that `BULWARK_*` variables may set. Other `BULWARK_*` variables belong to
/// other commands (the CLI's `BULWARK_URL`, ...) and are not the daemon's business.
const ENV_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "timezone",
    "mode",
    "log_format",
    "plugin_dirs",
    "retention",
    "tasks",
    "secrets",
    "repository",
    "auth",
    "tls",
    "notifications",
    "metrics",
    "agents",
    "testing",
];

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or a variable could not be read or has a wrong value.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// The configuration file does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    /// The time zone is not an IANA zone name.
    #[error(
        "invalid configuration: timezone '{0}' is not an IANA time zone name (for example UTC or Europe/Berlin)"
    )]
    TimeZone(String),
    /// A count or duration that must be positive is not.
    #[error("invalid configuration: {0} must be at least 1")]
    AtLeastOne(&'static str),
    /// A repository schedule does not parse.
    #[error("invalid configuration: repository.{0}: {1}")]
    Schedule(&'static str, String),
    /// Only one of `tls.cert` and `tls.key` is given.
    #[error("invalid configuration: tls.cert and tls.key go together; give both or neither")]
    TlsPair,
    /// The minimum retention is not positive.
    #[error("invalid configuration: retention.minimum_expiry must be at least 1 second, not {0}")]
    MinimumExpiry(i64),
}

impl Config {
    /// Loads the configuration: defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("BULWARK_").split("__").filter(|k| {
            // Figment may show the key before or after mapping `__` to `.`.
            let key = k.as_str().to_ascii_lowercase().replace("__", ".");
            ENV_KEYS.contains(&key.split('.').next().unwrap_or_default())
        }));
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.tz()?;
        if self.retention.minimum_expiry < 1 {
            return Err(ConfigError::MinimumExpiry(self.retention.minimum_expiry));
        }
        self.repository
            .prune_schedule
            .parse::<bulwark_core::timespec::Schedule>()
            .map_err(|e| ConfigError::Schedule("prune_schedule", e.to_string()))?;
        if !self.repository.check_schedule.is_empty() {
            self.repository
                .check_schedule
                .parse::<bulwark_core::timespec::Schedule>()
                .map_err(|e| ConfigError::Schedule("check_schedule", e.to_string()))?;
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(ConfigError::TlsPair);
        }
        for (key, value) in [
            ("auth.session_idle", self.auth.session_idle),
            ("auth.session_max", self.auth.session_max),
            (
                "auth.lockout_failures",
                u64::from(self.auth.lockout_failures),
            ),
            ("auth.lockout_window", self.auth.lockout_window),
            (
                "auth.address_failures",
                u64::from(self.auth.address_failures),
            ),
            ("tasks.timeout", self.tasks.timeout),
            ("agents.keepalive", self.agents.keepalive),
            ("agents.grace", self.agents.grace),
            ("retention.sweep_interval", self.retention.sweep_interval),
            ("retention.purge_retry", self.retention.purge_retry),
            ("notifications.retry_delay", self.notifications.retry_delay),
            (
                "notifications.attempts",
                u64::from(self.notifications.attempts),
            ),
            ("notifications.timeout", self.notifications.timeout),
            (
                "notifications.late_check_interval",
                self.notifications.late_check_interval,
            ),
        ] {
            if value < 1 {
                return Err(ConfigError::AtLeastOne(key));
            }
        }
        Ok(())
    }

    /// The configured time zone.
    pub fn tz(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.timezone
            .parse()
            .map_err(|_| ConfigError::TimeZone(self.timezone.clone()))
    }

    /// The catalog database file.
    pub fn catalog_path(&self) -> PathBuf {
        self.data_dir.join("catalog.db")
    }
}
