//! The daemon's master key, which seals the secrets Bulwark makes for its stores (repository
//! passwords, stream keys) before they go into the catalog.
//!
//! The key is either 32 random bytes in `master.key` in the data directory (mode 0600, made at
//! first start), or derived with scrypt from a passphrase (`[secrets] passphrase`, or
//! `BULWARK_SECRETS__PASSPHRASE`) and a random salt kept in `master.salt`. `master.check` holds
//! a sealed known text, so a daemon started with another key or passphrase refuses to start
//! instead of failing later on every store.
//!
//! A sealed value is `v1:` and the base64 of a 12-byte nonce followed by ChaCha20-Poly1305
//! ciphertext.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "master.key";
const SALT_FILE: &str = "master.salt";
const CHECK_FILE: &str = "master.check";
const CHECK_TEXT: &str = "bulwark master key check";

/// Seals and opens store secrets.
#[derive(Clone)]
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault")
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

impl Vault {
    /// Loads (or, at first start, makes) the master key of `data_dir`.
    pub fn load(data_dir: &Path, passphrase: Option<&str>) -> Result<Vault, String> {
        let key = match passphrase {
            Some(p) if !p.is_empty() => {
                let salt_path = data_dir.join(SALT_FILE);
                if !salt_path.exists() {
                    let salt: [u8; 16] = rand_bytes();
                    write_private(&salt_path, &hex(&salt))?;
                }
                let salt = read_private(&salt_path)?;
                let params = scrypt::Params::new(15, 8, 1, 32)
                    .map_err(|e| format!("scrypt parameters: {e}"))?;
                let mut key = [0u8; 32];
                scrypt::scrypt(p.as_bytes(), salt.trim().as_bytes(), &params, &mut key)
                    .map_err(|e| format!("deriving the master key failed: {e}"))?;
                key
            }
            _ => {
                let path = data_dir.join(KEY_FILE);
                if !path.exists() {
                    write_private(&path, &hex(&rand_bytes::<32>()))?;
                }
                hex32(&read_private(&path)?, &path)?
            }
        };
        let vault = Vault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        };
        let check = data_dir.join(CHECK_FILE);
        if check.exists() {
            let sealed = read_private(&check)?;
            match vault.open(sealed.trim()) {
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
            write_private(&check, &vault.seal(CHECK_TEXT))?;
        }
        Ok(vault)
    }

    /// Seals a secret for the catalog.
    pub fn seal(&self, plain: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption of an in-memory buffer cannot fail for inputs this small.
        let ct = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .unwrap_or_default();
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        format!(
            "v1:{}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    /// Opens a sealed secret.
    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let body = sealed
            .strip_prefix("v1:")
            .ok_or_else(|| "not a sealed secret".to_string())?;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "a sealed secret is damaged".to_string())?;
        if blob.len() < 12 + 16 {
            return Err("a sealed secret is damaged".into());
        }
        let (nonce, ct) = blob.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| "a sealed secret does not open with this master key".to_string())?;
        String::from_utf8(plain).map_err(|_| "a sealed secret is damaged".to_string())
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
    fn passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::load(dir.path(), Some("correct horse")).unwrap();
        let s = v.seal("x");
        let again = Vault::load(dir.path(), Some("correct horse")).unwrap();
        assert_eq!(again.open(&s).unwrap(), "x");
        assert!(Vault::load(dir.path(), Some("wrong")).is_err());
    }
}
