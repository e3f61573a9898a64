//! Rotating the agent's key, and taking the core's next key when the core rotates its own.
//!
//! Rotating the agent's key, asked by the core over an authenticated session: the agent makes
//! a new key beside the old (`agent_ed25519.next`), the core pins it, and the agent then makes
//! it its key. Sessions open keep the key they were made with; the next connection uses the
//! new one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::tasks::Tasks;
use super::{KEY_FILE, identity};
use bulwark_link::PublicKey;

const NEXT_FILE: &str = "agent_ed25519.next";

/// The public key of an agent's next key.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct NextKey {
    /// OpenSSH format.
    pub public_key: String,
}

/// `POST /agent/v1/key/next`: makes the next key (a new one each time) and answers its public
/// half.
pub(super) async fn next(State(t): State<Tasks>) -> Result<Json<NextKey>, (StatusCode, String)> {
    let path = t.config.data_dir.join(NEXT_FILE);
    let _ = std::fs::remove_file(&path);
    let made = bulwark_link::load_or_create(&path, &format!("bulwark-agent {}", t.config.name))
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(NextKey {
        public_key: made.public().to_openssh(),
    }))
}

/// `POST /agent/v1/key/commit`: the core pinned the next key; it becomes the agent's key.
pub(super) async fn commit(
    State(t): State<Tasks>,
    Json(key): Json<NextKey>,
) -> Result<StatusCode, (StatusCode, String)> {
    let next = t.config.data_dir.join(NEXT_FILE);
    let made = bulwark_link::load_or_create(&next, "unused")
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if made.public().to_openssh() != key.public_key.trim() {
        return Err((
            StatusCode::CONFLICT,
            "that is not this agent's next key".into(),
        ));
    }
    std::fs::rename(&next, t.config.data_dir.join(KEY_FILE))
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let now =
        identity(&t.config).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    tracing::info!(key = %now.public(), "The agent's key was rotated.");
    println!("bulwark agent: key rotated; it is now {}", now.public());
    Ok(StatusCode::OK)
}

/// A core key, in OpenSSH format.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CoreKey {
    /// OpenSSH format.
    pub public_key: String,
}

fn parse(key: &CoreKey) -> Result<PublicKey, (StatusCode, String)> {
    PublicKey::from_openssh(key.public_key.trim())
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("not a core key: {e}")))
}

/// `POST /agent/v1/cores`: the core, rotating its key, has the agent authorize its next key
/// beside the current one.
pub(super) async fn add_core(
    State(t): State<Tasks>,
    Json(key): Json<CoreKey>,
) -> Result<StatusCode, (StatusCode, String)> {
    let key = parse(&key)?;
    let added = super::authorize(&t.config, &key)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if added {
        tracing::info!(key = %key, "The core's next key is authorized.");
        println!("bulwark agent: the core's next key {key} is authorized");
    }
    Ok(StatusCode::OK)
}

/// `POST /agent/v1/cores/forget`: the core has its new key; its old one is no longer
/// authorized. The last authorized key is never removed.
pub(super) async fn forget_core(
    State(t): State<Tasks>,
    Json(key): Json<CoreKey>,
) -> Result<StatusCode, (StatusCode, String)> {
    let key = parse(&key)?;
    let removed = super::forget(&t.config, &key)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if removed {
        tracing::info!(key = %key, "A core key is no longer authorized.");
        println!("bulwark agent: the core key {key} is no longer authorized");
    }
    Ok(StatusCode::OK)
}
