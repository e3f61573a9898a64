//! The built-in `fs` store: each archive is one file in a directory on a local or mounted file
//! system. Endpoint: `{"base_dir": "/var/backups/bulwark"}`.
//!
//! A blob is written to a hidden temporary file, synced, and renamed to its key, so a blob that
//! exists under a key is always complete, and a failed or interrupted store leaves only a
//! temporary file (`.incoming-*`), never a key.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::builtin::required_abspath;
use crate::{Endpoint, PluginError, Result, StoreOutput, StorePlugin};

/// The `fs` store plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsStore;

/// Prefix of blobs being written.
pub const INCOMING_PREFIX: &str = ".incoming-";

const BUFFER: usize = 1 << 20;

impl FsStore {
    fn blob_path(base: &Path, key: &str) -> Result<PathBuf> {
        // Keys are the UUIDs this store hands out; anything else (a path, `..`) is refused
        // before it reaches the file system.
        if uuid::Uuid::parse_str(key).is_err() || key.contains('/') {
            return Err(PluginError::failed(format!(
                "key '{key}' is not a key the fs store hands out"
            )));
        }
        Ok(base.join(key))
    }
}

impl StorePlugin for FsStore {
    fn validate(&self, endpoint: &Endpoint) -> Result<()> {
        let base = required_abspath(endpoint, "base_dir")?;
        if base.exists() && !base.is_dir() {
            return Err(PluginError::failed(format!(
                "base_dir {} exists and is not a directory",
                base.display()
            )));
        }
        // The nearest existing ancestor must be writable, or the store cannot create anything.
        let mut probe = base.as_path();
        while !probe.exists() {
            probe = probe.parent().unwrap_or(Path::new("/"));
        }
        let test = probe.join(format!(
            "{INCOMING_PREFIX}validate-{}",
            uuid::Uuid::new_v4()
        ));
        File::create(&test)
            .and_then(|_| std::fs::remove_file(&test))
            .map_err(|e| {
                PluginError::failed(format!("{} is not writable: {e}", probe.display()))
            })?;
        Ok(())
    }

    fn store(
        &self,
        endpoint: &Endpoint,
        upload: Option<&str>,
        input: &mut dyn Read,
    ) -> Result<StoreOutput> {
        let base = required_abspath(endpoint, "base_dir")?;
        std::fs::create_dir_all(&base)
            .map_err(|e| PluginError::failed(format!("cannot create {}: {e}", base.display())))?;
        // The upload id becomes the key, so `abandon` can find both the temporary file and a
        // blob whose key never reached the caller.
        let key = match upload {
            Some(id) => {
                Self::blob_path(&base, id)?;
                id.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        if base.join(&key).exists() {
            return Err(PluginError::failed(format!(
                "upload {key} was already stored in {}",
                base.display()
            )));
        }
        let tmp = base.join(format!("{INCOMING_PREFIX}{key}"));
        let result = write_blob(&tmp, input).and_then(|size| {
            std::fs::rename(&tmp, base.join(&key))?;
            File::open(&base)?.sync_all()?;
            Ok(size)
        });
        match result {
            Ok(size) => Ok(StoreOutput {
                key,
                archive_size: Some(size),
                added: Some(size),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(PluginError::failed(format!(
                    "storing into {} failed: {e}",
                    base.display()
                )))
            }
        }
    }

    fn retrieve(&self, endpoint: &Endpoint, key: &str, output: &mut dyn Write) -> Result<()> {
        let base = required_abspath(endpoint, "base_dir")?;
        let path = Self::blob_path(&base, key)?;
        let mut file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                PluginError::failed(format!("no archive with key {key} in {}", base.display()))
            }
            _ => PluginError::failed(format!("cannot open {}: {e}", path.display())),
        })?;
        let mut buf = vec![0u8; BUFFER];
        loop {
            let n = file.read(&mut buf).map_err(|e| {
                PluginError::failed(format!("reading {} failed: {e}", path.display()))
            })?;
            if n == 0 {
                break;
            }
            output
                .write_all(&buf[..n])
                .map_err(|e| PluginError::failed(format!("writing the archive out failed: {e}")))?;
        }
        output
            .flush()
            .map_err(|e| PluginError::failed(format!("writing the archive out failed: {e}")))
    }

    fn purge(&self, endpoint: &Endpoint, key: &str) -> Result<()> {
        let base = required_abspath(endpoint, "base_dir")?;
        let path = Self::blob_path(&base, key)?;
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                PluginError::failed(format!("no archive with key {key} in {}", base.display()))
            }
            _ => PluginError::failed(format!("cannot remove {}: {e}", path.display())),
        })?;
        File::open(&base)
            .and_then(|d| d.sync_all())
            .map_err(|e| PluginError::failed(format!("syncing {} failed: {e}", base.display())))
    }

    fn abandon(&self, endpoint: &Endpoint, upload: &str) -> Result<()> {
        let base = required_abspath(endpoint, "base_dir")?;
        Self::abandon_upload(&base, upload)
    }
}

impl FsStore {
    /// Removes the temporary file and the blob of `upload`, whichever exist.
    pub fn abandon_upload(base: &Path, upload: &str) -> Result<()> {
        let blob = Self::blob_path(base, upload)?;
        let tmp = base.join(format!("{INCOMING_PREFIX}{upload}"));
        for path in [tmp, blob] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(PluginError::failed(format!(
                        "cannot remove {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        if base.is_dir() {
            File::open(base).and_then(|d| d.sync_all()).map_err(|e| {
                PluginError::failed(format!("syncing {} failed: {e}", base.display()))
            })?;
        }
        Ok(())
    }
}

/// Copies `input` into a new file at `path` (mode 0600), syncs it, and returns its size.
fn write_blob(path: &Path, input: &mut dyn Read) -> std::io::Result<u64> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let mut buf = vec![0u8; BUFFER];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buf[..n])?;
        size += n as u64;
    }
    file.sync_all()?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoint(dir: &Path) -> Endpoint {
        json!({"base_dir": dir.join("store")})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn store_retrieve_purge() {
        let dir = tempfile::tempdir().unwrap();
        let ep = endpoint(dir.path());
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let out = FsStore.store(&ep, None, &mut data.as_slice()).unwrap();
        assert_eq!(out.archive_size, Some(data.len() as u64));
        let mut back = Vec::new();
        FsStore.retrieve(&ep, &out.key, &mut back).unwrap();
        assert!(back == data, "retrieved bytes differ");
        FsStore.purge(&ep, &out.key).unwrap();
        let err = FsStore
            .retrieve(&ep, &out.key, &mut Vec::new())
            .unwrap_err();
        assert!(err.message.contains("no archive with key"), "{err}");
        let err = FsStore.purge(&ep, &out.key).unwrap_err();
        assert!(err.message.contains("no archive with key"), "{err}");
        // Nothing left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("store")).unwrap().count(),
            0
        );
    }

    #[test]
    fn an_upload_id_is_the_key_and_abandon_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let ep = endpoint(dir.path());
        let id = uuid::Uuid::new_v4().to_string();
        let out = FsStore.store(&ep, Some(&id), &mut &b"abc"[..]).unwrap();
        assert_eq!(out.key, id);
        // The same upload cannot be stored twice.
        let err = FsStore.store(&ep, Some(&id), &mut &b"x"[..]).unwrap_err();
        assert!(err.message.contains("already stored"), "{err}");
        // A temporary file of a killed upload, and the finished blob, both go.
        let other = uuid::Uuid::new_v4().to_string();
        let store = dir.path().join("store");
        std::fs::write(store.join(format!("{INCOMING_PREFIX}{other}")), b"partial").unwrap();
        FsStore.abandon(&ep, &other).unwrap();
        FsStore.abandon(&ep, &id).unwrap();
        FsStore.abandon(&ep, &id).unwrap();
        assert_eq!(std::fs::read_dir(&store).unwrap().count(), 0);
        assert!(FsStore.abandon(&ep, "../x").is_err());
    }

    #[test]
    fn keys_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let ep = endpoint(dir.path());
        for key in ["../etc/passwd", "/etc/passwd", "a/b", ""] {
            let err = FsStore.retrieve(&ep, key, &mut Vec::new()).unwrap_err();
            assert!(err.message.contains("is not a key"), "{key}: {err}");
        }
    }

    #[test]
    fn a_failed_store_leaves_nothing() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("the target died"));
                }
                self.0 -= 1;
                buf[..10].fill(7);
                Ok(10)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let ep = endpoint(dir.path());
        let err = FsStore.store(&ep, None, &mut Broken(3)).unwrap_err();
        assert!(err.message.contains("the target died"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("store")).unwrap().count(),
            0
        );
    }

    #[test]
    fn validate_checks_the_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FsStore.validate(&endpoint(dir.path())).is_ok());
        let err = FsStore.validate(&Endpoint::new()).unwrap_err();
        assert_eq!(err.exit, crate::Exit::MissingEndpointKey);
        let rel = json!({"base_dir": "relative"}).as_object().unwrap().clone();
        assert_eq!(
            FsStore.validate(&rel).unwrap_err().exit,
            crate::Exit::WrongEndpointType
        );
        let num = json!({"base_dir": 5}).as_object().unwrap().clone();
        assert_eq!(
            FsStore.validate(&num).unwrap_err().exit,
            crate::Exit::WrongEndpointType
        );
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let on_file = json!({"base_dir": file}).as_object().unwrap().clone();
        assert!(
            FsStore
                .validate(&on_file)
                .unwrap_err()
                .message
                .contains("not a directory")
        );
    }
}
