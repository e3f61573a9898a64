//! Where a target's tasks run. `local` is the daemon's own host; so is a loopback address no
//! agent is enrolled at (what targets said before agents existed). Any other address names an
//! agent: with none enrolled there the task fails saying how to enroll one; a pending or revoked
//! agent fails it too. A task meant for another host never runs on the daemon's own.

use bulwark_catalog::{Agent, Target};
use bulwark_core::validate::LOCAL_AGENT;

use super::Engine;

/// True when `address` is on the loopback interface.
fn loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// Where a task runs.
pub(super) enum Place {
    /// On the daemon's host.
    Here,
    /// On this approved agent.
    Agent(Box<Agent>),
}

/// Where the target's tasks run; the line that says why they cannot run anywhere.
pub(super) async fn place(e: &Engine, target: &Target) -> Result<Place, String> {
    let agent = target.agent.as_str();
    if agent == LOCAL_AGENT {
        return Ok(Place::Here);
    }
    match e.catalog().agent_by_address(agent).await {
        Ok(Some(a)) if a.status == "approved" => Ok(Place::Agent(Box::new(a))),
        Ok(Some(a)) => Err(format!(
            "Failed: target '{}' is reached through agent '{}' at {agent}, which is {}.",
            target.name, a.name, a.status
        )),
        Ok(None) if loopback(agent) => Ok(Place::Here),
        Ok(None) => Err(format!(
            "Failed: target '{}' names agent {agent}, and no agent is enrolled there: enroll one (`bulwark agent-token create --address {agent}` for an agent that dials in, POST /v1/agents for one that listens), or set the target's agent to local.",
            target.name
        )),
        Err(err) => Err(format!("Failed: the catalog: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn loopback_addresses_are_this_host() {
        for a in [
            "127.0.0.1:5444",
            "127.1.2.3:1",
            "localhost:5444",
            "[::1]:5444",
        ] {
            assert!(loopback(a), "{a}");
        }
        for a in ["10.0.0.5:5444", "db1:5444", "[2001:db8::1]:5444", "local"] {
            assert!(!loopback(a), "{a}");
        }
    }
}
