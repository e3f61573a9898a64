//! Copies of a snapshot into another repository: only the blobs the destination lacks are
//! sent (decrypted with the source's keys, encrypted with the destination's), then the snapshot
//! itself, tagged as the copy Bulwark records.

use rustic_core::repofile::SnapshotFile;
use rustic_core::{FileType, ReadBackend, StringList};

use crate::endpoint::RepoEndpoint;
use crate::repo::{self, Labels, Result, Stored, said};

/// The environment variable with the destination repository's endpoint document.
pub const DEST_ENDPOINT_ENV: &str = "BULWARK_COPY_ENDPOINT";
/// The environment variable with the destination repository's password.
pub const DEST_PASSWORD_ENV: &str = "BULWARK_COPY_PASSWORD";

/// Tag keys that say which archive and upload a snapshot is; a copy gets its own.
const OWN_KEYS: [&str; 3] = ["archive=", "upload=", "copy-of="];

/// Copies snapshot `key` of `src` into `dest`. The copy keeps the snapshot's paths, host, time
/// and summary; its `archive`/`upload` tags are replaced by `labels` (which must carry an
/// `upload` tag: the copy is found by it, and a failed copy is abandoned by it), plus
/// `copy-of=KEY`.
pub fn copy_snapshot(
    src: &RepoEndpoint,
    src_password: &str,
    key: &str,
    dest: &RepoEndpoint,
    dest_password: &str,
    labels: &Labels,
) -> Result<Stored> {
    let upload = labels
        .tags
        .iter()
        .find(|(k, _)| k == "upload")
        .map(|(_, v)| format!("upload={v}"))
        .ok_or_else(|| "a copy needs an upload id".to_string())?;
    let source = repo::open_with(src, src_password, repo::ReportBytes)?
        .to_indexed()
        .map_err(said("the source repository's index cannot be read"))?;
    let snap = repo::snapshot(&source, key)?;
    let target = repo::open(dest, dest_password)?
        .to_indexed_ids()
        .map_err(said("the destination repository's index cannot be read"))?;
    let before = packed(dest)?;
    let copy = relabel(&snap, key, labels);
    source
        .copy(&target, [&copy])
        .map_err(said("copying into the destination repository failed"))?;
    let after = packed(dest)?;
    let made: Vec<SnapshotFile> = repo::open(dest, dest_password)?
        .get_all_snapshots()
        .map_err(said("the destination's snapshots cannot be listed"))?
        .into_iter()
        .filter(|s| s.tags.contains(&upload))
        .collect();
    let [made] = made.as_slice() else {
        return Err(format!(
            "the destination holds {} snapshots of this copy ({upload}), not one",
            made.len()
        ));
    };
    let mut stored = repo::stored(made);
    stored.added = after.saturating_sub(before);
    stored.files = [0, 0, 0];
    Ok(stored)
}

/// The snapshot as the copy is saved: its own tags replaced by the copy's.
fn relabel(snap: &SnapshotFile, key: &str, labels: &Labels) -> SnapshotFile {
    let mut copy = snap.clone();
    let mut tags = StringList::default();
    for t in snap.tags.iter() {
        if !OWN_KEYS.iter().any(|k| t.starts_with(k)) && !labels_set(labels, t) {
            tags.add(t.clone());
        }
    }
    for (k, v) in &labels.tags {
        tags.add(format!("{k}={v}"));
    }
    tags.add(format!("copy-of={key}"));
    copy.tags = tags;
    copy
}

/// True for a `key=value` tag whose key `labels` sets anew.
fn labels_set(labels: &Labels, tag: &str) -> bool {
    tag.split_once('=')
        .is_some_and(|(k, _)| labels.tags.iter().any(|(lk, _)| lk == k))
}

/// Bytes of pack files in the repository.
fn packed(ep: &RepoEndpoint) -> Result<u64> {
    let be = repo::backends(ep)?;
    let packs = be
        .repository()
        .list_with_size(FileType::Pack)
        .map_err(said("the destination's packs cannot be listed"))?;
    Ok(packs.iter().map(|(_, n)| u64::from(*n)).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_carries_its_own_archive_and_upload_tags() {
        let mut snap = SnapshotFile::default();
        for t in ["bulwark", "job=j", "archive=a1", "upload=u1", "team=x"] {
            snap.tags.add(t.to_string());
        }
        let labels = Labels {
            tags: vec![
                ("archive".into(), "a2".into()),
                ("upload".into(), "u2".into()),
                ("job".into(), "j".into()),
            ],
            host: String::new(),
        };
        let copy = relabel(&snap, "abc", &labels);
        let tags: Vec<&String> = copy.tags.iter().collect();
        for want in [
            "bulwark",
            "team=x",
            "archive=a2",
            "upload=u2",
            "job=j",
            "copy-of=abc",
        ] {
            assert!(copy.tags.contains(want), "{want} missing from {tags:?}");
        }
        for gone in ["archive=a1", "upload=u1"] {
            assert!(!copy.tags.contains(gone), "{gone} kept in {tags:?}");
        }
        assert_eq!(tags.iter().filter(|t| t.starts_with("job=")).count(), 1);
    }
}
