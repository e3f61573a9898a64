//! A store's secret in use: what a plugin call needs from it.
//!
//! A repository store's secret is its repository password, passed to the `repository` plugin
//! in its environment. Any other store's secret is the age key its streams are sealed with by
//! the runner; the plugin never sees it.

use std::time::Duration;

use bulwark_catalog::Store;
use bulwark_runner::codec::StreamKey;
use bulwark_runner::pipeline::{Limits, Role};
use bulwark_runner::single::{Single, run_logged};
use bulwark_runner::{LogSink, PluginCommand};

use crate::vault::Vault;

/// How long creating a repository may take.
const INIT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a store's plugin calls get from its secret.
#[derive(Debug, Default, Clone)]
pub struct StoreAccess {
    /// Environment variables for the plugin.
    pub env: Vec<(String, String)>,
    /// Values to hide in what it prints.
    pub secrets: Vec<String>,
    /// The key the runner seals streams with.
    pub key: Option<StreamKey>,
}

/// True for the repository store.
pub fn is_repository(plugin: &str) -> bool {
    plugin == bulwark_repo::NAME
}

/// True for a store that keeps its own data and takes a request, not a stream to keep (a
/// Schelly backup provider): it gets no stream key, so what it is sent is not sealed.
pub fn keeps_its_own_data(plugin: &str) -> bool {
    plugin == "schelly"
}

/// A new secret for a store of `plugin`.
pub fn new_secret(plugin: &str) -> String {
    if is_repository(plugin) {
        crate::vault::new_password()
    } else {
        StreamKey::generate().secret()
    }
}

/// Opens a store's sealed secret.
pub fn access(vault: &Vault, store: &Store) -> Result<StoreAccess, String> {
    let Some(sealed) = &store.secret else {
        if is_repository(&store.plugin) {
            return Err(format!(
                "the repository store '{}' has no password in the catalog",
                store.name
            ));
        }
        return Ok(StoreAccess::default());
    };
    let secret = vault
        .open(sealed)
        .map_err(|e| format!("the secret of store '{}': {e}", store.name))?;
    if is_repository(&store.plugin) {
        Ok(StoreAccess {
            env: vec![(bulwark_repo::cli::PASSWORD_ENV.to_string(), secret.clone())],
            secrets: vec![secret],
            key: None,
        })
    } else {
        let key = StreamKey::parse(&secret)
            .map_err(|e| format!("the stream key of store '{}': {e}", store.name))?;
        Ok(StoreAccess {
            env: Vec::new(),
            secrets: vec![secret],
            key: Some(key),
        })
    }
}

/// Creates the repository of a new repository store (or checks that the one already at the
/// endpoint opens with `password`). The error is one line for the API.
pub async fn init_repository(
    bulwark: &std::path::Path,
    endpoint: &str,
    password: &str,
) -> Result<(), String> {
    let plugin = PluginCommand::Builtin {
        name: bulwark_repo::NAME.to_string(),
        bulwark: bulwark.to_path_buf(),
    };
    let mut secrets = bulwark_runner::secret_values(endpoint, &[]);
    secrets.push(password.to_string());
    let env = vec![(
        bulwark_repo::cli::PASSWORD_ENV.to_string(),
        password.to_string(),
    )];
    let (sink, mut lines): (LogSink, _) = tokio::sync::mpsc::unbounded_channel();
    let limits = Limits {
        timeout: INIT_TIMEOUT,
        cancel: tokio_util::sync::CancellationToken::new(),
        progress: Default::default(),
        bandwidth: None,
    };
    let call = Single {
        plugin: &plugin,
        role: Role::Store,
        args: &["init"],
        endpoint,
        env: &env,
        secrets: &secrets,
    };
    let result = run_logged(call, &limits, &sink).await;
    drop(sink);
    match result {
        Ok(_) => Ok(()),
        Err(f) => {
            // The plugin's own words (its last line) say what was wrong.
            let mut last = String::new();
            while let Some(l) = lines.recv().await {
                last = l;
            }
            let last = last
                .trim_start_matches("store repository: ")
                .trim_start_matches("repository: ")
                .to_string();
            Err(if last.is_empty() {
                format!("the repository could not be created: {f}")
            } else {
                format!("the repository could not be created: {last}")
            })
        }
    }
}
