//! Bulwark's own restore path: a tree snapshot written into a directory.
//!
//! The snapshot's trees are walked once to make its directories, links and (sized) files and to
//! note, pack by pack, which blob goes to which place in which file. Then worker threads fill
//! the files ([`super::fill`]). A file's metadata is set by the worker that writes its last
//! piece; directories' come last, after their contents.

use std::collections::HashMap;
use std::fs::{self, File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, futimens, mknod, utimensat};
use nix::sys::time::TimeSpec;
use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{Id, WriteBackend};

use super::direct::Direct;
use super::fill::{Packs, fill};
use super::known::{Known, Place};
use super::seal::Sealer;
use crate::endpoint::{Location, RepoEndpoint};
use crate::repo::{self, Result};
use crate::restore::Restored;

/// One blob's bytes going to one place of one file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Piece {
    pub(super) blob: Id,
    pub(super) place: Place,
    pub(super) file: usize,
    pub(super) at: u64,
}

/// The metadata a restore sets: what of a node's it keeps until the end (a node's whole
/// metadata is about four times as large; a restore holds one per file).
#[derive(Debug, Clone)]
pub(super) struct Meta {
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    atime: Option<rustic_core::jiff::Timestamp>,
    mtime: Option<rustic_core::jiff::Timestamp>,
    /// Extended attributes: name and value.
    xattrs: Vec<(String, Vec<u8>)>,
}

impl From<&Metadata> for Meta {
    fn from(m: &Metadata) -> Self {
        Self {
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            atime: m.atime,
            mtime: m.mtime,
            xattrs: m
                .extended_attributes
                .iter()
                .map(|x| (x.name.clone(), x.value.clone().unwrap_or_default()))
                .collect(),
        }
    }
}

/// What an entry whose metadata is set at the end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Entry {
    Dir,
    Link,
    /// A file or a special file.
    Other,
    /// A file made with its mode already.
    Made,
}

/// A file to fill, and how many of its pieces are still to write.
pub(super) struct Target {
    pub(super) path: Box<Path>,
    pub(super) meta: Meta,
    pub(super) left: AtomicUsize,
    /// The mode to make it with, when making it with its mode gives exactly that mode.
    pub(super) mode: Option<u32>,
}

/// Who restores, and with which umask.
#[derive(Debug, Clone, Copy)]
pub(super) struct Me {
    root: bool,
    uid: u32,
    gid: u32,
    umask: u32,
}

impl Me {
    pub(super) fn now() -> Self {
        use nix::sys::stat::umask;
        // Read by setting it, and set back at once: nothing is made in between.
        let mask = umask(Mode::empty());
        umask(mask);
        Self {
            root: nix::unistd::geteuid().is_root(),
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            umask: mask.bits(),
        }
    }

    /// The mode a file can be made with to end up exactly with `meta`'s mode: writable by its
    /// owner (other workers open it again), nothing the umask takes away, no set-id bits.
    fn make_mode(&self, meta: &Metadata) -> Option<u32> {
        let perms = unix_perms(meta.mode?);
        (perms & 0o200 != 0 && perms & self.umask == 0 && perms & 0o7000 == 0).then_some(perms)
    }
}

/// What the walk found.
#[derive(Default)]
pub(super) struct Plan {
    /// Files, links and directories with their metadata, parents before children.
    entries: Vec<(Box<Path>, Meta, Entry)>,
    /// Regular files to fill.
    pub(super) files: Vec<Target>,
    /// Pieces by pack.
    pub(super) packs: HashMap<[u8; 32], Vec<Piece>>,
    restored: Restored,
}

struct Reader<'a> {
    me: Me,
    known: &'a Known,
    be: &'a Arc<dyn WriteBackend>,
    sealer: &'a Sealer,
}

impl Reader<'_> {
    fn tree(&self, node: &Node) -> Result<Vec<Node>> {
        let id = node
            .subtree
            .ok_or_else(|| format!("directory {} has no tree", node.name().to_string_lossy()))?;
        let tree = self
            .known
            .tree(&id, self.be, self.sealer)?
            .ok_or_else(|| format!("tree {} is missing", id.to_hex().as_str()))?;
        Ok(tree.nodes)
    }

    /// Walks the directory `node` (at `rel` under `root`) into the plan.
    fn walk(
        &self,
        node: &Node,
        root: &Path,
        rel: &Path,
        wanted: &[PathBuf],
        plan: &mut Plan,
    ) -> Result<()> {
        for child in self.tree(node)? {
            let rel = rel.join(child.name());
            if !wanted.is_empty() && !crate::browse::selected(&rel, wanted) {
                continue;
            }
            let path = root.join(&rel);
            match &child.node_type {
                NodeType::Dir => {
                    fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    plan.entries
                        .push((path.clone().into(), (&child.meta).into(), Entry::Dir));
                    self.walk(&child, root, &rel, wanted, plan)?;
                }
                NodeType::File => self.file(&child, path, plan)?,
                NodeType::Symlink { .. } => {
                    let target = child.node_type.to_link();
                    std::os::unix::fs::symlink(target, &path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    plan.restored.files += 1;
                    plan.entries
                        .push((path.into(), (&child.meta).into(), Entry::Link));
                }
                NodeType::Dev { device } | NodeType::Chardev { device } => {
                    let kind = if matches!(child.node_type, NodeType::Dev { .. }) {
                        SFlag::S_IFBLK
                    } else {
                        SFlag::S_IFCHR
                    };
                    special(&path, kind, *device)?;
                    plan.entries
                        .push((path.into(), (&child.meta).into(), Entry::Other));
                }
                NodeType::Fifo => {
                    special(&path, SFlag::S_IFIFO, 0)?;
                    plan.entries
                        .push((path.into(), (&child.meta).into(), Entry::Other));
                }
                // A socket is made by the program that listens on it.
                NodeType::Socket => {}
            }
        }
        Ok(())
    }

    fn file(&self, node: &Node, path: PathBuf, plan: &mut Plan) -> Result<()> {
        let index = plan.files.len();
        let mut at = 0u64;
        let mut pieces = 0;
        for blob in node.content.iter().flatten() {
            let place = *self
                .known
                .place(blob)
                .ok_or_else(|| format!("blob {} is missing", blob.to_hex().as_str()))?;
            plan.packs.entry(place.pack).or_default().push(Piece {
                blob: **blob,
                place,
                file: index,
                at,
            });
            pieces += 1;
            at += place.plain_len();
        }
        // A file with contents is made by the worker that writes into it first; one creation
        // and one open per file (each costs about as much as writing 64 KiB here).
        // Its metadata is set by the worker that writes its last piece.
        plan.restored.files += 1;
        plan.restored.bytes += at;
        if pieces == 0 {
            File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            plan.entries
                .push((path.into(), (&node.meta).into(), Entry::Other));
        } else {
            plan.files.push(Target {
                path: path.into(),
                mode: self.me.make_mode(&node.meta),
                meta: (&node.meta).into(),
                left: AtomicUsize::new(pieces),
            });
        }
        Ok(())
    }
}

fn special(path: &Path, kind: SFlag, device: u64) -> Result<()> {
    mknod(path, kind, Mode::from_bits_truncate(0o600), device)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Restores the directory `node` of snapshot `key` (its entries selected by `wanted`, all when
/// empty) into the empty directory `dir`.
pub fn restore_into(
    ep: &RepoEndpoint,
    password: &str,
    key: &str,
    dir: &Path,
    wanted: &[PathBuf],
) -> Result<Restored> {
    let backends = repo::backends(ep)?;
    let repository = repo::open_on(ep, &backends, password)?;
    let snap = repo::snapshot(&repository, key)?;
    let sealer = Sealer::new(&repository.key())?;
    let be = backends.repository();
    let known = Known::load(&be, &sealer)?;
    let me = Me::now();
    let reader = Reader {
        me,
        known: &known,
        be: &be,
        sealer: &sealer,
    };
    // Down the snapshot's one path to the directory it saved.
    let paths: Vec<&String> = snap.paths.iter().collect();
    let [saved] = paths.as_slice() else {
        return Err(format!("snapshot {key} holds {} paths", paths.len()));
    };
    let mut node = Node::new_node(std::ffi::OsStr::new(""), NodeType::Dir, Metadata::default());
    node.subtree = Some(snap.tree);
    for name in crate::browse::relative(saved)?.iter() {
        node = reader
            .tree(&node)?
            .into_iter()
            .find(|n| n.name() == name)
            .ok_or_else(|| format!("snapshot {key} lacks its own path {saved}"))?;
    }
    if !node.is_dir() {
        return Err(format!(
            "snapshot {key} holds a stream, not a directory tree"
        ));
    }
    // Asked while `dir` is still empty, so the probe's name cannot be a restored file's.
    let direct = Direct::probe(dir);
    let mut plan = Plan::default();
    reader.walk(&node, dir, Path::new(""), wanted, &mut plan)?;
    for w in wanted {
        let w = dir.join(w);
        if !plan.entries.iter().any(|(p, _, _)| **p == *w)
            && !plan.files.iter().any(|f| *f.path == *w)
        {
            let shown = w.strip_prefix(dir).unwrap_or(&w).display().to_string();
            return Err(format!("no '{shown}' in the snapshot"));
        }
    }
    let packs = match &ep.location {
        Location::Local { path } => Packs::Local(path.clone()),
        _ => Packs::Backend(&be),
    };
    fill(&plan, &packs, &sealer, me, &direct)?;
    for (path, meta, kind) in plan.entries.iter().rev() {
        set_meta(On::Path(path), meta, *kind, me)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(plan.restored)
}

/// An entry whose metadata is set: by path (no opening), or through a file already open.
#[derive(Clone, Copy)]
pub(super) enum On<'a> {
    Path(&'a Path),
    File(&'a File),
}

/// Mode, owner (when allowed), extended attributes and times of one restored entry.
pub(super) fn set_meta(on: On<'_>, meta: &Meta, kind: Entry, me: Me) -> std::io::Result<()> {
    // Owners are only given away by root; anyone else keeps the files as their own.
    if me.root && (meta.uid != Some(me.uid) || meta.gid != Some(me.gid)) {
        match on {
            On::Path(p) => std::os::unix::fs::lchown(p, meta.uid, meta.gid)?,
            On::File(f) => std::os::unix::fs::fchown(f, meta.uid, meta.gid)?,
        }
    }
    if kind == Entry::Link {
        return Ok(());
    }
    // Before the mode: a read-only file takes no new attributes. Those only root may set
    // (`trusted.`, most `security.`) are said and skipped, as the file itself is whole.
    for (name, value) in &meta.xattrs {
        let set = match on {
            On::Path(p) => xattr::set(p, name, value),
            On::File(f) => xattr::FileExt::set_xattr(f, name, value),
        };
        if let Err(e) = set {
            eprintln!("warning: the extended attribute {name} was not restored: {e}");
        }
    }
    if let Some(go) = meta.mode.filter(|_| kind != Entry::Made) {
        let perms = Permissions::from_mode(unix_perms(go));
        match on {
            On::Path(p) => fs::set_permissions(p, perms)?,
            On::File(f) => f.set_permissions(perms)?,
        }
    }
    let spec = |t: Option<rustic_core::jiff::Timestamp>| match t {
        Some(t) => TimeSpec::new(t.as_second(), i64::from(t.subsec_nanosecond())),
        None => TimeSpec::UTIME_OMIT,
    };
    let (atime, mtime) = (spec(meta.atime), spec(meta.mtime));
    match on {
        On::Path(p) => utimensat(AT_FDCWD, p, &atime, &mtime, UtimensatFlags::FollowSymlink),
        On::File(f) => futimens(f, &atime, &mtime),
    }
    .map_err(std::io::Error::from)
}

/// The permission bits of a Go file mode.
fn unix_perms(go: u32) -> u32 {
    let mut mode = go & 0o777;
    for (go_bit, bit) in [(1 << 23, 0o4000), (1 << 22, 0o2000), (1 << 20, 0o1000)] {
        if go & go_bit != 0 {
            mode |= bit;
        }
    }
    mode
}
