//! The core's side of its agents: the port dial-out agents connect to, first contact with
//! listen-mode agents, and the live sessions with both.
//!
//! An agent is known by its ed25519 key. A dial-out agent joins with a single-use enrollment
//! token (`bulwark agent-token create`) that also tells it the core's key; a listen-mode agent is
//! recorded `pending` at first contact and used only once an admin approves it, giving its key's
//! fingerprint. A revoked agent is refused at its next handshake, and its session is closed at
//! once. Several agents behind one address, and an agent whose address changes, keep their
//! identities: the address an agent connects from is never looked at.

mod core_key;
mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

use bulwark_catalog::{Agent, Catalog, NewAgent, Redeemed};
use bulwark_core::clock::Clock;
use bulwark_core::ids::AgentId;
use bulwark_link::session::{read_line, write_line};
use bulwark_link::{Counted, Hello, Identity, Keepalive, Pins, PublicKey, Session, Welcome};

pub use core_key::CoreRotation;
pub use token::{make_token, parse_token};

/// How long an introduction may take.
const INTRODUCTION: Duration = Duration::from_secs(10);

/// The core's agents: its identity and the sessions it holds.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hub({})", self.key())
    }
}

struct Inner {
    /// The core's key: replaced when it is rotated; each new connection takes the current one.
    me: std::sync::RwLock<Arc<Identity>>,
    /// Held while the core's key is rotated: one rotation at a time.
    rotating: tokio::sync::Mutex<()>,
    catalog: Catalog,
    clock: Arc<dyn Clock>,
    keepalive: Keepalive,
    sessions: Mutex<HashMap<AgentId, Session>>,
    /// Bytes exchanged with each agent since the daemon started, both ways.
    traffic: Mutex<HashMap<AgentId, Arc<AtomicU64>>>,
}

impl Hub {
    /// A hub for the core with this identity.
    pub fn new(me: Identity, catalog: Catalog, clock: Arc<dyn Clock>, keepalive: Keepalive) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                me: std::sync::RwLock::new(Arc::new(me)),
                rotating: tokio::sync::Mutex::new(()),
                catalog,
                clock,
                keepalive,
                sessions: Mutex::new(HashMap::new()),
                traffic: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The core's key.
    pub fn key(&self) -> PublicKey {
        self.me().public()
    }

    /// The core's identity now.
    fn me(&self) -> Arc<Identity> {
        self.inner
            .me
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now().timestamp()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, Session>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counter of bytes exchanged with an agent.
    fn traffic(&self, id: AgentId) -> Arc<AtomicU64> {
        self.inner
            .traffic
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(id)
            .or_default()
            .clone()
    }

    /// Bytes exchanged with the agent since the daemon started, both ways.
    pub fn link_bytes(&self, id: AgentId) -> u64 {
        self.traffic(id).load(Ordering::Relaxed)
    }

    /// True while a session with the agent is open.
    pub fn online(&self, id: AgentId) -> bool {
        self.sessions().get(&id).is_some_and(|s| !s.is_closed())
    }

    /// Closes the agent's session (revoked or deleted).
    pub fn drop_session(&self, id: AgentId) {
        self.sessions().remove(&id);
    }

    /// Accepts dial-out agents on `listener` until `stop`.
    pub async fn listen(self, listener: TcpListener, stop: CancellationToken) {
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot accept an agent's connection.");
                        continue;
                    }
                },
                () = stop.cancelled() => break,
            };
            let hub = self.clone();
            tokio::spawn(async move {
                if let Err(e) = hub.accept(tcp).await {
                    tracing::warn!(%peer, error = %e, "An agent's connection was refused.");
                }
            });
        }
    }

    /// One dial-out agent's connection: who it is, whether it may stay, then its session.
    async fn accept(&self, tcp: TcpStream) -> Result<(), String> {
        let config =
            bulwark_link::server_config(&self.me(), Pins::any()).map_err(|e| e.to_string())?;
        let mut tls = tokio::time::timeout(
            INTRODUCTION,
            TlsAcceptor::from(Arc::new(config)).accept(tcp),
        )
        .await
        .map_err(|_| "no TLS handshake within 10 s".to_string())?
        .map_err(|e| format!("TLS handshake: {e}"))?;
        let key = bulwark_link::peer_key(tls.get_ref().1).ok_or("no key presented")?;
        let hello: Hello = tokio::time::timeout(INTRODUCTION, read_line(&mut tls))
            .await
            .map_err(|_| "no introduction within 10 s".to_string())?
            .map_err(|e| e.to_string())?;
        let verdict = self.admit(&key, &hello).await;
        let welcome = match &verdict {
            Ok(id) => Welcome {
                ok: true,
                agent: Some(id.to_string()),
                error: None,
            },
            Err(why) => Welcome {
                ok: false,
                agent: None,
                error: Some(why.clone()),
            },
        };
        write_line(&mut tls, &welcome)
            .await
            .map_err(|e| e.to_string())?;
        let id = verdict?;
        let session = Session::open(Counted::new(tls, self.traffic(id)), self.inner.keepalive)
            .await
            .map_err(|e| e.to_string())?;
        self.started(id, session).await;
        Ok(())
    }

    /// Decides whether the agent with `key` may have a session: enrolled and approved, or
    /// enrolling now with a valid token.
    async fn admit(&self, key: &PublicKey, hello: &Hello) -> Result<AgentId, String> {
        let openssh = key.to_openssh();
        let known = self
            .inner
            .catalog
            .agent_by_key(&openssh)
            .await
            .map_err(|e| e.to_string())?;
        match known {
            Some(a) if a.status == "approved" => return Ok(a.uuid),
            Some(a) if a.status == "revoked" => {
                return Err(format!(
                    "agent '{}' ({key}) was revoked on this core; enroll it again with a new key",
                    a.name
                ));
            }
            Some(a) => {
                return Err(format!(
                    "agent '{}' ({key}) waits for an admin's approval: bulwark agent approve {} --fingerprint {key}",
                    a.name, a.uuid
                ));
            }
            None => {}
        }
        let Some(token) = &hello.token else {
            return Err(format!(
                "this agent's key {key} is not enrolled on this core: make a token with `bulwark agent-token create --address IP:PORT` and start the agent with it"
            ));
        };
        let secret = parse_token(token)
            .map(|t| t.secret)
            .ok_or("the enrollment token is malformed")?;
        match self
            .inner
            .catalog
            .redeem_agent_token(&token::hash(&secret), &hello.name, &openssh, self.now())
            .await
            .map_err(|e| e.to_string())?
        {
            Redeemed::Enrolled(id) => {
                tracing::info!(agent = %id, name = %hello.name, %key, "Agent enrolled.");
                Ok(id)
            }
            Redeemed::Unknown => Err("the enrollment token is not known to this core".into()),
            Redeemed::Used => Err("the enrollment token was used already; make a new one".into()),
            Redeemed::Expired => Err("the enrollment token expired; make a new one".into()),
            Redeemed::Taken(why) => Err(format!("the enrollment token cannot be used: {why}")),
        }
    }

    /// A session began: what the agent says of itself is recorded, and it is the agent's
    /// session from now on (a newer one displaces an older).
    async fn started(&self, id: AgentId, session: Session) {
        let (version, plugins) = match session.request("GET", "/agent/v1/info", None).await {
            Ok((200, info)) => (
                info["version"].as_str().map(str::to_string),
                Some(info["plugins"].to_string()),
            ),
            _ => (None, None),
        };
        if let Err(e) = self
            .inner
            .catalog
            .agent_seen(id, self.now(), version.as_deref(), plugins.as_deref(), "")
            .await
        {
            tracing::error!(agent = %id, error = %e, "Cannot record an agent's session.");
        }
        tracing::info!(agent = %id, "Agent session open.");
        self.sessions().insert(id, session);
    }

    /// Rotates an approved agent's key: the agent makes a new key, the core pins it, the agent
    /// makes it its own. Returns the new key. The session open stays; the next uses the new key.
    pub async fn rotate(&self, agent: &Agent) -> Result<PublicKey, Contact> {
        let session = self.session(agent).await?;
        let fail = |m: String| Contact::Failed(m);
        let (status, next) = session
            .request("POST", "/agent/v1/key/next", None)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if status != 200 {
            return Err(fail(format!(
                "agent '{}' could not make a new key (HTTP {status}): {next}",
                agent.name
            )));
        }
        let line = next["public_key"].as_str().unwrap_or_default().to_string();
        let key = PublicKey::from_openssh(&line).map_err(|e| fail(e.to_string()))?;
        let catalog = &self.inner.catalog;
        catalog
            .set_agent_key(agent.uuid, &key.to_openssh())
            .await
            .map_err(|e| match e {
                bulwark_catalog::CatalogError::Conflict(why) => Contact::Taken(why),
                other => fail(other.to_string()),
            })?;
        let commit = serde_json::json!({ "public_key": key.to_openssh() });
        match session
            .request("POST", "/agent/v1/key/commit", Some(&commit))
            .await
        {
            Ok((200, _)) => Ok(key),
            other => {
                // The agent kept its old key: pin it again.
                let _ = catalog.set_agent_key(agent.uuid, &agent.public_key).await;
                Err(fail(format!(
                    "agent '{}' did not take its new key ({other:?}); it keeps the old one",
                    agent.name
                )))
            }
        }
    }

    /// First contact with a listen-mode agent at `address`: the core dials it, learns its key
    /// and records it `pending`. The agent must have authorized the core's key.
    pub async fn register(&self, address: &str, name: Option<&str>) -> Result<AgentId, Contact> {
        let (mut tls, key) = self.dial(address, Pins::any()).await?;
        let hello: Hello = tokio::time::timeout(INTRODUCTION, read_line(&mut tls))
            .await
            .map_err(|_| {
                Contact::Failed(format!("the agent at {address} said nothing within 10 s"))
            })?
            .map_err(|e| self.refused(address, &e.to_string()))?;
        let made = self
            .inner
            .catalog
            .create_agent(
                &NewAgent {
                    name: name.map_or(hello.name.clone(), str::to_string),
                    address: address.to_string(),
                    mode: "listen",
                    public_key: key.to_openssh(),
                    status: "pending",
                },
                self.now(),
            )
            .await;
        let waiting = Welcome {
            ok: false,
            agent: None,
            error: Some("recorded; waiting for an admin's approval on the core".into()),
        };
        let _ = write_line(&mut tls, &waiting).await;
        made.map_err(|e| match e {
            bulwark_catalog::CatalogError::Conflict(why) => Contact::Taken(why),
            other => Contact::Failed(other.to_string()),
        })
    }

    /// The session with an approved agent: the open one, or for a listen-mode agent a new
    /// one, dialed with its key pinned.
    pub async fn session(&self, agent: &Agent) -> Result<Session, Contact> {
        if let Some(s) = self.sessions().get(&agent.uuid).filter(|s| !s.is_closed()) {
            return Ok(s.clone());
        }
        if agent.status != "approved" {
            return Err(Contact::Failed(format!(
                "agent '{}' is {}",
                agent.name, agent.status
            )));
        }
        if agent.mode != "listen" {
            return Err(Contact::Failed(format!(
                "agent '{}' is not connected; it dials this core itself",
                agent.name
            )));
        }
        let pinned = PublicKey::from_openssh(&agent.public_key)
            .map_err(|e| Contact::Failed(format!("its recorded key: {e}")))?;
        let result = async {
            let (mut tls, _) = self.dial(&agent.address, Pins::of([pinned])).await?;
            let _: Hello = tokio::time::timeout(INTRODUCTION, read_line(&mut tls))
                .await
                .map_err(|_| Contact::Failed("the agent said nothing within 10 s".into()))?
                .map_err(|e| self.refused(&agent.address, &e.to_string()))?;
            let welcome = Welcome {
                ok: true,
                agent: Some(agent.uuid.to_string()),
                error: None,
            };
            write_line(&mut tls, &welcome)
                .await
                .map_err(|e| Contact::Failed(e.to_string()))?;
            Session::open(
                Counted::new(tls, self.traffic(agent.uuid)),
                self.inner.keepalive,
            )
            .await
            .map_err(|e| Contact::Failed(e.to_string()))
        }
        .await;
        match result {
            Ok(session) => {
                self.started(agent.uuid, session.clone()).await;
                Ok(session)
            }
            Err(e) => {
                let _ = self
                    .inner
                    .catalog
                    .agent_seen(agent.uuid, self.now(), None, None, &e.to_string())
                    .await;
                Err(e)
            }
        }
    }

    /// What a failure while the link is set up means: an alert from the agent is its refusal of
    /// the core's key (TLS 1.3 tells a client so only at its first read).
    fn refused(&self, address: &str, error: &str) -> Contact {
        if error.contains("alert") {
            Contact::Failed(format!(
                "the agent at {address} refused this core's key {}: authorize it on the agent's host with `bulwark agent --authorize KEY --expect {}` (the key is at /v1/meta/pubkey)",
                self.key(),
                self.key()
            ))
        } else {
            Contact::Failed(format!("the link with {address} failed: {error}"))
        }
    }

    /// Dials `address` as the TLS client; the agent's key must pass `pins`.
    async fn dial(
        &self,
        address: &str,
        pins: Pins,
    ) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, PublicKey), Contact> {
        let tcp = tokio::time::timeout(INTRODUCTION, TcpStream::connect(address))
            .await
            .map_err(|_| Contact::Failed(format!("no answer from {address} within 10 s")))?
            .map_err(|e| Contact::Failed(format!("cannot reach {address}: {e}")))?;
        let config = bulwark_link::client_config(&self.me(), pins)
            .map_err(|e| Contact::Failed(e.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from("bulwark-agent")
            .map_err(|e| Contact::Failed(e.to_string()))?;
        let tls = tokio::time::timeout(
            INTRODUCTION,
            TlsConnector::from(Arc::new(config)).connect(name, tcp),
        )
        .await
        .map_err(|_| Contact::Failed(format!("no TLS handshake with {address} within 10 s")))?
        .map_err(|e| self.refused(address, &format!("TLS: {e}")))?;
        let key = bulwark_link::peer_key(tls.get_ref().1)
            .ok_or_else(|| Contact::Failed("the agent presented no key".into()))?;
        Ok((tls, key))
    }
}

/// Why an agent could not be reached or recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// It could not be reached, or refused.
    Failed(String),
    /// Its address or key is recorded for another agent.
    Taken(String),
}

impl std::fmt::Display for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Contact::Failed(s) | Contact::Taken(s) => f.write_str(s),
        }
    }
}
