//! Agents: requests and answers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// An agent as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Its name, as it introduced itself (or as the admin named it).
    pub name: String,
    /// The `ip:port` targets name it by in their `agent` field.
    #[schema(example = "10.0.0.5:5444")]
    pub address: String,
    /// `listen` (the core dials it) or `dial` (it dials the core).
    pub mode: String,
    /// Its key's SHA-256 fingerprint, as `ssh-keygen -l` prints it.
    #[schema(example = "SHA256:t1Vh0sRk8cJ7m2dOe3S9uMXbV1yZl8QeH0k5TqJgB4c")]
    pub fingerprint: String,
    /// Its key, OpenSSH format.
    pub public_key: String,
    /// `pending` (seen, not yet approved), `approved` or `revoked`.
    pub status: String,
    /// True while a session with it is open.
    pub online: bool,
    /// Its Bulwark version, when last seen.
    pub version: String,
    /// The plugins it offers, each with its `info`.
    pub plugins: serde_json::Value,
    /// When a session with it last began (UTC).
    pub last_seen: Option<String>,
    /// Why the last attempt to reach it failed.
    pub last_error: String,
    /// Bytes the core and the agent exchanged since the daemon started, both ways: task
    /// orders and events only, since the data goes between the agent and the store.
    pub link_bytes: u64,
}

/// `POST /v1/agents`: first contact with a listen-mode agent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// Where it listens, `host:port`.
    #[schema(example = "10.0.0.5:5444", min_length = 3, max_length = 300)]
    pub address: String,
    /// A name for it; what it calls itself when absent.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: Option<String>,
}

/// `POST /v1/agent/{uuid}/approve`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveAgent {
    /// The fingerprint the agent prints (`bulwark agent --fingerprint` on its host); it must
    /// be the key the core saw.
    #[schema(
        example = "SHA256:t1Vh0sRk8cJ7m2dOe3S9uMXbV1yZl8QeH0k5TqJgB4c",
        max_length = 100
    )]
    pub fingerprint: String,
}

/// `POST /v1/agent-tokens`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentToken {
    /// The address the agent is enrolled at: what targets name in their `agent` field.
    #[schema(example = "db1.internal:5444", min_length = 3, max_length = 300)]
    pub address: String,
    /// Seconds the token is valid (60 to 30 days; one hour when absent).
    #[serde(default)]
    #[schema(minimum = 60, maximum = 2592000)]
    pub expires_in: Option<i64>,
}

/// A new enrollment token: shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentTokenResponse {
    /// The token: give it to the agent (`bulwark agent --token`). It carries the core key's
    /// fingerprint, which the agent pins.
    pub token: String,
    /// The address it enrolls.
    pub address: String,
    /// When it expires (UTC).
    pub expires_at: String,
    /// The core key's fingerprint, to compare.
    pub core_fingerprint: String,
}

/// `POST /v1/agents/rotate-core-key`
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateCoreKey {
    /// Rotate even when some approved agents cannot be reached; they then refuse the core
    /// until the new key is authorized on their hosts by hand.
    #[serde(default)]
    pub force: bool,
}

/// An approved agent that could not take the core's new key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnreachedAgent {
    /// The agent's name.
    pub agent: String,
    /// Why.
    pub error: String,
}

/// The core's key after a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CoreKeyRotated {
    /// The new key, OpenSSH format (also at `/v1/meta/pubkey` from now on).
    pub public_key: String,
    /// Its fingerprint.
    #[schema(example = "SHA256:t1Vh0sRk8cJ7m2dOe3S9uMXbV1yZl8QeH0k5TqJgB4c")]
    pub fingerprint: String,
    /// The old key's fingerprint.
    pub previous_fingerprint: String,
    /// Agents that authorized the new key and forgot the old one.
    pub updated: Vec<String>,
    /// Agents that could not be reached (a forced rotation): authorize the new key on them
    /// with `bulwark agent --authorize KEY --expect FINGERPRINT`.
    pub unreached: Vec<UnreachedAgent>,
}
