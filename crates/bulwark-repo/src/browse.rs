//! Looking into a snapshot without restoring it: a directory's entries, and one file's bytes.
//!
//! Paths are relative to what the snapshot saved (the tree's directory; a stream snapshot holds
//! one file, named after its target). `..` is refused.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use rustic_core::repofile::{Node, NodeType};

use crate::endpoint::RepoEndpoint;
use crate::repo::{Result, open_indexed, said, saved_node_of};

/// One entry of a directory in a snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// Its path from the snapshot's root, `/`-separated, without a leading `/`.
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Bytes (files).
    pub size: u64,
    /// Unix permission bits.
    pub mode: Option<u32>,
    /// Last modified, RFC 3339.
    pub mtime: Option<String>,
}

/// A path inside a snapshot: relative, without `..`; empty for the root.
pub fn relative(path: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!("the path '{path}' may not contain '..'"));
            }
        }
    }
    Ok(out)
}

fn entry(parent: &Path, n: &Node) -> Entry {
    let name = n.name().to_string_lossy().into_owned();
    let path = parent.join(&name).to_string_lossy().into_owned();
    let kind = match n.node_type {
        NodeType::File => "file",
        NodeType::Dir => "dir",
        NodeType::Symlink { .. } => "symlink",
        _ => "other",
    };
    Entry {
        name,
        path,
        kind,
        size: if n.is_file() { n.meta.size } else { 0 },
        mode: n.meta.mode.map(|m| m & 0o7777),
        mtime: n.meta.mtime.map(|t| t.to_string()),
    }
}

/// The entries of the directory `path` in snapshot `key`, by name (a file's path lists that
/// file alone).
pub fn list(ep: &RepoEndpoint, password: &str, key: &str, path: &str) -> Result<Vec<Entry>> {
    let rel = relative(path)?;
    let repo = open_indexed(ep, password)?;
    let root = saved_node_of(&repo, key)?;
    if !root.is_dir() {
        // A stream snapshot: one file.
        let name = root.name().to_string_lossy().into_owned();
        return if rel.as_os_str().is_empty() || rel == Path::new(&name) {
            Ok(vec![entry(Path::new(""), &root)])
        } else {
            Err(format!(
                "no '{path}' in snapshot {key}: it holds one file, '{name}'"
            ))
        };
    }
    let node = find(&repo, &root, &rel, key, path)?;
    if !node.is_dir() {
        let parent = rel.parent().unwrap_or(Path::new(""));
        return Ok(vec![entry(parent, &node)]);
    }
    let id = node
        .subtree
        .ok_or_else(|| format!("'{path}' in snapshot {key} is a directory without contents"))?;
    let tree = repo
        .get_tree(&id)
        .map_err(said("the directory cannot be read"))?;
    let mut out: Vec<Entry> = tree.nodes.iter().map(|n| entry(&rel, n)).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn find(
    repo: &rustic_core::Repository<impl rustic_core::IndexedTree>,
    root: &Node,
    rel: &Path,
    key: &str,
    path: &str,
) -> Result<Node> {
    if rel.as_os_str().is_empty() {
        return Ok(root.clone());
    }
    let id = root
        .subtree
        .ok_or_else(|| format!("snapshot {key} has an empty tree"))?;
    repo.node_from_path(id, rel)
        .map_err(|_| format!("no '{path}' in snapshot {key}"))
}

/// Writes the file `path` of snapshot `key` to `out`, blob by blob; returns its bytes.
pub fn cat(
    ep: &RepoEndpoint,
    password: &str,
    key: &str,
    path: &str,
    out: &mut impl Write,
) -> Result<u64> {
    let rel = relative(path)?;
    let repo = open_indexed(ep, password)?;
    let root = saved_node_of(&repo, key)?;
    let node = if root.is_dir() {
        find(&repo, &root, &rel, key, path)?
    } else {
        let name = root.name().to_string_lossy().into_owned();
        if !(rel.as_os_str().is_empty() || rel == Path::new(&name)) {
            return Err(format!(
                "no '{path}' in snapshot {key}: it holds one file, '{name}'"
            ));
        }
        root
    };
    if !node.is_file() {
        return Err(format!("'{path}' in snapshot {key} is not a file"));
    }
    crate::repo::write_file(&repo, &node, out)
}

/// Whether `path` (from the snapshot's root) is to be restored when only `wanted` are: it is one
/// of them, lies under one, or is a directory on the way to one.
pub fn selected(path: &Path, wanted: &[PathBuf]) -> bool {
    wanted
        .iter()
        .any(|w| path.starts_with(w) || w.starts_with(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_and_never_climb() {
        assert_eq!(relative("/a/b/").unwrap_or_default(), PathBuf::from("a/b"));
        assert_eq!(relative("").unwrap_or_default(), PathBuf::new());
        assert_eq!(relative("./a").unwrap_or_default(), PathBuf::from("a"));
        assert!(relative("a/../../etc").is_err());
    }

    #[test]
    fn a_selection_keeps_its_paths_what_is_under_them_and_the_way_there() {
        let wanted = [PathBuf::from("sub/f1.bin"), PathBuf::from("docs")];
        for (p, keep) in [
            ("sub", true),
            ("sub/f1.bin", true),
            ("sub/f3.bin", false),
            ("docs/a/b", true),
            ("f0.bin", false),
            ("", true),
        ] {
            assert_eq!(selected(Path::new(p), &wanted), keep, "{p}");
        }
    }
}
