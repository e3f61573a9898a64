//! Bulwark's own backup path into a restic-format repository.
//!
//! rustic_core opens the repository and hands over its master key and config; from there this
//! module writes what a backup adds: it cuts files with a keyed FastCDC chunker
//! ([`chunker`]), hashes each chunk on the walking thread, and sends the chunks the repository
//! lacks to worker threads that compress, seal, verify (open and decompress again, compared
//! with the original) and pack them. Packs are written as they fill, then the index files
//! listing them, then the snapshot, so a crash at any point leaves a repository that checks
//! clean (at most packs no index lists yet, which the next prune removes). Everything in flight
//! is bounded: memory does not grow with the size of the data.

pub mod chunker;
mod direct;
mod fill;
mod key;
mod known;
mod pack;
pub mod seal;
#[cfg(test)]
mod tests;
pub mod unpack;
mod walk;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use rustic_core::jiff::Zoned;
use rustic_core::repofile::{Node, NodeType, SnapshotFile, SnapshotId, SnapshotSummary, Tree};
use rustic_core::{DataId, FileType, Id, RusticProgress, TreeId, WriteBackend};

use self::chunker::{Chunker, Gear};
use self::known::Known;
use self::pack::{IndexPack, Kind, Pack, Sealed};
use self::seal::{Sealer, hash};
use crate::endpoint::RepoEndpoint;
use crate::repo::{self, BytesDone, Labels, Result, Stored, said};

/// Chunks waiting for a worker; with the workers' own, this bounds what is in flight.
const QUEUE: usize = 8;
/// Packs per index file.
const INDEX_PACKS: usize = 256;

/// What the walking thread and the workers share.
struct Shared {
    be: Arc<dyn WriteBackend>,
    sealer: Sealer,
    level: i32,
    packs: Mutex<[Pack; 2]>,
    written: Mutex<Vec<IndexPack>>,
    error: Mutex<Option<String>>,
    stop: AtomicBool,
}

pub use key::KEY_LOG_N;
pub(crate) use key::rekey;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn fail(&self, e: String) {
        lock(&self.error).get_or_insert(e);
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Adds a sealed blob to its pack, writing the pack when full.
    fn pack(&self, blob: Sealed<'_>) -> Result<()> {
        let slot = usize::from(blob.kind == Kind::Tree);
        let full = {
            let mut packs = lock(&self.packs);
            if packs[slot].add(blob)? {
                Some(std::mem::take(&mut packs[slot]))
            } else {
                None
            }
        };
        if let Some(pack) = full {
            self.write(pack)?;
        }
        Ok(())
    }

    fn write(&self, pack: Pack) -> Result<()> {
        let entry = pack.write(&self.sealer, &self.be)?;
        let batch = {
            let mut written = lock(&self.written);
            written.push(entry);
            (written.len() >= INDEX_PACKS).then(|| std::mem::take(&mut *written))
        };
        if let Some(batch) = batch {
            pack::write_index(batch, &self.sealer, self.level, &self.be)?;
        }
        Ok(())
    }
}

/// A chunk for a worker.
struct Job {
    id: [u8; 32],
    kind: Kind,
    data: Vec<u8>,
}

/// A worker's tools and buffers, kept from blob to blob: fresh buffers for every blob cost a
/// page fault per 4 KiB written into them, which was a second of system time per GiB.
struct Tools<'a> {
    comp: zstd::bulk::Compressor<'a>,
    decomp: zstd::bulk::Decompressor<'a>,
    packed: Vec<u8>,
    sealed: Vec<u8>,
    check: Vec<u8>,
    back: Vec<u8>,
}

impl Tools<'_> {
    fn new(level: i32) -> Result<Self> {
        Ok(Self {
            comp: zstd::bulk::Compressor::new(level)
                .map_err(|e| format!("the compressor cannot be set up: {e}"))?,
            decomp: zstd::bulk::Decompressor::new()
                .map_err(|e| format!("the decompressor cannot be set up: {e}"))?,
            packed: Vec::new(),
            sealed: Vec::new(),
            check: Vec::new(),
            back: Vec::new(),
        })
    }

    /// Compresses (when that makes it smaller), seals and verifies one blob into `self.sealed`;
    /// returns the plain length when compressed.
    fn seal(&mut self, data: &[u8], sealer: &Sealer) -> Result<Option<u32>> {
        self.packed.clear();
        self.packed
            .reserve(zstd::zstd_safe::compress_bound(data.len()));
        self.comp
            .compress_to_buffer(data, &mut self.packed)
            .map_err(|e| format!("compression failed: {e}"))?;
        let compressed = self.packed.len() < data.len();
        let (plain, uncompressed) = if compressed {
            let n = u32::try_from(data.len()).map_err(|_| "a chunk is too large")?;
            (self.packed.as_slice(), Some(n))
        } else {
            (data, None)
        };
        self.sealed.clear();
        sealer.seal_into(plain, &mut self.sealed)?;
        // The check that caught restic 0.16's corruption: what will be stored must give back
        // exactly what was read.
        self.check.clear();
        self.check.extend_from_slice(&self.sealed);
        let inner = sealer.open_slice(&mut self.check)?;
        let opened = &self.check[inner];
        let back: &[u8] = if compressed {
            self.back.clear();
            self.back.reserve(data.len());
            self.decomp
                .decompress_to_buffer(opened, &mut self.back)
                .map_err(|e| format!("verification failed: a blob does not decompress: {e}"))?;
            &self.back
        } else {
            opened
        };
        if back != data {
            return Err("verification failed: a blob changed between reading and storing".into());
        }
        Ok(uncompressed)
    }
}

fn worker(shared: &Shared, rx: &Receiver<Job>, pool: &Sender<Vec<u8>>) {
    let mut tools = match Tools::new(shared.level) {
        Ok(t) => t,
        Err(e) => return shared.fail(e),
    };
    for job in rx {
        if !shared.stop.load(Ordering::Relaxed) {
            let done = tools
                .seal(&job.data, &shared.sealer)
                .and_then(|uncompressed| {
                    shared.pack(Sealed {
                        id: job.id,
                        kind: job.kind,
                        bytes: &tools.sealed,
                        uncompressed,
                    })
                });
            if let Err(e) = done {
                shared.fail(e);
            }
        }
        // Back to the walking thread for another chunk.
        let _ = pool.try_send(job.data);
    }
}

/// What a backup counted.
#[derive(Debug, Default)]
struct Stats {
    /// Files new, changed, unchanged.
    files: [u64; 3],
    dirs: u64,
    /// Bytes of every file, read or not.
    bytes: u64,
    data_blobs: u64,
    tree_blobs: u64,
    /// Plain bytes of new blobs.
    added: u64,
}

/// One backup in progress: the walking thread's side.
pub(crate) struct Backup<'a> {
    shared: &'a Shared,
    tx: Option<Sender<Job>>,
    /// Chunk buffers the workers are done with.
    pool: Receiver<Vec<u8>>,
    /// The chunker's read buffer, kept from file to file.
    buf: Vec<u8>,
    known: Known,
    /// Blobs sent to the workers by this backup.
    sent: HashSet<Id>,
    gear: Arc<Gear>,
    stats: Stats,
    progress: BytesDone,
}

impl Backup<'_> {
    fn failed(&self) -> Result<()> {
        if self.shared.stop.load(Ordering::Relaxed) {
            return Err(lock(&self.shared.error)
                .clone()
                .unwrap_or_else(|| "the backup was stopped".into()));
        }
        Ok(())
    }

    fn has_data(&self, id: &DataId) -> bool {
        self.known.has_data(id) || self.sent.contains(id)
    }

    /// Stores one blob unless the repository has it; returns its id.
    fn blob(&mut self, kind: Kind, data: &[u8]) -> Result<Id> {
        let bytes = hash(data);
        let id = Id::new(bytes);
        let known = match kind {
            Kind::Data => self.known.has_data(&id),
            Kind::Tree => self.known.has_tree(&id),
        };
        if known || !self.sent.insert(id) {
            return Ok(id);
        }
        match kind {
            Kind::Data => self.stats.data_blobs += 1,
            Kind::Tree => self.stats.tree_blobs += 1,
        }
        self.stats.added += data.len() as u64;
        let mut buf = self.pool.try_recv().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        let job = Job {
            id: bytes,
            kind,
            data: buf,
        };
        let tx = self.tx.as_ref().ok_or("the backup has ended")?;
        if tx.send(job).is_err() {
            self.failed()?;
            return Err("the backup's workers stopped".into());
        }
        Ok(id)
    }

    /// Reads `r` to its end into data blobs; returns their ids and the bytes read.
    fn file(&mut self, r: impl Read) -> Result<(Vec<DataId>, u64)> {
        let gear = Arc::clone(&self.gear);
        let mut chunker = Chunker::new(&gear, r, std::mem::take(&mut self.buf));
        let mut content = Vec::new();
        let mut size = 0u64;
        while let Some(chunk) = chunker.next_chunk().map_err(|e| e.to_string())? {
            let id = self.blob(Kind::Data, chunk)?;
            content.push(DataId::from(id));
            size += chunk.len() as u64;
            self.progress.inc(chunk.len() as u64);
            self.failed()?;
        }
        self.buf = chunker.into_buffer();
        self.stats.bytes += size;
        Ok((content, size))
    }

    fn tree(&mut self, tree: &Tree) -> Result<TreeId> {
        let (bytes, id) = tree
            .serialize()
            .map_err(|e| format!("a tree cannot be made: {e}"))?;
        self.blob(Kind::Tree, &bytes)?;
        Ok(id)
    }
}

/// How many workers compress and seal: one per core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8))
}

/// Opens the repository, runs `walk` with a backup whose workers run beside it, and writes
/// the snapshot of the tree it returns.
fn run(
    ep: &RepoEndpoint,
    password: &str,
    labels: &Labels,
    paths: Vec<String>,
    parent: Option<&str>,
    walk: impl FnOnce(&mut Backup<'_>, Option<TreeId>) -> Result<TreeId>,
) -> Result<Stored> {
    let start = Zoned::now();
    let clock = Instant::now();
    let backends = repo::backends(ep)?;
    let repo = repo::open_on(ep, &backends, password)?;
    let level = repo
        .config()
        .zstd()
        .map_err(said("the repository's config cannot be read"))?
        .unwrap_or(0);
    let parent_snap = parent.and_then(|p| repo.get_snapshot_from_str(p, |_| true).ok());
    let sealer = Sealer::new(&repo.key())?;
    let be = backends.repository();
    let known = Known::load(&be, &sealer)?;
    let gear = Arc::new(Gear::from_key(sealer.secret()));
    let shared = Shared {
        be,
        sealer,
        level,
        packs: Mutex::default(),
        written: Mutex::default(),
        error: Mutex::default(),
        stop: AtomicBool::new(false),
    };
    let (tx, rx) = crossbeam_channel::bounded::<Job>(QUEUE);
    let (pool_tx, pool) = crossbeam_channel::bounded::<Vec<u8>>(QUEUE + 8);
    let (root, stats) = std::thread::scope(|s| {
        for _ in 0..workers() {
            let (shared, rx, pool_tx) = (&shared, rx.clone(), pool_tx.clone());
            s.spawn(move || worker(shared, &rx, &pool_tx));
        }
        drop((rx, pool_tx));
        let mut b = Backup {
            shared: &shared,
            tx: Some(tx),
            pool,
            buf: Vec::new(),
            known,
            sent: HashSet::new(),
            gear,
            stats: Stats::default(),
            progress: BytesDone::default(),
        };
        let root = walk(&mut b, parent_snap.as_ref().map(|p| p.tree));
        if let Err(e) = &root {
            shared.fail(e.clone());
        }
        b.tx = None;
        b.progress.finish();
        (root, b.stats)
    });
    let root = root?;
    if let Some(e) = lock(&shared.error).take() {
        return Err(e);
    }
    // The last, partly filled packs, then every pack's index, then the snapshot.
    let last = std::mem::take(&mut *lock(&shared.packs));
    for pack in last.into_iter().filter(|p| !p.is_empty()) {
        shared.write(pack)?;
    }
    let rest = std::mem::take(&mut *lock(&shared.written));
    let added_packed: u64 = rest.iter().map(|p| u64::from(p.size.unwrap_or(0))).sum();
    if !rest.is_empty() {
        pack::write_index(rest, &shared.sealer, level, &shared.be)?;
    }
    let mut snap = labels.snapshot()?;
    snap.program_version = format!("bulwark {}", env!("CARGO_PKG_VERSION"));
    snap.tree = root;
    snap.parent = parent_snap.map(|p| p.id);
    for p in paths {
        snap.paths.add(p);
    }
    let end = Zoned::now();
    let mut sum = SnapshotSummary::default();
    sum.files_new = stats.files[0];
    sum.files_changed = stats.files[1];
    sum.files_unmodified = stats.files[2];
    sum.total_files_processed = stats.files.iter().sum();
    sum.total_bytes_processed = stats.bytes;
    sum.total_dirs_processed = stats.dirs;
    sum.data_blobs = stats.data_blobs;
    sum.tree_blobs = stats.tree_blobs;
    sum.data_added = stats.added;
    sum.data_added_packed = added_packed;
    sum.command = "backup".into();
    sum.backup_start = start.clone();
    sum.backup_end = end;
    sum.backup_duration = clock.elapsed().as_secs_f64();
    sum.total_duration = sum.backup_duration;
    snap.summary = Some(sum);
    snap.time = start;
    snap.id = save_snapshot(&snap, &shared)?;
    Ok(repo::stored(&snap))
}

fn save_snapshot(snap: &SnapshotFile, shared: &Shared) -> Result<SnapshotId> {
    let json = serde_json::to_vec(snap).map_err(|e| format!("a snapshot cannot be made: {e}"))?;
    let sealed = shared.sealer.file(&json, shared.level)?;
    let id = Id::new(hash(&sealed));
    shared
        .be
        .write_bytes(FileType::Snapshot, &id, true, sealed.into())
        .map_err(said("the snapshot cannot be written"))?;
    Ok(SnapshotId::from(id))
}

/// Stores a directory tree as a snapshot; files unchanged since `parent` are not read again.
///
/// The snapshot's path is the directory's absolute path, and its tree holds one directory per
/// component of it, as restic's do.
pub fn store_tree(
    ep: &RepoEndpoint,
    password: &str,
    dir: &Path,
    parent: Option<&str>,
    labels: &Labels,
) -> Result<Stored> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let shown = dir
        .to_str()
        .ok_or("the directory's path is not UTF-8")?
        .to_string();
    let names: Vec<_> = dir
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            _ => None,
        })
        .collect();
    run(ep, password, labels, vec![shown], parent, |b, parent| {
        // The parent's tree of the directory itself, down the same chain of names.
        let mut old = parent;
        for name in &names {
            let nodes = b.parent_nodes(old)?;
            old = nodes
                .get(std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()))
                .and_then(|n| n.subtree);
        }
        let mut id = b.dir(&dir, old)?;
        // Up the chain: each ancestor holds only the next one.
        let mut at: PathBuf = dir.clone();
        for name in names.iter().rev() {
            let m = std::fs::metadata(&at).map_err(|e| format!("{}: {e}", at.display()))?;
            let mut node = walk::node_of(name, &m, &at)?;
            node.node_type = NodeType::Dir;
            node.subtree = Some(id);
            id = b.tree(&Tree { nodes: vec![node] })?;
            at.pop();
        }
        Ok(id)
    })
}

/// Stores this process's standard input as a snapshot of one file called `filename`.
pub fn store_stdin(
    ep: &RepoEndpoint,
    password: &str,
    filename: &str,
    labels: &Labels,
) -> Result<Stored> {
    store_stream(ep, password, filename, labels, std::io::stdin().lock())
}

/// Stores what `input` gives as a snapshot of one file called `filename`.
pub fn store_stream(
    ep: &RepoEndpoint,
    password: &str,
    filename: &str,
    labels: &Labels,
    input: impl Read,
) -> Result<Stored> {
    run(
        ep,
        password,
        labels,
        vec![filename.to_string()],
        None,
        |b, _| {
            let (content, size) = b.file(input)?;
            b.stats.files[0] = 1;
            let mut node = Node::new_node(
                std::ffi::OsStr::new(filename),
                NodeType::File,
                rustic_core::repofile::Metadata::default(),
            );
            node.meta.size = size;
            node.meta.mode = Some(0o644);
            node.meta.mtime = Some(rustic_core::jiff::Timestamp::now());
            node.content = Some(content);
            b.tree(&Tree { nodes: vec![node] })
        },
    )
}
