//! Rotating the core's own key without losing an agent: every approved agent first authorizes
//! the next key beside the current one (asked over a session the current key opened), then the
//! core takes it, then each agent forgets the old one. An agent that cannot be reached would
//! refuse the new key at its next connection, so the rotation stops, changing nothing, unless
//! forced; a forced rotation names the agents to authorize by hand.

use std::path::Path;
use std::sync::Arc;

use bulwark_link::PublicKey;
use serde_json::json;

use super::{Contact, Hub};
use crate::keys::KEY_FILE;

const NEXT_FILE: &str = "core_ed25519.next";

/// A finished rotation of the core's key.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreRotation {
    /// The key before.
    pub old: PublicKey,
    /// The key now.
    pub new: PublicKey,
    /// Agents that authorized the new key and forgot the old one.
    pub updated: Vec<String>,
    /// Agents that could not be reached (a forced rotation): each with why.
    pub unreached: Vec<(String, String)>,
}

impl Hub {
    /// Asks the agent to take (`/agent/v1/cores`) or forget (`.../forget`) a core key.
    async fn tell(
        &self,
        agent: &bulwark_catalog::Agent,
        path: &str,
        key: &PublicKey,
    ) -> Result<(), String> {
        let session = self.session(agent).await.map_err(|e| e.to_string())?;
        match session
            .request(
                "POST",
                path,
                Some(&json!({ "public_key": key.to_openssh() })),
            )
            .await
        {
            Ok((200, _)) => Ok(()),
            Ok((status, body)) => Err(format!("it answered HTTP {status}: {body}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Rotates the core's key, keeping its files in `data_dir`: see the module's
    /// documentation.
    pub async fn rotate_core(&self, data_dir: &Path, force: bool) -> Result<CoreRotation, Contact> {
        let _one = self.inner.rotating.lock().await;
        let fail = |m: String| Contact::Failed(m);
        let old = self.key();
        let next_path = data_dir.join(NEXT_FILE);
        let _ = std::fs::remove_file(&next_path);
        let next = bulwark_link::load_or_create(&next_path, "bulwark-core")
            .map_err(|e| fail(format!("the next key could not be made: {e}")))?;
        let new = next.public();
        let agents = self
            .inner
            .catalog
            .list_agents()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut updated = Vec::new();
        let mut unreached = Vec::new();
        for a in agents.iter().filter(|a| a.status == "approved") {
            match self.tell(a, "/agent/v1/cores", &new).await {
                Ok(()) => updated.push(a),
                Err(e) => unreached.push((a.name.clone(), e)),
            }
        }
        if !unreached.is_empty() && !force {
            for a in &updated {
                let _ = self.tell(a, "/agent/v1/cores/forget", &new).await;
            }
            let _ = std::fs::remove_file(&next_path);
            let names: Vec<String> = unreached
                .iter()
                .map(|(n, why)| format!("'{n}' ({why})"))
                .collect();
            return Err(Contact::Taken(format!(
                "the core's key was not rotated: {} could not authorize the new key and would refuse this core afterwards; bring them online and try again, or force the rotation and authorize the new key on them by hand",
                names.join(", ")
            )));
        }
        std::fs::rename(&next_path, data_dir.join(KEY_FILE))
            .map_err(|e| fail(format!("the new key could not be put in place: {e}")))?;
        *self
            .inner
            .me
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        tracing::info!(old = %old, new = %new, "The core's key was rotated.");
        for a in &updated {
            if let Err(e) = self.tell(a, "/agent/v1/cores/forget", &old).await {
                tracing::warn!(agent = %a.name, error = %e, "An agent still authorizes the core's old key.");
            }
        }
        Ok(CoreRotation {
            old,
            new,
            updated: updated.iter().map(|a| a.name.clone()).collect(),
            unreached,
        })
    }
}
