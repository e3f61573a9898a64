//! Master key rotation, `bulwark secrets rotate`: every sealed value of the catalog is opened
//! with the old key and sealed with a new one in one transaction, with the daemon stopped.
//!
//! The new key is written first (`master.key.next`, or for a passphrase `master.salt.next`), so
//! a rotation cut short by a crash is finished by running the command again: until then the
//! daemon refuses to start, saying so. The order: new key file; the catalog resealed (one
//! transaction, the write-ahead log checkpointed); `master.check` for the new key; the new key
//! file renamed over the old one.

use std::fs::File;
use std::path::Path;

use bulwark_catalog::Catalog;

use crate::config::Config;
use crate::sealing;
use crate::vault::{self, CHECK_FILE, KEY_FILE, SALT_FILE, Vault};

/// The new key file while a rotation runs.
pub const NEXT_KEY: &str = "master.key.next";
/// The new salt while a rotation to a new passphrase runs.
pub const NEXT_SALT: &str = "master.salt.next";

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The old key's id.
    pub old_id: String,
    /// The new key's id.
    pub new_id: String,
    /// Targets and stores whose values were resealed.
    pub rows: usize,
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Rotates the master key of `config`'s data directory. With a passphrase configured,
/// `new_passphrase` is the one to derive the new key from (and to put in the configuration
/// afterwards); with a key file, a new random key is made.
pub async fn rotate(config: &Config, new_passphrase: Option<&str>) -> Result<Rotated, String> {
    let dir = &config.data_dir;
    let lock =
        File::create(dir.join("bulwark.lock")).map_err(|e| format!("{}: {e}", dir.display()))?;
    if lock.try_lock().is_err() {
        return Err(
            "the daemon is running on this data directory; stop it first (it holds the old key)"
                .into(),
        );
    }
    let passphrase = config
        .secrets
        .passphrase
        .as_deref()
        .filter(|p| !p.is_empty());
    let (old, new, next) = match (passphrase, new_passphrase) {
        (Some(old_pass), Some(new_pass)) => {
            if new_pass.is_empty() {
                return Err("the new passphrase is empty".into());
            }
            let old = vault::derive(old_pass, &vault::private(&dir.join(SALT_FILE))?)?;
            let next = dir.join(NEXT_SALT);
            if !next.exists() {
                vault::new_private(&next, &vault::new_salt_text())?;
            }
            let new = vault::derive(new_pass, &vault::private(&next)?)?;
            (old, new, (next, dir.join(SALT_FILE)))
        }
        (Some(_), None) => {
            return Err("this daemon derives its key from secrets.passphrase: give the new passphrase on stdin with --new-passphrase-stdin".into());
        }
        (None, Some(_)) => {
            return Err("this daemon keeps its key in master.key; --new-passphrase-stdin is for daemons configured with secrets.passphrase".into());
        }
        (None, None) => {
            let current = dir.join(KEY_FILE);
            let old = vault::key_from_text(&vault::private(&current)?, &current)?;
            let next = dir.join(NEXT_KEY);
            if !next.exists() {
                vault::new_private(&next, &vault::new_key_text())?;
            }
            let new = vault::key_from_text(&vault::private(&next)?, &next)?;
            (old, new, (next, current))
        }
    };
    let (old, new) = (Vault::from_key(&old), Vault::from_key(&new));
    if old.key_id() == new.key_id() {
        return Err("the new key is the old one; choose another passphrase".into());
    }
    // The data directory's check must open with one of the two (the new one after a rotation
    // that stopped just before its last rename).
    let check = vault::private(&dir.join(CHECK_FILE))?;
    let opener = old.clone().also_opening(&new);
    opener
        .open_as(check.trim(), "bulwark master key check")
        .map_err(|_| {
            "the configured key or passphrase is not the one this data directory uses".to_string()
        })?;

    let catalog = Catalog::open(&config.catalog_path())
        .await
        .map_err(|e| e.to_string())?;
    let mut rows = catalog.sealed_rows().await.map_err(|e| e.to_string())?;
    for r in &mut rows {
        r.endpoint = sealing::reseal(&opener, &new, &r.endpoint)
            .map_err(|e| format!("{} {}: {e}", r.table, r.uuid))?;
        if let Some(s) = &r.secret {
            let plain = opener
                .open(s)
                .map_err(|e| format!("store {}: {e}", r.uuid))?;
            r.secret = Some(new.seal(&plain));
        }
    }
    catalog
        .replace_sealed(&rows)
        .await
        .map_err(|e| e.to_string())?;
    catalog.close().await;
    vault::replace_private(&dir.join(CHECK_FILE), &new.check_text())?;
    std::fs::rename(&next.0, &next.1).map_err(|e| format!("{}: {e}", next.1.display()))?;
    sync_dir(dir);
    drop(lock);
    Ok(Rotated {
        old_id: old.key_id().to_string(),
        new_id: new.key_id().to_string(),
        rows: rows.len(),
    })
}

/// Seals what an older version kept in clear (endpoint secrets, `v1:` store secrets), at start.
/// Returns how many rows changed.
pub async fn seal_leftovers(catalog: &Catalog, vault: &Vault) -> Result<usize, String> {
    let rows = catalog.sealed_rows().await.map_err(|e| e.to_string())?;
    let mut changed = Vec::new();
    for mut r in rows {
        let clear = sealing::has_clear_secret(&r.endpoint);
        let old_secret = r.secret.as_deref().is_some_and(|s| s.starts_with("v1:"));
        if !clear && !old_secret {
            continue;
        }
        r.endpoint = sealing::seal(vault, &r.endpoint)?;
        if old_secret && let Some(s) = &r.secret {
            r.secret = Some(vault.seal(&vault.open(s)?));
        }
        changed.push(r);
    }
    if !changed.is_empty() {
        catalog
            .replace_sealed(&changed)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(changed.len())
}
