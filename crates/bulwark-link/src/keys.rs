//! Ed25519 identities: an OpenSSH private key as TLS sees it, and public keys as people see
//! them (`SHA256:...`, the fingerprint `ssh-keygen -l` prints).

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use ssh_key::{Algorithm, HashAlg, PrivateKey};

/// The DER of an ed25519 SubjectPublicKeyInfo up to its 32 key bytes (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// The DER of an ed25519 PKCS#8 private key up to its 32 seed bytes (RFC 8410).
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A key that cannot serve as an identity.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not an OpenSSH key.
    #[error("not an OpenSSH key: {0}")]
    Format(#[from] ssh_key::Error),
    /// Not ed25519.
    #[error("the key is {0}, not ed25519")]
    Algorithm(String),
}

/// An ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Reads an OpenSSH public key line (`ssh-ed25519 AAAA... comment`).
    pub fn from_openssh(line: &str) -> Result<PublicKey, KeyError> {
        let key = ssh_key::PublicKey::from_openssh(line.trim())?;
        match key.key_data().ed25519() {
            Some(k) => Ok(PublicKey(k.0)),
            None => Err(KeyError::Algorithm(key.algorithm().to_string())),
        }
    }

    /// The key as a TLS raw public key (an ed25519 SubjectPublicKeyInfo).
    pub fn spki(&self) -> Vec<u8> {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        der
    }

    /// Reads a SubjectPublicKeyInfo; `None` unless it is exactly an ed25519 one.
    pub fn from_spki(der: &[u8]) -> Option<PublicKey> {
        let key = der.strip_prefix(&SPKI_PREFIX[..])?;
        Some(PublicKey(key.try_into().ok()?))
    }

    /// `SHA256:` and the unpadded base64 of the SHA-256 of the key's OpenSSH encoding, as
    /// `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        ssh_key::public::KeyData::Ed25519(ssh_key::public::Ed25519PublicKey(self.0))
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    /// The key in OpenSSH format.
    pub fn to_openssh(&self) -> String {
        ssh_key::PublicKey::from(ssh_key::public::KeyData::Ed25519(
            ssh_key::public::Ed25519PublicKey(self.0),
        ))
        .to_openssh()
        .unwrap_or_default()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// An ed25519 key pair that identifies one end of a link.
pub struct Identity {
    seed: [u8; 32],
    public: PublicKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.public)
    }
}

impl Identity {
    /// Reads an OpenSSH private key (the text of `core_ed25519` or an agent's key file).
    pub fn from_openssh(text: &str) -> Result<Identity, KeyError> {
        let key = PrivateKey::from_openssh(text)?;
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(KeyError::Algorithm(key.algorithm().to_string()));
        }
        let pair = key
            .key_data()
            .ed25519()
            .ok_or_else(|| KeyError::Algorithm(key.algorithm().to_string()))?;
        Ok(Identity {
            seed: pair.private.to_bytes(),
            public: PublicKey(pair.public.0),
        })
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The key and its raw public key, as rustls presents them.
    pub(crate) fn certified_key(&self) -> Result<Arc<CertifiedKey>, rustls::Error> {
        let mut pkcs8 = PKCS8_PREFIX.to_vec();
        pkcs8.extend_from_slice(&self.seed);
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8));
        let signer = rustls::crypto::aws_lc_rs::sign::any_eddsa_type(match &der {
            PrivateKeyDer::Pkcs8(p) => p,
            _ => return Err(rustls::Error::General("not a PKCS#8 key".into())),
        })?;
        Ok(Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(self.public.spki())],
            signer,
        )))
    }
}
