//! The agent's configuration: a TOML file (`bulwark agent --config FILE`), with
//! `BULWARK_AGENT_*` environment variables over it. Unknown keys are an error.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

/// Everything `bulwark agent` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Its name, for people (its key identifies it). The host name by default.
    pub name: String,
    /// Where its key and its authorized cores live.
    pub data_dir: PathBuf,
    /// Listen mode: the address cores dial (the `agent` its targets name).
    pub listen: Option<SocketAddr>,
    /// Dial mode: the core's agent port, `host:port`.
    pub core: Option<String>,
    /// A file holding the enrollment token for the first dial (`bulwark agent-token create` on
    /// the core); read only until the agent is enrolled.
    pub token_file: Option<PathBuf>,
    /// Directories searched for external plugins, in order.
    pub plugin_dirs: Vec<PathBuf>,
    /// The plugins it runs for a core; any other is refused.
    pub plugins: Vec<String>,
    /// The directories under which its plugins' paths must be (fs `base_dir`, sqlite `path`,
    /// scripts `scripts` and `work_dir`, redis `dump_file`).
    pub paths: Vec<PathBuf>,
    /// The programs a job's command steps may start on this host (the first item of their
    /// command, as written); none by default.
    pub step_commands: Vec<String>,
    /// Seconds between keepalive pings, and before an unanswered one ends the session.
    pub keepalive: u64,
    /// Seconds a task goes on after its core's link broke, for the core to come back and read
    /// on; past them it is canceled and cleans up.
    pub grace: u64,
    /// An enrollment token given on the command line (`--token`), not from the file.
    #[serde(skip)]
    pub token: Option<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            name: std::fs::read_to_string("/etc/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "agent".into()),
            data_dir: PathBuf::from("/var/lib/bulwark-agent"),
            listen: None,
            core: None,
            token_file: None,
            plugin_dirs: Vec::new(),
            plugins: vec!["fs".into()],
            paths: Vec::new(),
            step_commands: Vec::new(),
            keepalive: 20,
            grace: 120,
            token: None,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AgentConfigError {
    /// The file or a variable has a wrong value.
    #[error("invalid agent configuration: {0}")]
    Read(#[from] Box<figment::Error>),
    /// Neither or both modes.
    #[error(
        "invalid agent configuration: set exactly one of listen (the core dials the agent) and core (the agent dials the core)"
    )]
    Mode,
    /// A value out of range.
    #[error("invalid agent configuration: {0}")]
    Value(String),
}

impl AgentConfig {
    /// Reads the configuration: defaults, then the file (if any), then `BULWARK_AGENT_*`.
    pub fn load(file: Option<&std::path::Path>) -> Result<AgentConfig, AgentConfigError> {
        let mut figment = Figment::from(figment::providers::Serialized::defaults(
            AgentConfig::default(),
        ));
        if let Some(f) = file {
            figment = figment.merge(Toml::file_exact(f));
        }
        // BULWARK_AGENT_CONFIG and BULWARK_AGENT_TOKEN are the command line's, not settings.
        figment = figment.merge(Env::prefixed("BULWARK_AGENT_").ignore(&["config", "token"]));
        let config: AgentConfig = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), AgentConfigError> {
        if self.listen.is_some() == self.core.is_some() {
            return Err(AgentConfigError::Mode);
        }
        if self.keepalive < 1 {
            return Err(AgentConfigError::Value(
                "keepalive must be at least 1 second".into(),
            ));
        }
        if self.name.trim().is_empty() {
            return Err(AgentConfigError::Value("name is empty".into()));
        }
        Ok(())
    }

    /// The enrollment token: `--token`, else the token file's first line.
    pub fn token(&self) -> std::io::Result<Option<String>> {
        if let Some(t) = &self.token {
            return Ok(Some(t.trim().to_string()));
        }
        match &self.token_file {
            Some(f) => Ok(std::fs::read_to_string(f)?
                .lines()
                .next()
                .map(|l| l.trim().to_string())),
            None => Ok(None),
        }
    }
}
