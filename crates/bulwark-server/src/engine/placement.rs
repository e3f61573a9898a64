//! Where a target's tasks run. `local` is the daemon's own host; so is a loopback address no
//! agent is enrolled at (what targets said before agents existed). Any other address names an
//! agent: with none enrolled there the task fails saying how to enroll one; with one enrolled,
//! it fails too, because this version enrolls agents but does not yet run tasks on them (it
//! never runs a task meant for another host on its own).

use bulwark_catalog::Target;
use bulwark_core::validate::LOCAL_AGENT;

use super::Engine;

/// True when `address` is on the loopback interface.
fn loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// `Ok` when the target's tasks run on this host; otherwise the line that says why not.
pub(super) async fn on_this_host(e: &Engine, target: &Target) -> Result<(), String> {
    let agent = target.agent.as_str();
    if agent == LOCAL_AGENT {
        return Ok(());
    }
    match e.catalog().agent_by_address(agent).await {
        Ok(Some(a)) => Err(format!(
            "Failed: target '{}' is reached through agent '{}' at {agent}, and this version does not run tasks on agents yet; set the target's agent to local to run its tasks on the daemon's host.",
            target.name, a.name
        )),
        Ok(None) if loopback(agent) => Ok(()),
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
