//! The protocol's vocabulary: actions, exit codes, the `info` document and the `store` answer.
//! `docs` of record: seed 003's Plugin Calling Protocol and `PROTOCOL.md` in the shared docs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a plugin is asked to do: the first argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Print the `info` document.
    Info,
    /// Check an endpoint without touching data (our extension).
    Validate,
    /// Stream a backup to stdout.
    Backup,
    /// Read a backup from stdin and put it back.
    Restore,
    /// Store stdin; print `{"key": ...}`.
    Store,
    /// Stream the blob under `--key` to stdout.
    Retrieve,
    /// Remove the blob under `--key`.
    Purge,
    /// Remove whatever an unfinished `store` left behind for the upload `--key` (our extension;
    /// see [`UPLOAD_ENV`]).
    Abandon,
    /// Read a backup from stdin and check that the endpoint's data holds it (our extension:
    /// restore drills). Exit 0 when it does; exit 4 naming what differs.
    Verify,
    /// Remove the data a restore put into the endpoint (our extension: only ever called on a
    /// drill's scratch target, after the drill).
    Wipe,
}

/// The environment variable that names an upload: Bulwark sets it for `store` (our extension),
/// and a store that leaves partial data when it is killed can tie that data to this id, so a
/// later `abandon --key ID` removes it. Plugins that know nothing of it ignore it.
pub const UPLOAD_ENV: &str = "BULWARK_UPLOAD_ID";

/// A plugin that moves the data itself (no stream through Bulwark, such as the repository
/// store's directory-tree backup and restore) may report how far it is with stderr lines
/// `bulwark-progress: BYTES`, the bytes done so far (our extension). The runner takes such a line
/// as the task's progress and keeps it out of the task log; plugins that know nothing of it
/// never print it.
pub const PROGRESS_PREFIX: &str = "bulwark-progress: ";

/// The bytes a [`PROGRESS_PREFIX`] line reports, if `line` is one.
pub fn progress_line(line: &str) -> Option<u64> {
    line.trim_end()
        .strip_prefix(PROGRESS_PREFIX)
        .and_then(|n| n.parse().ok())
}

impl Action {
    /// Every action.
    pub const ALL: &'static [Action] = &[
        Action::Info,
        Action::Validate,
        Action::Backup,
        Action::Restore,
        Action::Store,
        Action::Retrieve,
        Action::Purge,
        Action::Abandon,
        Action::Verify,
        Action::Wipe,
    ];

    /// The word on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Info => "info",
            Action::Validate => "validate",
            Action::Backup => "backup",
            Action::Restore => "restore",
            Action::Store => "store",
            Action::Retrieve => "retrieve",
            Action::Purge => "purge",
            Action::Abandon => "abandon",
            Action::Verify => "verify",
            Action::Wipe => "wipe",
        }
    }

    /// True for the actions that need `--key`.
    pub fn needs_key(self) -> bool {
        matches!(self, Action::Retrieve | Action::Purge | Action::Abandon)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action '{s}'"))
    }
}

/// The exit codes of `PROTOCOL.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok,
    /// 1: bad flags, no action, extra arguments.
    Usage,
    /// 2: the plugin does not support this action.
    Unsupported,
    /// 3: an external tool the plugin runs failed.
    ExternalTool,
    /// 4: any other failure.
    Failure,
    /// 10: `--endpoint` is not a JSON object.
    EndpointNotObject,
    /// 11: `retrieve` or `purge` without `--key`.
    MissingKey,
    /// 12: a required endpoint key is missing.
    MissingEndpointKey,
    /// 13: an endpoint key has the wrong type.
    WrongEndpointType,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Usage => 1,
            Exit::Unsupported => 2,
            Exit::ExternalTool => 3,
            Exit::Failure => 4,
            Exit::EndpointNotObject => 10,
            Exit::MissingKey => 11,
            Exit::MissingEndpointKey => 12,
            Exit::WrongEndpointType => 13,
        }
    }

    /// The meaning of a process exit code, for task logs.
    pub fn describe(code: i32) -> &'static str {
        match code {
            0 => "success",
            1 => "usage error",
            2 => "action not supported",
            3 => "an external tool failed",
            4 => "plugin failure",
            10 => "endpoint is not a JSON object",
            11 => "no --key given",
            12 => "a required endpoint key is missing",
            13 => "an endpoint key has the wrong type",
            _ => "unknown exit code",
        }
    }
}

/// `features` of the `info` document: what the plugin can be used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    /// Usable as a target (`"yes"`/`"no"`).
    #[serde(serialize_with = "yes_no_out", deserialize_with = "yes_no_in")]
    pub target: bool,
    /// Usable as a store (`"yes"`/`"no"`).
    #[serde(serialize_with = "yes_no_out", deserialize_with = "yes_no_in")]
    pub store: bool,
    /// Our extension, `"endpoint": "env"`: the plugin reads its endpoint from the environment
    /// variable `BULWARK_PLUGIN_ENDPOINT`, so the runner leaves it off the command line (where
    /// `ps` shows it to every user). Absent (or `"argv"`): `--endpoint JSON`, as the protocol
    /// says.
    #[serde(
        rename = "endpoint",
        default,
        skip_serializing_if = "is_false",
        serialize_with = "via_out",
        deserialize_with = "via_in"
    )]
    pub endpoint_env: bool,
}

impl Features {
    /// True when the plugin takes its endpoint from the environment.
    pub fn endpoint_in_env(&self) -> bool {
        self.endpoint_env
    }
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn via_out<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *v { "env" } else { "argv" })
}

fn via_in<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match String::deserialize(d)?.as_str() {
        "env" => Ok(true),
        "argv" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "features.endpoint must be \"env\" or \"argv\", not \"{other}\""
        ))),
    }
}

fn yes_no_out<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *v { "yes" } else { "no" })
}

fn yes_no_in<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match String::deserialize(d)?.as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "a feature must be \"yes\" or \"no\", not \"{other}\""
        ))),
    }
}

/// One endpoint key a plugin understands (our extension to `info`): drives validation, forms and
/// redaction (`type: password` is a secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The endpoint key.
    pub name: String,
    /// `string`, `bool`, `port`, `abspath`, `password`, `enum`, `list`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// A short label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// What it means.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// An example value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// The value used when the key is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Whether the endpoint must have it.
    #[serde(default)]
    pub required: bool,
}

/// The `info` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Human-readable name.
    pub name: String,
    /// Who maintains it.
    pub author: String,
    /// Its version.
    pub version: String,
    /// What it can be used as.
    pub features: Features,
    /// The endpoint keys it understands (optional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

impl PluginInfo {
    /// Parses what a plugin's `info` printed: one JSON object with name, author, version and
    /// features; other keys are ignored.
    pub fn parse(stdout: &[u8]) -> Result<PluginInfo, String> {
        serde_json::from_slice(stdout)
            .map_err(|e| format!("info did not print a valid info document: {e}"))
    }

    /// The endpoint keys that hold secrets.
    pub fn secret_fields(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.kind == "password")
            .map(|f| f.name.clone())
            .collect()
    }
}

/// What `store` prints: at least the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreOutput {
    /// Opaque key for `retrieve` and `purge`.
    pub key: String,
    /// Bytes the store keeps for this archive, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_size: Option<u64>,
    /// Bytes the store grew by for this archive (our extension; the repository store says it,
    /// after deduplication and compression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<u64>,
}

impl StoreOutput {
    /// Parses what `store` printed. Anything but exactly one JSON object with a non-empty string
    /// `key` is refused: stray output would otherwise be saved as the key.
    pub fn parse(stdout: &[u8]) -> Result<StoreOutput, String> {
        let text = std::str::from_utf8(stdout)
            .map_err(|_| "store printed bytes that are not UTF-8".to_string())?;
        let out: StoreOutput = serde_json::from_str(text.trim())
            .map_err(|e| format!("store did not print one JSON object with a key: {e}"))?;
        if out.key.trim().is_empty() {
            return Err("store printed an empty key".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_round_trip_and_yes_no() {
        let text = r#"{"name":"My Redis Plugin","author":"Joe","version":"1.0.0",
                       "features":{"target":"yes","store":"no"},"_mine":1}"#;
        let info = PluginInfo::parse(text.as_bytes()).unwrap();
        assert!(info.features.target && !info.features.store);
        let back = serde_json::to_value(&info).unwrap();
        assert_eq!(back["features"]["target"], "yes");
        assert_eq!(back["features"]["store"], "no");
        let bad =
            r#"{"name":"x","author":"y","version":"1","features":{"target":true,"store":"no"}}"#;
        assert!(
            PluginInfo::parse(bad.as_bytes())
                .unwrap_err()
                .contains("invalid type")
        );
        let bad =
            r#"{"name":"x","author":"y","version":"1","features":{"target":"YES","store":"no"}}"#;
        assert!(
            PluginInfo::parse(bad.as_bytes())
                .unwrap_err()
                .contains("\"yes\" or \"no\"")
        );
    }

    #[test]
    fn store_output_must_be_one_object_with_a_key() {
        assert_eq!(
            StoreOutput::parse(b"{\"key\":\"abc\",\"archive_size\":12}\n").unwrap(),
            StoreOutput {
                key: "abc".into(),
                archive_size: Some(12),
                added: None,
            }
        );
        for junk in [
            &b"hello"[..],
            b"",
            b"{}",
            b"{\"key\":\"\"}",
            b"{\"key\":1}",
            b"{\"key\":\"a\"}{\"key\":\"b\"}",
            b"\xff",
        ] {
            assert!(StoreOutput::parse(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn actions_and_exit_codes() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(*a));
        }
        assert!("backupp".parse::<Action>().is_err());
        assert_eq!(Exit::MissingKey.code(), 11);
        assert_eq!(Exit::describe(13), "an endpoint key has the wrong type");
    }
}
