//! Looking into an archive of a repository store without restoring it: a directory's entries,
//! and one file's bytes streamed (the repository plugin's `ls` and `cat`).

use std::time::Duration;

use bulwark_catalog::Archive;
use bulwark_runner::pipeline::{Limits, Role};
use bulwark_runner::single::{Running as Streaming, run_logged, start_streaming};

use super::Engine;
use super::work::resolve_store;
use crate::store_keys::is_repository;

/// How long a listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(300);

/// Why an archive cannot be looked into.
#[derive(Debug)]
pub enum BrowseError {
    /// Not possible for this archive (not in a repository store; no such path; not a file).
    Refused(String),
    /// The store could not be read.
    Failed(String),
}

fn repository_only(a: &Archive) -> Result<(), BrowseError> {
    if is_repository(&a.store.plugin) {
        return Ok(());
    }
    Err(BrowseError::Refused(format!(
        "archive {} is in store '{}' ({}): only archives in a repository store can be browsed; restore it instead",
        a.uuid, a.store.name, a.store.plugin
    )))
}

impl Engine {
    /// The entries of the directory `path` of archive `a` (a file's path lists that file).
    pub async fn list_files(
        &self,
        a: &Archive,
        path: &str,
    ) -> Result<Vec<serde_json::Value>, BrowseError> {
        repository_only(a)?;
        let s = resolve_store(self, &a.store)
            .await
            .map_err(BrowseError::Failed)?;
        let args = ["ls", "--key", &a.store_key, "--path", path];
        let limits = Limits {
            timeout: LIST_TIMEOUT,
            cancel: tokio_util::sync::CancellationToken::new(),
            progress: Default::default(),
            bandwidth: None,
        };
        let (log, mut said) = tokio::sync::mpsc::unbounded_channel();
        let out = run_logged(s.single(Role::Store, &args), &limits, &log).await;
        drop(log);
        match out {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                BrowseError::Failed(format!("the repository plugin answered junk: {e}"))
            }),
            Err(failure) => {
                // The plugin's own words: "no 'x' in snapshot ..." is the caller's mistake.
                let mut words = Vec::new();
                while let Ok(line) = said.try_recv() {
                    words.push(line);
                }
                let text = words.join(" ");
                let text = text
                    .trim()
                    .trim_start_matches("store repository: repository: ")
                    .to_string();
                if text.contains("no '") || text.contains("may not contain") {
                    Err(BrowseError::Refused(text))
                } else {
                    Err(BrowseError::Failed(format!("{}; {text}", failure.brief())))
                }
            }
        }
    }

    /// Starts streaming the file `path` of archive `a`: it must be a file (checked by listing it
    /// first). The plugin dies with the returned guard.
    pub async fn open_file(
        &self,
        a: &Archive,
        path: &str,
    ) -> Result<(tokio::process::ChildStdout, Streaming, u64), BrowseError> {
        let listed = self.list_files(a, path).await?;
        let entry = match listed.as_slice() {
            [one]
                if one["type"] == "file"
                    && (one["path"] == path.trim_matches('/')
                        || a.format == bulwark_catalog::ArchiveFormat::Stream) =>
            {
                one
            }
            _ => {
                return Err(BrowseError::Refused(format!(
                    "'{path}' in archive {} is not a file",
                    a.uuid
                )));
            }
        };
        let size = entry["size"].as_u64().unwrap_or(0);
        let s = resolve_store(self, &a.store)
            .await
            .map_err(BrowseError::Failed)?;
        let args = ["cat", "--key", &a.store_key, "--path", path];
        let (out, guard) = start_streaming(s.single(Role::Store, &args))
            .await
            .map_err(|f| BrowseError::Failed(f.brief()))?;
        Ok((out, guard, size))
    }
}
