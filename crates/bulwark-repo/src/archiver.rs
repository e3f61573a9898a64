//! The earlier backup path, through `rustic_core`'s archiver: kept for comparison and for the
//! test that both paths write one repository (`BULWARK_REPO_ENGINE=rustic` selects it).

use std::path::{Path, PathBuf};

use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{
    BackupOptions, ParentOptions, PathList, ReadSource, ReadSourceEntry, RusticResult,
};

use crate::endpoint::RepoEndpoint;
use crate::repo::{Labels, ReportBytes, Result, Stored, open_with, said, stored};

/// [`store_stdin`] through rustic_core's archiver.
pub fn store_stdin_rustic(
    ep: &RepoEndpoint,
    password: &str,
    filename: &str,
    labels: &Labels,
) -> Result<Stored> {
    let repo = open_with(ep, password, ReportBytes)?
        .to_indexed_ids()
        .map_err(said("the repository's index cannot be read"))?;
    let path = PathBuf::from(filename);
    let opts = BackupOptions::default()
        .stdin_filename(filename)
        .parent_opts(ParentOptions::default().force(true));
    let snap = repo
        .archive(
            &opts,
            &FullStdin { path: path.clone() },
            labels.snapshot()?,
            &[path],
        )
        .map_err(said("the backup failed"))?;
    Ok(stored(&snap))
}

/// Stdin as rustic_core's archiver reads it, but with reads that fill the buffer they are given.
///
/// `rustic_core` 0.13's Rabin chunker truncates its read buffer to the size of the last read and
/// never grows it back. A file answers every read in full; a pipe answers with what it holds (at
/// most 64 KiB, often a few bytes), so the buffer shrinks to a handful of bytes and the chunker
/// then makes one read call per few bytes: a 700 MiB dump from a pipe took 10.8 s instead of
/// 2.4 s from a file. Filling each read keeps the buffer whole.
struct FullStdin {
    path: PathBuf,
}

/// A reader whose `read` returns a full buffer unless the input ends.
struct FullReads<R>(R);

impl<R: std::io::Read> std::io::Read for FullReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.0.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

impl ReadSource for FullStdin {
    type Open = FullReads<std::io::Stdin>;
    type Iter = std::iter::Once<RusticResult<ReadSourceEntry<Self::Open>>>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(None)
    }

    fn entries(&self) -> Self::Iter {
        let name = self.path.file_name().unwrap_or(self.path.as_os_str());
        std::iter::once(Ok(ReadSourceEntry {
            path: self.path.clone(),
            node: Node::new_node(name, NodeType::File, Metadata::default()),
            open: Some(FullReads(std::io::stdin())),
        }))
    }
}

/// [`store_tree`] through rustic_core's archiver.
pub fn store_tree_rustic(
    ep: &RepoEndpoint,
    password: &str,
    dir: &Path,
    parent: Option<&str>,
    labels: &Labels,
) -> Result<Stored> {
    let repo = open_with(ep, password, ReportBytes)?
        .to_indexed_ids()
        .map_err(said("the repository's index cannot be read"))?;
    let dir_str = dir
        .to_str()
        .ok_or_else(|| "the directory's path is not UTF-8".to_string())?;
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let parent_opts = match parent {
        Some(p) => {
            // A parent that is gone (purged, pruned) only means every file is read again.
            if repo.get_snapshot_from_str(p, |_| true).is_ok() {
                ParentOptions::default().parents(vec![p.to_string()])
            } else {
                ParentOptions::default().force(true)
            }
        }
        None => ParentOptions::default().force(true),
    };
    let opts = BackupOptions::default().parent_opts(parent_opts);
    let source = PathList::from_string(dir_str).map_err(said("bad path"))?;
    let snap = repo
        .backup(&opts, &source, labels.snapshot()?)
        .map_err(said("the backup failed"))?;
    Ok(stored(&snap))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives at most 3 bytes per read, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn stdin_reads_fill_the_chunkers_buffer() {
        use std::io::Read;
        let data: Vec<u8> = (0..250u8).collect();
        let mut r = FullReads(Trickle(&data));
        let mut buf = [0u8; 100];
        assert_eq!(
            r.read(&mut buf).unwrap(),
            100,
            "a short read shrinks rustic's buffer"
        );
        assert_eq!(buf[..], data[..100]);
        assert_eq!(r.read(&mut buf).unwrap(), 100);
        assert_eq!(r.read(&mut buf).unwrap(), 50, "only the end is short");
        assert_eq!(buf[..50], data[200..]);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }
}
