//! The daemon's master key, which seals every secret before it goes into the catalog: the
//! secret values of target and store endpoints, repository passwords and stream keys.
//!
//! The key is either 32 random bytes in `master.key` in the data directory (mode 0600, made at
//! first start), or derived with scrypt from a passphrase (`[secrets] passphrase`, or
//! `BULWARK_SECRETS__PASSPHRASE`) and a random salt kept in `master.salt`. `master.check` holds
//! a sealed known text, so a daemon started with another key or passphrase refuses to start
//! instead of failing later on every store.
//!
//! A sealed value is `v2:KEYID:` and the base64 of a 12-byte nonce followed by ChaCha20-Poly1305
//! ciphertext, whose associated data names what the value is (an endpoint key, a store secret),
//! so a sealed value cannot be moved to another field unnoticed. `KEYID` is the first 8 hex
//! digits of the key's SHA-256: `bulwark secrets rotate` (see [`crate::rotate`]) reseals
//! everything under a new key, and the id says which key a value needs. Values of older
//! versions (`v1:`, no key id, no associated data) still open.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "master.key";
/// The salt of a passphrase-derived key.
pub const SALT_FILE: &str = "master.salt";
/// The sealed known text that says which key the data directory uses.
pub const CHECK_FILE: &str = "master.check";
const CHECK_TEXT: &str = "bulwark master key check";
/// What a store's own secret is sealed as.
pub const STORE_SECRET: &str = "store secret";

/// One key: its id and its cipher.
#[derive(Clone)]
struct SealKey {
    id: String,
    cipher: ChaCha20Poly1305,
}

impl SealKey {
    fn new(key: &[u8; 32]) -> SealKey {
        let id = hex(&Sha256::digest(key)[..4]);
        SealKey {
            id,
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }
}

/// Seals and opens secrets: with the current key, and (during a rotation) opens with older
/// ones.
#[derive(Clone)]
pub struct Vault {
    current: SealKey,
    older: Vec<SealKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.current.id)
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_private(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by other users (mode {mode:o}); run chmod 600 on it",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn hex32(text: &str, path: &Path) -> Result<[u8; 32], String> {
    let bad = || format!("{} does not hold 64 hex digits", path.display());
    let text = text.trim();
    if text.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key of a passphrase and a salt (scrypt, N=2^15, r=8, p=1).
pub fn derive(passphrase: &str, salt: &str) -> Result<[u8; 32], String> {
    let params =
        scrypt::Params::new(15, 8, 1, 32).map_err(|e| format!("scrypt parameters: {e}"))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(
        passphrase.as_bytes(),
        salt.trim().as_bytes(),
        &params,
        &mut key,
    )
    .map_err(|e| format!("deriving the master key failed: {e}"))?;
    Ok(key)
}

/// Writes a private file through a new file renamed into place.
pub fn replace_private(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, text)?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a new private file (mode 0600); it must not exist.
pub fn new_private(path: &Path, text: &str) -> Result<(), String> {
    write_private(path, text)
}

/// Reads a private file, refusing one that other users can read.
pub fn private(path: &Path) -> Result<String, String> {
    read_private(path)
}

/// 32 random bytes as 64 hex digits (a new key file's text).
pub fn new_key_text() -> String {
    hex(&rand_bytes::<32>())
}

/// A new random salt (32 hex digits).
pub fn new_salt_text() -> String {
    hex(&rand_bytes::<16>())
}

/// Parses a key file's text.
pub fn key_from_text(text: &str, path: &Path) -> Result<[u8; 32], String> {
    hex32(text, path)
}

impl Vault {
    /// A vault of one key.
    pub fn from_key(key: &[u8; 32]) -> Vault {
        Vault {
            current: SealKey::new(key),
            older: Vec::new(),
        }
    }

    /// This vault, also able to open what `other`'s keys sealed.
    pub fn also_opening(mut self, other: &Vault) -> Vault {
        self.older.push(other.current.clone());
        self.older.extend(other.older.iter().cloned());
        self
    }

    /// The current key's id.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Loads (or, at first start, makes) the master key of `data_dir`.
    pub fn load(data_dir: &Path, passphrase: Option<&str>) -> Result<Vault, String> {
        for next in [crate::rotate::NEXT_KEY, crate::rotate::NEXT_SALT] {
            if data_dir.join(next).exists() {
                return Err(format!(
                    "a master key rotation in {} was interrupted ({next} is there); run `bulwark secrets rotate` again to finish it",
                    data_dir.display()
                ));
            }
        }
        let key = match passphrase {
            Some(p) if !p.is_empty() => {
                let salt_path = data_dir.join(SALT_FILE);
                if !salt_path.exists() {
                    write_private(&salt_path, &new_salt_text())?;
                }
                derive(p, &read_private(&salt_path)?)?
            }
            _ => {
                let path = data_dir.join(KEY_FILE);
                if !path.exists() {
                    write_private(&path, &new_key_text())?;
                }
                hex32(&read_private(&path)?, &path)?
            }
        };
        let vault = Vault::from_key(&key);
        let check = data_dir.join(CHECK_FILE);
        if check.exists() {
            let sealed = read_private(&check)?;
            match vault.open_as(sealed.trim(), CHECK_TEXT) {
                Ok(t) if t == CHECK_TEXT => {}
                _ => {
                    return Err(format!(
                        "the master key does not match the one this data directory's secrets were sealed with ({}); start with the same {}",
                        data_dir.display(),
                        if passphrase.is_some() {
                            "passphrase"
                        } else {
                            "master.key file (or set the passphrase it was started with)"
                        }
                    ));
                }
            }
        } else {
            write_private(&check, &vault.check_text())?;
        }
        Ok(vault)
    }

    /// The text of `master.check` for this vault's key.
    pub fn check_text(&self) -> String {
        self.seal_as(CHECK_TEXT, CHECK_TEXT)
    }

    /// Seals a store's secret for the catalog.
    pub fn seal(&self, plain: &str) -> String {
        self.seal_as(plain, STORE_SECRET)
    }

    /// Opens a store's secret.
    pub fn open(&self, sealed: &str) -> Result<String, String> {
        self.open_as(sealed, STORE_SECRET)
    }

    /// Seals `plain` as the value `what` (the associated data: it must be named again to open).
    pub fn seal_as(&self, plain: &str, what: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption of an in-memory buffer cannot fail for inputs this small.
        let ct = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: what.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!(
            "v2:{}:{}",
            self.current.id,
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    /// Opens a value sealed as `what`, with whichever of the vault's keys its id names.
    pub fn open_as(&self, sealed: &str, what: &str) -> Result<String, String> {
        let damaged = || "a sealed secret is damaged".to_string();
        let (keys, body, aad): (Vec<&SealKey>, &str, &[u8]) =
            if let Some(rest) = sealed.strip_prefix("v2:") {
                let (id, body) = rest.split_once(':').ok_or_else(damaged)?;
                let key = std::iter::once(&self.current)
                    .chain(&self.older)
                    .find(|k| k.id == id)
                    .ok_or_else(|| {
                        format!(
                            "a sealed secret needs master key {id}, and this one is {}",
                            self.current.id
                        )
                    })?;
                (vec![key], body, what.as_bytes())
            } else if let Some(body) = sealed.strip_prefix("v1:") {
                // Before key ids: try each key, without associated data.
                (
                    std::iter::once(&self.current).chain(&self.older).collect(),
                    body,
                    b"",
                )
            } else {
                return Err("not a sealed secret".into());
            };
        let blob = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| damaged())?;
        if blob.len() < 12 + 16 {
            return Err(damaged());
        }
        let (nonce, ct) = blob.split_at(12);
        for key in keys {
            if let Ok(plain) = key
                .cipher
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            {
                return String::from_utf8(plain).map_err(|_| damaged());
            }
        }
        Err("a sealed secret does not open with this master key".into())
    }
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A random password for a new repository: 32 bytes, hex.
pub fn new_password() -> String {
    hex(&rand_bytes::<32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_seal_open_and_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::load(dir.path(), None).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let s = v.seal("hunter2");
        assert!(!s.contains("hunter2"));
        assert_eq!(v.open(&s).unwrap(), "hunter2");
        // The same key again opens it.
        assert_eq!(
            Vault::load(dir.path(), None).unwrap().open(&s).unwrap(),
            "hunter2"
        );
        // A passphrase is another key: refused at load.
        let err = Vault::load(dir.path(), Some("pass")).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
        // A damaged value is refused.
        let mut bad = s.clone();
        bad.pop();
        bad.push('A');
        assert!(v.open(&bad).is_err());
    }

    #[test]
    fn values_carry_the_key_id_and_what_they_are() {
        let a = Vault::from_key(&[1; 32]);
        let b = Vault::from_key(&[2; 32]);
        assert_ne!(a.key_id(), b.key_id());
        let s = a.seal_as("hunter2", "endpoint password");
        assert!(s.starts_with(&format!("v2:{}:", a.key_id())), "{s}");
        assert_eq!(a.open_as(&s, "endpoint password").unwrap(), "hunter2");
        // Moved to another field: refused.
        assert!(a.open_as(&s, "endpoint token").is_err());
        // Another key: refused, saying which key it needs.
        let err = b.open_as(&s, "endpoint password").unwrap_err();
        assert!(err.contains(a.key_id()), "{err}");
        // During a rotation the new vault opens the old values too.
        let both = b.clone().also_opening(&a);
        assert_eq!(both.open_as(&s, "endpoint password").unwrap(), "hunter2");
        assert!(both.seal("x").contains(b.key_id()));
    }

    #[test]
    fn version_1_values_still_open() {
        let key = [7u8; 32];
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut blob = nonce.to_vec();
        blob.extend(cipher.encrypt(&nonce, b"old secret".as_ref()).unwrap());
        let v1 = format!(
            "v1:{}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        );
        assert_eq!(Vault::from_key(&key).open(&v1).unwrap(), "old secret");
    }

    #[test]
    fn passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::load(dir.path(), Some("correct horse")).unwrap();
        let s = v.seal("x");
        let again = Vault::load(dir.path(), Some("correct horse")).unwrap();
        assert_eq!(again.open(&s).unwrap(), "x");
        assert!(Vault::load(dir.path(), Some("wrong")).is_err());
    }
}
