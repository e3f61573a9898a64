//! The plugins compiled into Bulwark, found by name.

mod endpoint;
pub mod fs_store;
pub mod fs_target;
mod fs_verify;

pub use endpoint::{optional_str, required_abspath};

use crate::protocol::{Features, Field};
use crate::{PluginInfo, StorePlugin, TargetPlugin};

/// The built-in plugins' names.
pub const NAMES: &[&str] = &["fs"];

/// One built-in plugin: its `info`, and its target and store sides.
pub struct Builtin {
    /// Its name, as jobs and targets name it.
    pub name: &'static str,
    /// What `info` prints.
    pub info: PluginInfo,
    /// The target side, if it is a target plugin.
    pub target: Option<&'static dyn TargetPlugin>,
    /// The store side, if it is a store plugin.
    pub store: Option<&'static dyn StorePlugin>,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builtin").field("name", &self.name).finish()
    }
}

/// One field of an `info` document, with an example and no default.
pub fn field(
    name: &str,
    kind: &str,
    title: &str,
    help: &str,
    example: &str,
    required: bool,
) -> Field {
    Field {
        name: name.into(),
        kind: kind.into(),
        title: title.into(),
        help: help.into(),
        example: Some(example.into()),
        default: None,
        required,
    }
}

/// The built-in plugin called `name`.
pub fn get(name: &str) -> Option<Builtin> {
    match name {
        "fs" => Some(Builtin {
            name: "fs",
            info: PluginInfo {
                name: "Local file system".into(),
                author: "Bulwark".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                features: Features {
                    target: true,
                    store: true,
                    endpoint_env: true,
                },
                fields: vec![
                    field(
                        "base_dir",
                        "abspath",
                        "Directory",
                        "As a target: the directory to back up or restore into. As a store: where archives are kept, one file each (created if missing).",
                        "/var/backups/bulwark",
                        true,
                    ),
                    field(
                        "include",
                        "list",
                        "Include",
                        "Target only: glob patterns; when given, only matching paths (and what is under matching directories) are backed up.",
                        "[\"*.db\"]",
                        false,
                    ),
                    field(
                        "exclude",
                        "list",
                        "Exclude",
                        "Target only: glob patterns of paths to leave out; an excluded directory is left out whole.",
                        "[\"cache\", \"*.tmp\"]",
                        false,
                    ),
                ],
            },
            target: Some(&fs_target::FsTarget),
            store: Some(&fs_store::FsStore),
        }),
        _ => None,
    }
}
