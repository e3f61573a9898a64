//! The key files of a link: an end's own private key (made at first use, mode 0600, in OpenSSH
//! format) and an agent's authorized cores (OpenSSH public key lines, as `authorized_keys`).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, LineEnding, PrivateKey};

use crate::{Identity, KeyError, PublicKey};

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Its content is not a usable key.
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeyError,
    },
    /// A line of an authorized-cores file is not an ed25519 public key.
    #[error("{path} line {line}: {source}")]
    Line {
        /// The file.
        path: PathBuf,
        /// Its line number, from 1.
        line: usize,
        /// What is wrong.
        source: KeyError,
    },
    /// A private key others can read.
    #[error("{path} is readable by other users (mode {mode:o}); run chmod 600 on it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
}

/// Reads the private key at `path`, making one (with `comment`) if there is none.
pub fn load_or_create(path: &Path, comment: &str) -> Result<Identity, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let key = |source| FileError::Key {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(FileError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        return Identity::from_openssh(&std::fs::read_to_string(path).map_err(io)?).map_err(key);
    }
    let mut made = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)
        .map_err(|e| key(KeyError::Format(e)))?;
    made.set_comment(comment);
    let text = made
        .to_openssh(LineEnding::LF)
        .map_err(|e| key(KeyError::Format(e)))?;
    // Written whole under a temporary name, then renamed: never a half-written key.
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Identity::from_openssh(&text).map_err(key)
}

/// Reads an authorized-cores file: one OpenSSH public key per line; blank lines and lines
/// starting with `#` are skipped. Anything else is an error that names the line: a file that
/// holds an HTML error page (SHIELD's BOSH job appended those) is refused, never half-used.
pub fn read_authorized(path: &Path) -> Result<Vec<PublicKey>, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_authorized(&text).map_err(|(line, source)| FileError::Line {
        path: path.to_path_buf(),
        line,
        source,
    })
}

/// The keys of an authorized-cores file's text, or the first bad line (from 1) and why.
pub fn parse_authorized(text: &str) -> Result<Vec<PublicKey>, (usize, KeyError)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(n, l)| PublicKey::from_openssh(l).map_err(|e| (n + 1, e)))
        .collect()
}
