//! Which plugins are installed: the built-ins, then the executables in the configured plugin
//! directories, each described by its own `info`.
//!
//! Built-in names are reserved: an executable with a built-in's name is skipped (and logged). When
//! two directories hold the same name, the earlier directory wins. Plugin names follow the rule of
//! `bulwark_core::validate::plugin_name`; other files in the directories are ignored.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bulwark_api::PluginResponse;
use bulwark_plugin::{Action, PluginInfo};
use bulwark_runner::{Call, PluginCommand, run_collect};

/// How long a plugin's `info` may take.
const INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// An installed plugin.
#[derive(Debug, Clone)]
pub struct Installed {
    /// How to run it.
    pub command: PluginCommand,
}

/// The built-in plugins' names: those of `bulwark-plugin`, the repository store, and the
/// database targets.
pub fn builtin_names() -> Vec<&'static str> {
    let mut names = bulwark_plugin::builtin::NAMES.to_vec();
    names.push(bulwark_repo::NAME);
    names.extend(bulwark_targets::NAMES);
    names
}

/// A built-in plugin's `info`.
pub fn builtin_info(name: &str) -> Option<PluginInfo> {
    if name == bulwark_repo::NAME {
        return Some(bulwark_repo::cli::info());
    }
    bulwark_plugin::builtin::get(name)
        .or_else(|| bulwark_targets::get(name))
        .map(|b| b.info)
}

/// Finds every installed plugin, in order: built-ins, then each directory's executables by name.
pub fn discover(dirs: &[PathBuf], bulwark: &Path) -> Vec<Installed> {
    let mut found: Vec<Installed> = builtin_names()
        .iter()
        .map(|name| Installed {
            command: PluginCommand::Builtin {
                name: name.to_string(),
                bulwark: bulwark.to_path_buf(),
            },
        })
        .collect();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            tracing::warn!(dir = %dir.display(), "Plugin directory cannot be read; skipping it.");
            continue;
        };
        let mut names: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = e.path();
                let meta = std::fs::metadata(&path).ok()?;
                let executable = meta.is_file() && meta.permissions().mode() & 0o111 != 0;
                (executable && bulwark_core::validate::plugin_name(&name).is_ok())
                    .then_some((name, path))
            })
            .collect();
        names.sort();
        for (name, path) in names {
            if found.iter().any(|p| p.command.name() == name) {
                tracing::warn!(plugin = %name, path = %path.display(), "Plugin name already taken; skipping this one.");
                continue;
            }
            found.push(Installed {
                command: PluginCommand::External {
                    name,
                    path,
                    endpoint_env: false,
                },
            });
        }
    }
    found
}

/// Asks a plugin for its `info` (built-ins answer in-process) and describes it for the API.
pub async fn describe(p: &Installed) -> PluginResponse {
    let (kind, path, info) = match &p.command {
        PluginCommand::Builtin { name, .. } => (
            "builtin",
            None,
            builtin_info(name).ok_or_else(|| format!("{name} is not a built-in plugin")),
        ),
        PluginCommand::External { path, .. } => (
            "external",
            Some(path.display().to_string()),
            external_info(&p.command).await,
        ),
    };
    let mut r = PluginResponse {
        name: p.command.name().to_string(),
        kind: kind.to_string(),
        path,
        title: None,
        author: None,
        version: None,
        features: None,
        fields: Vec::new(),
        error: None,
    };
    match info {
        Ok(info) => {
            r.features = serde_json::to_value(info.features).ok();
            r.fields = info
                .fields
                .iter()
                .filter_map(|f| serde_json::to_value(f).ok())
                .collect();
            r.title = Some(info.name);
            r.author = Some(info.author);
            r.version = Some(info.version);
        }
        Err(e) => r.error = Some(e),
    }
    r
}

pub(crate) async fn external_info(command: &PluginCommand) -> Result<PluginInfo, String> {
    let call = Call {
        action: Action::Info,
        endpoint: "{}",
        key: None,
        timeout: INFO_TIMEOUT,
        secrets: &[],
        env: &[],
    };
    let out = run_collect(command, &call, Vec::new(), 64 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    if !out.success() {
        let stderr = out.stderr.text.trim();
        return Err(format!(
            "info failed with {}: {stderr}",
            out.describe_exit()
        ));
    }
    if out.stdout_overflow {
        return Err("info printed more than 64 KiB".into());
    }
    PluginInfo::parse(&out.stdout)
}
