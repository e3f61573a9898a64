//! A restore drill's proof for a tree snapshot: every directory, link and file of the snapshot
//! is in the directory it was restored to, each file compared byte by byte with the snapshot's
//! blobs (read back and checked against their hashes on the way).

use std::io::{Read, Write};
use std::path::Path;

use bulwark_plugin::Differences;
use rustic_core::LsOptions;
use rustic_core::repofile::NodeType;

use crate::endpoint::RepoEndpoint;
use crate::repo::{Result, open_indexed, said, saved_node_of, write_file};

/// What a verify compared.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Verified {
    /// Files compared byte by byte.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Directories found.
    pub dirs: u64,
    /// Links found pointing where they should.
    pub links: u64,
}

/// Compares what a snapshot's file holds, written to it, with a file on disk.
struct Comparing {
    file: std::io::BufReader<std::fs::File>,
    offset: u64,
    differs_at: Option<u64>,
    buf: Vec<u8>,
}

impl Write for Comparing {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.differs_at.is_none() {
            self.buf.resize(data.len(), 0);
            let mut n = 0;
            while n < data.len() {
                match self.file.read(&mut self.buf[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            let same = data[..n]
                .iter()
                .zip(&self.buf[..n])
                .position(|(a, b)| a != b);
            match (same, n < data.len()) {
                (Some(i), _) => self.differs_at = Some(self.offset + i as u64),
                (None, true) => self.differs_at = Some(self.offset + n as u64),
                (None, false) => {}
            }
        }
        self.offset += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compares the directory `dir` with tree snapshot `key`. Files in `dir` that the snapshot does
/// not hold are not differences (a restore leaves them alone).
pub fn verify_tree(ep: &RepoEndpoint, password: &str, key: &str, dir: &Path) -> Result<Verified> {
    let repo = open_indexed(ep, password)?;
    let root = saved_node_of(&repo, key)?;
    if !root.is_dir() {
        return Err(format!(
            "snapshot {key} holds a stream, not a directory tree"
        ));
    }
    if !dir.is_dir() {
        return Err(format!(
            "{} is not a directory; nothing was restored there",
            dir.display()
        ));
    }
    let ls = repo
        .ls(&root, &LsOptions::default())
        .map_err(said("the snapshot cannot be listed"))?;
    let mut v = Verified::default();
    let mut diffs = Differences::new();
    for item in ls {
        let (path, node) = item.map_err(said("the snapshot cannot be listed"))?;
        if path.as_os_str().is_empty() {
            continue;
        }
        let name = path.display().to_string();
        let dest = dir.join(&path);
        let meta = std::fs::symlink_metadata(&dest).ok();
        match &node.node_type {
            NodeType::Dir => {
                v.dirs += 1;
                if !meta.is_some_and(|m| m.is_dir()) {
                    diffs.note(format!("directory {name} is missing"));
                }
            }
            NodeType::Symlink { .. } => {
                v.links += 1;
                let want = node.node_type.to_link();
                match std::fs::read_link(&dest) {
                    Ok(t) if t == want => {}
                    Ok(t) => diffs.note(format!(
                        "link {name} points to {}, not {}",
                        t.display(),
                        want.display()
                    )),
                    Err(_) => diffs.note(format!("link {name} is missing")),
                }
            }
            NodeType::File => {
                v.files += 1;
                v.bytes += node.meta.size;
                match meta {
                    Some(m) if m.is_file() && m.len() != node.meta.size => diffs.note(format!(
                        "file {name} has {} bytes, not {}",
                        m.len(),
                        node.meta.size
                    )),
                    Some(m) if m.is_file() => {
                        let file = std::fs::File::open(&dest)
                            .map_err(|e| format!("{} cannot be read: {e}", dest.display()))?;
                        let mut cmp = Comparing {
                            file: std::io::BufReader::with_capacity(1 << 20, file),
                            offset: 0,
                            differs_at: None,
                            buf: Vec::new(),
                        };
                        write_file(&repo, &node, &mut cmp)?;
                        if let Some(at) = cmp.differs_at {
                            diffs.note(format!("file {name} differs at byte {at}"));
                        }
                    }
                    Some(_) => diffs.note(format!("{name} is not a file")),
                    None => diffs.note(format!("file {name} is missing")),
                }
            }
            _ => {}
        }
    }
    let total = v.files + v.dirs + v.links;
    diffs
        .finish(&format!("{total} entries"))
        .map_err(|e| e.message)?;
    Ok(v)
}
