//! The restic format's encryption (AES-256-CTR with a Poly1305-AES MAC: nonce, ciphertext,
//! tag) and compression, done by Bulwark's own writer with the repository's master key.

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use aes256ctr_poly1305aes::aead::{Aead, AeadInPlace, Nonce};
use rand::Rng;
use rustic_core::repofile::MasterKey;
use sha2::{Digest, Sha256};

use crate::repo::Result;

/// Bytes sealing adds: the nonce and the tag.
pub const OVERHEAD: usize = 32;

/// The repository's data key.
pub struct Sealer {
    cipher: Aes256CtrPoly1305Aes,
    secret: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The key of an opened repository.
    pub fn new(master: &MasterKey) -> Result<Self> {
        let (e, k, r) = (&master.encrypt, &master.mac.k, &master.mac.r);
        if e.len() != 32 || k.len() != 16 || r.len() != 16 {
            return Err("the repository's master key has an unexpected shape".into());
        }
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(e);
        key[32..48].copy_from_slice(k);
        key[48..].copy_from_slice(r);
        Ok(Self::from_bytes(&key))
    }

    /// A key of 64 bytes: 32 for AES-256-CTR, 16 for the MAC's AES-128, 16 for its `r`.
    pub fn from_bytes(key: &[u8; 64]) -> Self {
        let cipher = Aes256CtrPoly1305Aes::new(aes256ctr_poly1305aes::Key::from_slice(key));
        // A secret of this repository for other uses (the chunker's table), not the key itself.
        let secret: [u8; 32] = Sha256::new()
            .chain_update(b"bulwark repository secret v1\0")
            .chain_update(key)
            .finalize()
            .into();
        Self { cipher, secret }
    }

    /// A secret derived from the master key, for keying the chunker.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// Appends `plain`, sealed, to `out`; returns the sealed length.
    pub fn seal_into(&self, plain: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        let mut nonce = Nonce::<Aes256CtrPoly1305Aes>::default();
        rand::rng().fill_bytes(&mut nonce);
        let start = out.len();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let tag = self
            .cipher
            .encrypt_in_place_detached(&nonce, &[], &mut out[start + 16..])
            .map_err(|_| "encryption failed".to_string())?;
        out.extend_from_slice(&tag);
        Ok(out.len() - start)
    }

    /// `plain`, sealed.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
        self.seal_into(plain, &mut out)?;
        Ok(out)
    }

    /// Checks the tag and decrypts.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return Err("a sealed object is too short".into());
        }
        let nonce = Nonce::<Aes256CtrPoly1305Aes>::from_slice(&sealed[..16]);
        self.cipher
            .decrypt(nonce, &sealed[16..])
            .map_err(|_| "a sealed object does not authenticate (damaged, or another key)".into())
    }

    /// Checks the tag and decrypts in place; the plain bytes are then the returned range of
    /// `buf` (between the nonce and the tag).
    pub fn open_slice(&self, buf: &mut [u8]) -> Result<std::ops::Range<usize>> {
        if buf.len() < OVERHEAD {
            return Err("a sealed object is too short".into());
        }
        let n = buf.len();
        let (nonce, rest) = buf.split_at_mut(16);
        let (body, tag) = rest.split_at_mut(n - OVERHEAD);
        self.cipher
            .decrypt_in_place_detached(
                Nonce::<Aes256CtrPoly1305Aes>::from_slice(nonce),
                &[],
                body,
                aes256ctr_poly1305aes::aead::Tag::<Aes256CtrPoly1305Aes>::from_slice(tag),
            )
            .map_err(|_| "a sealed object does not authenticate (damaged, or another key)")?;
        Ok(16..n - 16)
    }

    /// A repository file (index, snapshot) as the restic format stores it in a version 2
    /// repository: the JSON behind a version byte 2 and zstd, sealed.
    pub fn file(&self, json: &[u8], level: i32) -> Result<Vec<u8>> {
        let mut plain = vec![2u8];
        zstd::stream::copy_encode(json, &mut plain, level)
            .map_err(|e| format!("compression failed: {e}"))?;
        self.seal(&plain)
    }

    /// A repository file's JSON: opened, and decompressed when it is compressed.
    pub fn read_file(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        let plain = self.open(sealed)?;
        match plain.first() {
            Some(b'{' | b'[') => Ok(plain),
            Some(2) => zstd::stream::decode_all(&plain[1..])
                .map_err(|e| format!("a repository file does not decompress: {e}")),
            _ => Err("a repository file is in an unknown format".into()),
        }
    }
}

/// SHA-256, the restic format's id of blobs and files.
pub fn hash(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::new()
    }

    #[test]
    fn sealed_data_opens_and_damage_is_caught() {
        let s = Sealer::new(&key()).unwrap();
        let sealed = s.seal(b"some data").unwrap();
        assert_eq!(sealed.len(), 9 + OVERHEAD);
        assert_eq!(s.open(&sealed).unwrap(), b"some data");
        let mut buf = sealed.clone();
        let plain = s.open_slice(&mut buf).unwrap();
        assert_eq!(&buf[plain], b"some data");
        let mut bad = sealed.clone();
        bad[20] ^= 1;
        assert!(s.open(&bad).is_err());
        assert!(s.open_slice(&mut bad.clone()).is_err());
        let other = Sealer::new(&key()).unwrap();
        assert!(other.open(&sealed).is_err(), "another key must not open it");
        let file = s.file(br#"{"a":1}"#, 3).unwrap();
        assert_eq!(s.read_file(&file).unwrap(), br#"{"a":1}"#);
    }
}
