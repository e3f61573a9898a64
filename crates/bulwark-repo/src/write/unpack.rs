//! Bulwark's own restore path: a tree snapshot written into a directory.
//!
//! The snapshot's trees are walked once to make its directories, links and (sized) files and to
//! note, pack by pack, which blob goes to which place in which file. Then worker threads take
//! the packs one at a time: each reads the range of the pack its blobs span in one request,
//! opens and decompresses each blob, checks it against its id, and writes it where it goes.
//! What is in flight is one pack range per worker, so memory does not grow with the data.
//! Metadata (mode, times, owner) comes last, directories after their contents.

use std::collections::HashMap;
use std::fs::{self, File, Permissions};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{FileType, Id, RusticProgress, WriteBackend};

use super::known::{Known, Place, id_bytes};
use super::seal::{Sealer, hash};
use super::{lock, workers};
use crate::endpoint::RepoEndpoint;
use crate::repo::{self, BytesDone, Result, said};
use crate::restore::Restored;

/// One blob's bytes going to one place of one file.
#[derive(Debug, Clone, Copy)]
struct Piece {
    blob: Id,
    place: Place,
    file: usize,
    at: u64,
}

/// The metadata a restore sets: what of a node's it keeps until the end (a node's whole
/// metadata is about four times as large; a restore holds one per file).
#[derive(Debug, Clone)]
struct Meta {
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
enum Entry {
    Dir,
    Link,
    /// A file or a special file.
    Other,
    /// A file made with its mode already.
    Made,
}

/// A file to fill, and how many of its pieces are still to write.
struct Target {
    path: Box<Path>,
    meta: Meta,
    left: AtomicUsize,
    /// The mode to make it with, when making it with its mode gives exactly that mode.
    mode: Option<u32>,
}

/// Who restores, and with which umask.
#[derive(Debug, Clone, Copy)]
struct Me {
    root: bool,
    uid: u32,
    gid: u32,
    umask: u32,
}

impl Me {
    fn now() -> Self {
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
struct Plan {
    /// Files, links and directories with their metadata, parents before children.
    entries: Vec<(Box<Path>, Meta, Entry)>,
    /// Regular files to fill.
    files: Vec<Target>,
    /// Pieces by pack.
    packs: HashMap<[u8; 32], Vec<Piece>>,
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
    fill(&plan, &be, &sealer, me)?;
    for (path, meta, kind) in plan.entries.iter().rev() {
        set_meta(path, meta, *kind, me).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(plan.restored)
}

/// Writes every file's blobs, pack by pack, on as many threads as there are cores.
fn fill(plan: &Plan, be: &Arc<dyn WriteBackend>, sealer: &Sealer, me: Me) -> Result<()> {
    // In the order the files need them, so a worker's open file is mostly the next one's too.
    let mut packs: Vec<(&[u8; 32], &Vec<Piece>)> = plan.packs.iter().collect();
    packs.sort_by_key(|(_, pieces)| pieces.iter().map(|p| (p.file, p.at)).min());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let error: Mutex<Option<String>> = Mutex::default();
    let progress = BytesDone::default();
    let shared = Fill {
        be,
        sealer,
        files: &plan.files,
        me,
        progress: &progress,
    };
    std::thread::scope(|s| {
        for _ in 0..workers() {
            s.spawn(|| {
                let mut unpacker = match Unpacker::new() {
                    Ok(u) => u,
                    Err(e) => {
                        lock(&error).get_or_insert(e);
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                };
                let mut open: Option<(usize, File)> = None;
                while !stop.load(Ordering::Relaxed) {
                    let Some((pack, pieces)) = packs.get(next.fetch_add(1, Ordering::Relaxed))
                    else {
                        break;
                    };
                    let done = one_pack(&shared, pack, pieces, &mut unpacker, &mut open);
                    if let Err(e) = done {
                        lock(&error).get_or_insert(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    progress.finish();
    match lock(&error).take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What every worker of a restore shares.
struct Fill<'a> {
    be: &'a Arc<dyn WriteBackend>,
    sealer: &'a Sealer,
    files: &'a [Target],
    me: Me,
    progress: &'a BytesDone,
}

fn one_pack(
    fill: &Fill<'_>,
    pack: &[u8; 32],
    pieces: &[Piece],
    unpacker: &mut Unpacker<'_>,
    open: &mut Option<(usize, File)>,
) -> Result<()> {
    let Fill {
        be,
        sealer,
        files,
        me,
        progress,
    } = *fill;
    let start = pieces.iter().map(|p| p.place.offset).min().unwrap_or(0);
    let end = pieces
        .iter()
        .map(|p| p.place.offset + p.place.length)
        .max()
        .unwrap_or(0);
    let bytes = be
        .read_partial(FileType::Pack, &Id::new(*pack), false, start, end - start)
        .map_err(said("a pack cannot be read"))?;
    let mut last: Option<Id> = None;
    let mut sorted: Vec<&Piece> = pieces.iter().collect();
    sorted.sort_by_key(|p| (p.place.offset, p.file, p.at));
    for piece in sorted {
        if last != Some(piece.blob) {
            let from = (piece.place.offset - start) as usize;
            let sealed = bytes
                .get(from..from + piece.place.length as usize)
                .ok_or("a pack is shorter than its index says")?;
            unpacker.open(sealer, &piece.place, sealed)?;
            if hash(unpacker.out()) != id_bytes(&piece.blob) {
                return Err(format!(
                    "blob {} is damaged: its contents do not match its id",
                    piece.blob.to_hex().as_str()
                ));
            }
            last = Some(piece.blob);
        }
        let plain = unpacker.out();
        if open.as_ref().is_none_or(|(i, _)| *i != piece.file) {
            let path = &files[piece.file].path;
            let f = File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(files[piece.file].mode.unwrap_or(0o600))
                .open(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            *open = Some((piece.file, f));
        }
        let target = &files[piece.file];
        if let Some((_, f)) = open {
            f.write_all_at(plain, piece.at)
                .map_err(|e| format!("{}: {e}", target.path.display()))?;
        }
        if target.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            *open = None;
            let kind = if target.mode.is_some() {
                Entry::Made
            } else {
                Entry::Other
            };
            set_meta(&target.path, &target.meta, kind, me)
                .map_err(|e| format!("{}: {e}", target.path.display()))?;
        }
        progress.inc(plain.len() as u64);
    }
    Ok(())
}

/// A worker's decompressor and buffers, kept from blob to blob (fresh buffers cost a page
/// fault per 4 KiB).
struct Unpacker<'a> {
    decomp: zstd::bulk::Decompressor<'a>,
    opened: Vec<u8>,
    plain: Vec<u8>,
    compressed: bool,
}

impl Unpacker<'_> {
    fn new() -> Result<Self> {
        Ok(Self {
            decomp: zstd::bulk::Decompressor::new()
                .map_err(|e| format!("the decompressor cannot be set up: {e}"))?,
            opened: Vec::new(),
            plain: Vec::new(),
            compressed: false,
        })
    }

    /// Opens (and decompresses) one blob; its bytes are then [`Unpacker::out`].
    fn open(&mut self, sealer: &Sealer, place: &Place, sealed: &[u8]) -> Result<()> {
        self.opened.clear();
        self.opened.extend_from_slice(sealed);
        sealer.open_in_place(&mut self.opened)?;
        self.compressed = place.uncompressed.is_some();
        if let Some(n) = place.uncompressed {
            self.plain.clear();
            self.plain.reserve(n as usize);
            self.decomp
                .decompress_to_buffer(&self.opened, &mut self.plain)
                .map_err(|e| format!("a blob does not decompress: {e}"))?;
        }
        Ok(())
    }

    fn out(&self) -> &[u8] {
        if self.compressed {
            &self.plain
        } else {
            &self.opened
        }
    }
}

/// Mode, owner (when allowed) and times of one restored entry, by path (no opening).
fn set_meta(path: &Path, meta: &Meta, kind: Entry, me: Me) -> std::io::Result<()> {
    // Owners are only given away by root; anyone else keeps the files as their own.
    if me.root && (meta.uid != Some(me.uid) || meta.gid != Some(me.gid)) {
        std::os::unix::fs::lchown(path, meta.uid, meta.gid)?;
    }
    if kind == Entry::Link {
        return Ok(());
    }
    // Before the mode: a read-only file takes no new attributes. Those only root may set
    // (`trusted.`, most `security.`) are said and skipped, as the file itself is whole.
    for (name, value) in &meta.xattrs {
        if let Err(e) = xattr::set(path, name, value) {
            eprintln!(
                "warning: {}: the extended attribute {} was not restored: {e}",
                path.display(),
                name
            );
        }
    }
    if let Some(go) = meta.mode.filter(|_| kind != Entry::Made) {
        fs::set_permissions(path, Permissions::from_mode(unix_perms(go)))?;
    }
    let spec = |t: Option<rustic_core::jiff::Timestamp>| match t {
        Some(t) => TimeSpec::new(t.as_second(), i64::from(t.subsec_nanosecond())),
        None => TimeSpec::UTIME_OMIT,
    };
    utimensat(
        AT_FDCWD,
        path,
        &spec(meta.atime),
        &spec(meta.mtime),
        UtimensatFlags::FollowSymlink,
    )
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
