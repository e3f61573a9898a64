//! Tree restores: a snapshot of a directory restored beside its destination, then moved into
//! place file by file.

use std::path::{Path, PathBuf};

use rustic_core::repofile::Node;
use rustic_core::{LocalDestination, LsOptions, RestoreOptions, RusticError};

use crate::endpoint::RepoEndpoint;
use crate::repo::{ReportBytes, Result, open_with, said, saved_node_of};

/// What a tree restore wrote.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Restored {
    /// Files written or already right.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
}

/// The prefix of the staging directory a tree restore writes into, inside its destination.
pub const STAGING_PREFIX: &str = ".bulwark-restore-";

/// Restores a tree snapshot into `dest` (made if missing). Files that are not in the snapshot
/// are left alone.
///
/// The snapshot is first restored whole into a staging directory inside `dest` (so on the same
/// file system), every blob checked against its hash on the way; only when that succeeded is
/// each file renamed over its old version. A restore that fails for a damaged or unreadable
/// snapshot leaves `dest` as it was, and a restore cut short leaves every file whole: old or new,
/// never torn.
pub fn restore_tree(
    ep: &RepoEndpoint,
    password: &str,
    key: &str,
    dest: &Path,
    paths: &[String],
) -> Result<Restored> {
    let wanted = paths
        .iter()
        .map(|p| crate::browse::relative(p))
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(dest)
        .map_err(|e| format!("the destination {} cannot be made: {e}", dest.display()))?;
    remove_stale_staging(dest);
    let staging = dest.join(format!("{STAGING_PREFIX}{}", std::process::id()));
    std::fs::create_dir(&staging).map_err(|e| {
        format!(
            "the staging directory {} cannot be made: {e}",
            staging.display()
        )
    })?;
    let written = if crate::repo::rustic_engine() {
        restore_with_rustic(ep, password, key, &staging, &wanted)
    } else {
        crate::write::unpack::restore_into(ep, password, key, &staging, &wanted)
    };
    let restored = written.and_then(|r| {
        move_into_place(&staging, dest)
            .map_err(|e| format!("moving the restored files into place failed: {e}"))?;
        Ok(r)
    });
    let _ = std::fs::remove_dir_all(&staging);
    restored
}

/// What an earlier restore that was killed left behind.
fn remove_stale_staging(dest: &Path) {
    if let Ok(entries) = std::fs::read_dir(dest) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// [`restore_tree`]'s writing through rustic_core's restorer.
fn restore_with_rustic(
    ep: &RepoEndpoint,
    password: &str,
    key: &str,
    dir: &Path,
    wanted: &[PathBuf],
) -> Result<Restored> {
    let repo = open_with(ep, password, ReportBytes)?
        .to_indexed()
        .map_err(said("the repository's index cannot be read"))?;
    let node = &saved_node_of(&repo, key)?;
    if !node.is_dir() {
        return Err(format!(
            "snapshot {key} holds a stream, not a directory tree"
        ));
    }
    let dest_str = format!("{}/", dir.display());
    let dest = LocalDestination::new(&dest_str, true, false)
        .map_err(said("the destination is unusable"))?;
    let opts = RestoreOptions::default();
    let ls = repo
        .ls(node, &LsOptions::default())
        .map_err(said("the snapshot cannot be listed"))?;
    let mut items: Vec<(PathBuf, Node)> = Vec::new();
    for item in ls {
        let (path, n) = item.map_err(said("the snapshot cannot be listed"))?;
        if wanted.is_empty() || crate::browse::selected(&path, wanted) {
            items.push((path, n));
        }
    }
    for w in wanted {
        if !items.iter().any(|(p, _)| p == w) {
            return Err(format!("no '{}' in the snapshot", w.display()));
        }
    }
    let listed = || items.clone().into_iter().map(Ok::<_, Box<RusticError>>);
    let plan = repo
        .prepare_restore(&opts, listed(), &dest, false)
        .map_err(said("the restore cannot be planned"))?;
    let restored = Restored {
        files: plan.stats.files.restore + plan.stats.files.unchanged + plan.stats.files.verified,
        bytes: plan.restore_size,
    };
    repo.restore(plan, &opts, listed(), &dest)
        .map_err(said("the restore failed"))?;
    Ok(restored)
}

/// Renames everything under `from` to the same place under `to`: a file (or link) replaces the
/// one there in one step; directories are merged (and then get the restored directory's mode
/// and times); a file where a directory is (or the other way round) replaces it.
fn move_into_place(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let existing = std::fs::symlink_metadata(&dst).ok();
        if entry.file_type()?.is_dir() {
            match existing {
                Some(m) if m.is_dir() => {
                    // Read before its entries move out, which changes its mtime.
                    let restored = std::fs::metadata(&src)?;
                    move_into_place(&src, &dst)?;
                    // The merge changed the directory; it gets the snapshot's mode and times.
                    std::fs::set_permissions(&dst, restored.permissions())?;
                    let times = std::fs::FileTimes::new()
                        .set_accessed(restored.accessed()?)
                        .set_modified(restored.modified()?);
                    std::fs::File::open(&dst)?.set_times(times)?;
                }
                Some(_) => {
                    std::fs::remove_file(&dst)?;
                    std::fs::rename(&src, &dst)?;
                }
                None => std::fs::rename(&src, &dst)?,
            }
        } else {
            if existing.is_some_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&dst)?;
            }
            std::fs::rename(&src, &dst)?;
        }
    }
    Ok(())
}
