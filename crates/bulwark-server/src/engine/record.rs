//! Recording a finished backup: its archive and its task's end, in one transaction, wherever
//! the backup ran (on this host or on an agent).

use std::time::Duration;

use bulwark_catalog::{ArchiveFormat, NewArchive, Task};
use bulwark_core::ids::ArchiveId;

use super::Engine;
use super::work::{rate, sentence};

/// What a backup stored, wherever it ran.
pub(super) struct Stored {
    /// The store's key.
    pub(super) key: String,
    /// Bytes the store keeps for it, when it says.
    pub(super) archive_size: Option<u64>,
    /// Bytes the store grew by, when it says.
    pub(super) added: Option<u64>,
    /// Bytes from the target to the store.
    pub(super) bytes: u64,
}

/// The backup whose archive is recorded.
pub(super) struct NewBackup<'a> {
    pub(super) job: &'a bulwark_catalog::Job,
    pub(super) store: &'a bulwark_catalog::Store,
    pub(super) archive: ArchiveId,
    pub(super) format: ArchiveFormat,
    /// A directory tree (its size is the snapshot's, not the stream's).
    pub(super) tree: bool,
    pub(super) took: Duration,
}

/// Records a backup's archive and the task's end in one transaction. With `steps_failed` the
/// archive is kept but the task ends failed, saying which steps failed.
pub(super) async fn record(
    e: &Engine,
    task: &Task,
    b: &NewBackup<'_>,
    stored: &Stored,
    steps_failed: Option<&str>,
) -> Result<(), bulwark_catalog::CatalogError> {
    let (job, target) = (b.job, &b.job.target);
    let taken_at = task.started_at.unwrap_or_else(|| e.now());
    let size = stored
        .archive_size
        .filter(|_| b.tree)
        .unwrap_or(stored.bytes);
    // A blob store grows by the blob it kept; a repository says what it grew by.
    let added = stored.added.or(stored.archive_size);
    let archive = NewArchive {
        uuid: Some(b.archive),
        format: b.format,
        added: added.map(|a| i64::try_from(a).unwrap_or(i64::MAX)),
        target: target.uuid,
        store: b.store.uuid,
        store_key: stored.key.clone(),
        taken_at,
        expires_at: taken_at.saturating_add(job.retention.rules.expires.unwrap_or(0)),
        job: Some(job.uuid),
        notes: String::new(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        origin: None,
    };
    let added = match added {
        Some(a) => format!(" ({a} bytes added to the store)"),
        None => String::new(),
    };
    let done = format!(
        "{size} bytes stored under key {}{added} {}; kept by retention policy '{}' ({})",
        stored.key,
        rate(size, b.took),
        job.retention.name,
        job.retention.rules.describe()
    );
    let line = match steps_failed {
        None => format!("Done: {done}."),
        Some(why) => sentence(&format!(
            "Failed: {why}; the backup itself worked and its archive is kept: {done}"
        )),
    };
    let id = e
        .catalog()
        .complete_backup(task.uuid, &archive, steps_failed.is_some(), &line, e.now())
        .await?;
    tracing::info!(task = %task.uuid, archive = %id, bytes = stored.bytes, "Backup done.");
    Ok(())
}
