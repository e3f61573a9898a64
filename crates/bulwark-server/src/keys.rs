//! The daemon's own key pair.
//!
//! At first start the daemon makes an ed25519 key pair and keeps the private key in its data
//! directory (`core_ed25519`, OpenSSH format, mode 0600). Agents authorize the public key, which
//! the API serves at `/v1/meta/pubkey` in OpenSSH format.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, LineEnding, PrivateKey};

/// The private key's file name inside the data directory.
pub const KEY_FILE: &str = "core_ed25519";

/// A key pair that could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The key file is not an OpenSSH private key.
    #[error("{path} is not a readable OpenSSH ed25519 private key: {source}")]
    Format {
        /// The key file.
        path: PathBuf,
        /// What failed.
        source: ssh_key::Error,
    },
    /// The key file can be read by other users.
    #[error("{path} is readable by other users (mode {mode:o}); run chmod 600 on it")]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

/// Loads the daemon's key pair from `data_dir`, making it first if there is none, and returns
/// the public key in OpenSSH format (`ssh-ed25519 AAAA... bulwark-core`).
pub fn load_or_create(data_dir: &Path) -> Result<String, KeyError> {
    let path = data_dir.join(KEY_FILE);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    let fmt = |source| KeyError::Format {
        path: path.clone(),
        source,
    };
    let key = if path.exists() {
        let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path, mode });
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        PrivateKey::from_openssh(text).map_err(fmt)?
    } else {
        let mut key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519).map_err(fmt)?;
        key.set_comment("bulwark-core");
        let pem = key.to_openssh(LineEnding::LF).map_err(fmt)?;
        write_private(&path, pem.as_bytes()).map_err(io)?;
        key
    };
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(KeyError::Format {
            path,
            source: ssh_key::Error::AlgorithmUnknown,
        });
    }
    key.public_key().to_openssh().map_err(fmt)
}

/// Writes a file readable only by its owner, atomically: a temporary file, fsync, rename.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reloads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        assert!(first.starts_with("ssh-ed25519 AAAA"), "{first}");
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load_or_create(dir.path()).unwrap(), first);
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        write_private(&dir.path().join(KEY_FILE), b"not a key").unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a readable OpenSSH"), "{err}");
    }
}
