//! Walking a directory into trees: each directory becomes a tree blob of its entries' nodes,
//! sorted by name, and each changed file is read and cut into data blobs. A file the parent
//! snapshot holds with the same size, mtime, ctime and inode keeps the parent's blobs unread.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rustic_core::jiff::Timestamp;
use rustic_core::repofile::{Metadata, Node, NodeType, Tree};
use rustic_core::{RusticProgress, TreeId};

use super::Backup;
use crate::repo::Result;

/// The node of a directory entry, from its `lstat`.
pub fn node_of(name: &OsStr, m: &fs::Metadata, path: &Path) -> Result<Node> {
    let ts = |s: i64, ns: i64| Timestamp::new(s, i32::try_from(ns).unwrap_or(0)).ok();
    let ft = m.file_type();
    let mut meta = Metadata {
        mode: Some(go_mode(m.mode())),
        mtime: ts(m.mtime(), m.mtime_nsec()),
        atime: ts(m.atime(), m.atime_nsec()),
        ctime: ts(m.ctime(), m.ctime_nsec()),
        uid: Some(m.uid()),
        gid: Some(m.gid()),
        inode: m.ino(),
        device_id: m.dev(),
        size: if ft.is_file() { m.len() } else { 0 },
        links: if ft.is_dir() { 0 } else { m.nlink() },
        ..Metadata::default()
    };
    meta.extended_attributes = xattrs(path);
    let tpe = if ft.is_dir() {
        NodeType::Dir
    } else if ft.is_symlink() {
        let target = fs::read_link(path)
            .map_err(|e| format!("{}: the link cannot be read: {e}", path.display()))?;
        NodeType::from_link(&target)
    } else if ft.is_block_device() {
        NodeType::Dev { device: m.rdev() }
    } else if ft.is_char_device() {
        NodeType::Chardev { device: m.rdev() }
    } else if ft.is_fifo() {
        NodeType::Fifo
    } else if ft.is_socket() {
        NodeType::Socket
    } else {
        NodeType::File
    };
    Ok(Node::new_node(name, tpe, meta))
}

/// The extended attributes of `path` (of a link itself, not its target); none where the file
/// system has none.
///
/// rustic_core does not export the type of a node's attributes, so they are made from their
/// serialized form (what restic writes: the name, and the value in base64).
fn xattrs<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    use base64::Engine;
    let Ok(names) = xattr::list(path) else {
        return T::default();
    };
    let list: Vec<serde_json::Value> = names
        .filter_map(|name| {
            let value = xattr::get(path, &name).ok()?;
            Some(serde_json::json!({
                "name": name.to_string_lossy(),
                "value": value.map(|v| base64::engine::general_purpose::STANDARD.encode(v)),
            }))
        })
        .collect();
    if list.is_empty() {
        return T::default();
    }
    serde_json::from_value(serde_json::Value::Array(list)).unwrap_or_default()
}

/// A Unix mode as the restic format keeps it (Go's `fs.FileMode`).
pub fn go_mode(mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHARDEV: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    const IRREGULAR: u32 = 1 << 19;
    let mut go = mode & 0o777;
    go |= match mode & 0o170_000 {
        0o140_000 => SOCKET,
        0o120_000 => SYMLINK,
        0o060_000 => DEVICE,
        0o040_000 => DIR,
        0o020_000 => DEVICE | CHARDEV,
        0o010_000 => PIPE,
        0o100_000 => 0,
        _ => IRREGULAR,
    };
    for (bit, go_bit) in [(0o4000, SETUID), (0o2000, SETGID), (0o1000, STICKY)] {
        if mode & bit != 0 {
            go |= go_bit;
        }
    }
    go
}

/// The parent's nodes of one directory, by name.
type ParentNodes = HashMap<Vec<u8>, Node>;

/// True when the file can keep the parent's blobs.
fn unchanged(node: &Node, old: &Node) -> bool {
    old.node_type == NodeType::File
        && old.meta.size == node.meta.size
        && old.meta.mtime == node.meta.mtime
        && old.meta.ctime == node.meta.ctime
        && old.meta.inode == node.meta.inode
}

impl Backup<'_> {
    /// The parent's nodes in tree `id`.
    pub(super) fn parent_nodes(&self, id: Option<TreeId>) -> Result<ParentNodes> {
        let Some(id) = id else {
            return Ok(ParentNodes::new());
        };
        let tree = self.known.tree(&id, &self.shared.be, &self.shared.sealer)?;
        Ok(tree
            .map(|t| {
                t.nodes
                    .into_iter()
                    .map(|n| (n.name().as_bytes().to_vec(), n))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Stores the directory `path` and everything under it; returns its tree's id.
    pub fn dir(&mut self, path: &Path, parent: Option<TreeId>) -> Result<TreeId> {
        self.failed()?;
        let mut parents = self.parent_nodes(parent)?;
        let mut entries = Vec::new();
        let list = fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in list {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            entries.push(entry.file_name());
        }
        entries.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut tree = Tree::default();
        for name in entries {
            let child = path.join(&name);
            let m = match fs::symlink_metadata(&child) {
                Ok(m) => m,
                // Gone since the directory was listed: as if it had never been there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", child.display())),
            };
            let mut node = node_of(&name, &m, &child)?;
            let old = parents.remove(name.as_bytes());
            let had_old = old.is_some();
            match node.node_type {
                NodeType::Dir => {
                    self.stats.dirs += 1;
                    let sub = old.filter(|o| o.is_dir()).and_then(|o| o.subtree);
                    node.subtree = Some(self.dir(&child, sub)?);
                }
                NodeType::File => {
                    let reuse = old
                        .filter(|o| unchanged(&node, o))
                        .and_then(|o| o.content)
                        .filter(|c| c.iter().all(|id| self.has_data(id)));
                    match reuse {
                        Some(content) => {
                            self.stats.files[2] += 1;
                            self.stats.bytes += node.meta.size;
                            self.progress.inc(node.meta.size);
                            node.content = Some(content);
                        }
                        None => {
                            self.stats.files[usize::from(had_old)] += 1;
                            let file = match File::open(&child) {
                                Ok(f) => f,
                                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                                Err(e) => return Err(format!("{}: {e}", child.display())),
                            };
                            let (content, size) = self
                                .file(file)
                                .map_err(|e| format!("{}: {e}", child.display()))?;
                            node.meta.size = size;
                            node.content = Some(content);
                        }
                    }
                }
                _ => {}
            }
            tree.nodes.push(node);
        }
        self.tree(&tree)
    }
}
