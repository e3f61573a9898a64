//! Verifiers that accept exactly the pinned keys: no names, no dates, no CA.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, PeerIncompatible, SignatureScheme};

use crate::PublicKey;

/// The keys one end accepts from the other. Shared: the core adds an agent's key when it is
/// enrolled and removes it when it is revoked, and connections made after that see the change.
#[derive(Debug, Clone, Default)]
pub struct Pins {
    keys: Arc<RwLock<BTreeSet<PublicKey>>>,
    /// Keys accepted by fingerprint (an agent joining with a token knows only the core's).
    fingerprints: Arc<RwLock<BTreeSet<String>>>,
    /// Any key: the handshake still proves the other end holds it, and the caller decides what
    /// that key may do (the core's port for dial-out agents, which enroll or are refused).
    any: bool,
}

impl Pins {
    /// Pins these keys.
    pub fn of(keys: impl IntoIterator<Item = PublicKey>) -> Pins {
        Pins {
            keys: Arc::new(RwLock::new(keys.into_iter().collect())),
            ..Pins::default()
        }
    }

    /// Pins the key with this fingerprint (`SHA256:...`).
    pub fn fingerprint(fingerprint: &str) -> Pins {
        Pins {
            fingerprints: Arc::new(RwLock::new([fingerprint.to_string()].into())),
            ..Pins::default()
        }
    }

    /// Accepts any ed25519 key that the other end proves it holds; see [`crate::peer_key`].
    pub fn any() -> Pins {
        Pins {
            any: true,
            ..Pins::default()
        }
    }

    /// Accepts this key from now on.
    pub fn add(&self, key: PublicKey) {
        self.write().insert(key);
    }

    /// Refuses this key from now on.
    pub fn remove(&self, key: &PublicKey) {
        self.write().remove(key);
    }

    /// True when the key is pinned.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.any
            || self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(key)
            || self
                .fingerprints
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&key.fingerprint())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeSet<PublicKey>> {
        self.keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a presented raw public key; the error names it and what is pinned.
    fn check(&self, presented: &[u8], who: &str) -> Result<(), Error> {
        let key = PublicKey::from_spki(presented).ok_or_else(|| {
            Error::General(format!("the {who} presented a key that is not ed25519"))
        })?;
        if self.contains(&key) {
            return Ok(());
        }
        let mut pinned: Vec<String> = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(PublicKey::fingerprint)
            .collect();
        pinned.extend(
            self.fingerprints
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        Err(Error::General(format!(
            "the {who} presented key {key}, which is not pinned here (pinned: {})",
            if pinned.is_empty() {
                "none".to_string()
            } else {
                pinned.join(", ")
            }
        )))
    }
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms
}

fn tls13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    verify_tls13_signature_with_raw_key(
        message,
        &SubjectPublicKeyInfoDer::from(cert.as_ref()),
        dss,
        &algorithms(),
    )
}

/// The client's check of the server.
#[derive(Debug)]
pub(crate) struct PinnedServer(Pins);

impl PinnedServer {
    pub(crate) fn new(pins: Pins) -> Self {
        PinnedServer(pins)
    }
}

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.0.check(end_entity.as_ref(), "other end")?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(PeerIncompatible::Tls12NotOffered.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// The server's check of the client.
#[derive(Debug)]
pub(crate) struct PinnedClient(Pins);

impl PinnedClient {
    pub(crate) fn new(pins: Pins) -> Self {
        PinnedClient(pins)
    }
}

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.0.check(end_entity.as_ref(), "other end")?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(PeerIncompatible::Tls12NotOffered.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}
