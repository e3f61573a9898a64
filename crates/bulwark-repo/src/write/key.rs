//! The key file of the repositories Bulwark creates.
//!
//! rustic_core writes key files with scrypt at its recommended cost (N = 2^17, r = 8): 128 MiB
//! of memory at every opening, which was most of a backup's or restore's peak. The password of a
//! repository store is 256 random bits that Bulwark made, so no key-derivation cost changes how
//! hard it is to guess; Bulwark's key files use N = 2^12 (4 MiB, a few milliseconds). Restic and
//! rustic read any N from the key file.

use std::sync::Arc;

use rustic_core::jiff::Zoned;
use rustic_core::repofile::{KeyFile, KeyId, MasterKey};
use rustic_core::{FileType, Id, WriteBackend};

use super::seal::{Sealer, hash};
use crate::repo::{Result, said};

/// log2 of scrypt's N in the key files Bulwark writes.
pub const KEY_LOG_N: u8 = 12;

/// Writes a key file that opens `master` with `password`, then removes the key file `old`.
pub fn rekey(
    be: &Arc<dyn WriteBackend>,
    master: &MasterKey,
    password: &str,
    old: Option<&KeyId>,
) -> Result<()> {
    let (r, p) = (8, 1);
    let params =
        scrypt::Params::new(KEY_LOG_N, r, p).map_err(|e| format!("bad key parameters: {e}"))?;
    let mut salt = [0u8; 64];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
    let mut derived = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut derived)
        .map_err(|e| format!("the key cannot be derived: {e}"))?;
    let json = serde_json::to_vec(master).map_err(|e| format!("the key cannot be made: {e}"))?;
    let data = Sealer::from_bytes(&derived).seal(&json)?;
    let file = KeyFile {
        hostname: None,
        username: None,
        created: Some(Zoned::now()),
        kdf: "scrypt".into(),
        n: 1 << KEY_LOG_N,
        r,
        p,
        data,
        salt: salt.to_vec(),
    };
    let bytes = serde_json::to_vec(&file).map_err(|e| format!("the key cannot be made: {e}"))?;
    let id = Id::new(hash(&bytes));
    be.write_bytes(FileType::Key, &id, false, bytes.into())
        .map_err(said("the key file cannot be written"))?;
    if let Some(old) = old {
        be.remove(FileType::Key, old, false)
            .map_err(said("the first key file cannot be removed"))?;
    }
    Ok(())
}
