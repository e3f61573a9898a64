//! Rotating the agent's key, asked by the core over an authenticated session: the agent makes
//! a new key beside the old (`agent_ed25519.next`), the core pins it, and the agent then makes
//! it its key. Sessions open keep the key they were made with; the next connection uses the
//! new one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::tasks::Tasks;
use super::{KEY_FILE, identity};

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
