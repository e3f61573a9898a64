//! The link between the core and its agents: TLS 1.3 in which each end presents its ed25519 key
//! as an RFC 7250 raw public key, and accepts the other end only when its key is pinned.
//!
//! Keys, not certificates, are pinned (a renewed certificate never breaks a link, and nothing
//! depends on names, dates or a CA). The identities are the OpenSSH ed25519 keys Bulwark already
//! has: the core's `core_ed25519` (served at `/v1/meta/pubkey`) and each agent's own. Who opens
//! the TCP connection does not decide who is the TLS client: a dial-out agent is the TLS client
//! of a connection it opened, a listening agent the TLS server, and both check the same pins.
//!
//! Only TLS 1.3 is offered (no TLS 1.2, so no renegotiation), with no session resumption and no
//! early data: every connection proves both keys afresh.

mod counted;
pub mod files;
mod keys;
pub mod session;
mod verify;

pub use counted::Counted;
pub use files::{FileError, load_or_create, read_authorized};
pub use keys::{Identity, KeyError, PublicKey};
pub use session::{Hello, Keepalive, Lines, Session, SessionError, Welcome};
pub use verify::Pins;

use std::sync::Arc;

use rustls::client::AlwaysResolvesClientRawPublicKeys;
use rustls::server::AlwaysResolvesServerRawPublicKeys;
use rustls::{ClientConfig, ServerConfig};

/// The TLS versions the link speaks: 1.3 only.
static VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The TLS client side: presents `me`, accepts a server whose key is in `pins`.
pub fn client_config(me: &Identity, pins: Pins) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verify::PinnedServer::new(pins)))
        .with_client_cert_resolver(Arc::new(AlwaysResolvesClientRawPublicKeys::new(
            me.certified_key()?,
        )));
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_early_data = false;
    Ok(config)
}

/// The TLS server side: presents `me`, accepts a client whose key is in `pins`.
pub fn server_config(me: &Identity, pins: Pins) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_client_cert_verifier(Arc::new(verify::PinnedClient::new(pins)))
        .with_cert_resolver(Arc::new(AlwaysResolvesServerRawPublicKeys::new(
            me.certified_key()?,
        )));
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
    Ok(config)
}

/// The key the other end presented on an established connection.
pub fn peer_key(conn: &rustls::CommonState) -> Option<PublicKey> {
    conn.peer_certificates()
        .and_then(|c| c.first())
        .and_then(|der| PublicKey::from_spki(der.as_ref()))
}
