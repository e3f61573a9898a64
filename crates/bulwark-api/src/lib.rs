//! The wire types of Bulwark's `/v1` HTTP API, field for field as seed 003 defines them, plus the
//! additions that sit beside them (`priority`, `status`, `next_run`, `task_uuid`, ...).
//!
//! The daemon serializes these; the CLI and the agent deserialize them. Request types reject
//! unknown fields, so a typo in a request is a 400 instead of a silently ignored setting.
//!
//! Times are strings `YYYY-MM-DD HH:MM:SS` in UTC, as the seed shows them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

mod agents;
mod auth;
mod jobs;
mod notify;
mod resources;
mod retention;
mod schelly;
mod steps;

/// A whole number, written as JSON writes numbers: `3600` or `3600.0` (JSON Schema's
/// `integer` allows both), but not `3600.5`.
pub(crate) fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of seconds"
        ))),
    }
}
/// As [`integral`], for an optional field (`null` or absent: none).
pub(crate) fn integral_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "integral")] i64);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

pub use agents::*;
pub use auth::*;
pub use jobs::*;
pub use notify::*;
pub use resources::*;
pub use retention::*;
pub use schelly::*;
pub use steps::*;

/// `{"ok": "..."}`: what an update, delete, pause or unpause did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OkResponse {
    /// `updated`, `deleted`, `paused`, `unpaused`, `canceled`.
    #[schema(example = "updated")]
    pub ok: String,
}

/// `{"ok": "created", "uuid": ...}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedResponse {
    /// Always `created`.
    #[schema(example = "created")]
    pub ok: String,
    /// The new record's UUID.
    pub uuid: Uuid,
    /// What the plugin's `validate` found that may be temporary (an unreachable host, a wrong
    /// password): the record was made anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `{"ok": "scheduled", "task_uuid": ...}`: a task was queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduledResponse {
    /// Always `scheduled`.
    #[schema(example = "scheduled")]
    pub ok: String,
    /// The queued task, to follow with `GET /v1/task/{uuid}`.
    pub task_uuid: Uuid,
}

/// `{"error": "what is wrong"}`, with status 400, 404, 405, 409 or 500.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// What is wrong, in one sentence.
    pub error: String,
}

/// An endpoint document as a request may send it: SHIELD's JSON-encoded string
/// (`"{\"base_dir\":\"/srv\"}"`), or, for convenience, the JSON object itself. Either way it must
/// be a JSON object, and the API answers with the string form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EndpointInput {
    /// A JSON object encoded as a string, as SHIELD's API writes it.
    Text(String),
    /// The JSON object itself.
    Object(serde_json::Map<String, serde_json::Value>),
}

impl EndpointInput {
    /// The endpoint as a JSON string.
    pub fn into_text(self) -> String {
        match self {
            EndpointInput::Text(s) => s,
            EndpointInput::Object(m) => serde_json::Value::Object(m).to_string(),
        }
    }
}

/// `GET /v1/status`: whether the daemon and its catalog are healthy. Without a login only
/// `health` is answered; the rest needs one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    /// `ok` when everything answers, `degraded` otherwise.
    pub health: String,
    /// The daemon's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the daemon started (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Seconds since it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// The time zone schedules are evaluated in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `normal`, or `dev` when every schedule fires every minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The catalog's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogStatus>,
    /// What the operator should fix (listening beyond loopback without TLS, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How many of the caller's jobs have each health (`ok`, `late`, `failing`, `never`,
    /// `paused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<std::collections::BTreeMap<String, u64>>,
    /// The jobs that need attention (late, failing, never backed up), as `name: health`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attention: Vec<String>,
}

/// The catalog part of `/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CatalogStatus {
    /// `sqlite`.
    pub kind: String,
    /// True when it answered a query.
    pub ok: bool,
    /// The newest migration applied.
    pub schema_version: Option<i64>,
    /// What failed, when it did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /v1/plugin/{name}/validate`: an endpoint to check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The endpoint, as a JSON object or as a string holding one.
    /// (A JSON object. SHIELD's JSON-encoded string of one is accepted too.)
    #[schema(value_type = Object)]
    pub endpoint: EndpointInput,
}

/// What a plugin's `validate` said of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidateResponse {
    /// True when the endpoint can work, false when it cannot, null when the plugin has no
    /// `validate` (exit 2: validation unavailable, not failed).
    pub valid: Option<bool>,
    /// The plugin's exit, as a phrase.
    pub exit: String,
    /// What it printed (stderr, then stdout), secrets hidden.
    pub output: String,
}

/// `GET /v1/plugins` and `GET /v1/plugin/{name}`: an installed plugin and what its `info` says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginResponse {
    /// The name jobs use (`plugin` of a target or store).
    pub name: String,
    /// `builtin` or `external`.
    pub kind: String,
    /// The executable, for external plugins.
    pub path: Option<String>,
    /// `info`'s human-readable name.
    pub title: Option<String>,
    /// `info`'s author.
    pub author: Option<String>,
    /// `info`'s version.
    pub version: Option<String>,
    /// `info`'s features: `{"target": "yes"|"no", "store": "yes"|"no"}`.
    #[schema(value_type = Object)]
    pub features: Option<serde_json::Value>,
    /// `info`'s endpoint fields, when it describes them.
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<serde_json::Value>,
    /// Why `info` failed, when it did; such a plugin cannot be used.
    pub error: Option<String>,
}
