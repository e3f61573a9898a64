//! What Bulwark does with a repository: create it, store a stream or a directory tree as a
//! snapshot, give either back, forget snapshots, prune and check.
//!
//! Every function opens the repository itself (these run in a short-lived plugin process, one
//! call each) and turns rustic_core's errors into one line.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytesize::ByteSize;
use rustic_core::repofile::{Node, SnapshotFile};
use rustic_core::{
    CheckOptions, ConfigOptions, Credentials, KeyOptions, NoProgressBars, OpenStatus, Progress,
    ProgressBars, ProgressType, PruneOptions, ReadSubsetOption, Repository, RepositoryBackends,
    RepositoryOptions, RusticError, RusticProgress, SnapshotOptions, WriteBackend,
};

use crate::endpoint::{Location, RepoEndpoint};
use crate::object::ObjectBackend;

/// A failure, said in one line.
pub type Result<T> = std::result::Result<T, String>;

/// The tag every Bulwark snapshot carries.
pub const TAG: &str = "bulwark";

pub(crate) fn said(what: &str) -> impl Fn(Box<RusticError>) -> String + '_ {
    move |e| format!("{what}: {}", one_line(&e))
}

/// A rustic_core error in one line: its own log form up to where a nested error's many-line
/// report begins, and the innermost cause.
fn one_line(e: &RusticError) -> String {
    let log = e.display_log();
    let mut out = log
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string();
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let deepest = cur.to_string();
    if !deepest.contains('\n') && !out.contains(&deepest) {
        out = format!("{out} ({deepest})");
    }
    out
}

pub(crate) fn backends(ep: &RepoEndpoint) -> Result<RepositoryBackends> {
    let be: Arc<dyn WriteBackend> = match &ep.location {
        Location::Local { path } => {
            let path = path
                .to_str()
                .ok_or_else(|| "the repository path is not UTF-8".to_string())?;
            Arc::new(
                rustic_backend::LocalBackend::new(path, std::iter::empty::<(String, String)>())
                    .map_err(said("the repository directory cannot be used"))?,
            )
        }
        other => Arc::new(ObjectBackend::new(other, ep.describe())?),
    };
    // A job's bandwidth limit, for what a backup writes.
    let be = match std::env::var(crate::cli::BANDWIDTH_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|r| *r > 0)
    {
        Some(rate) => Arc::new(crate::paced::Paced::new(be, rate)) as Arc<dyn WriteBackend>,
        None => be,
    };
    Ok(RepositoryBackends::new(be, None))
}

fn options(ep: &RepoEndpoint) -> RepositoryOptions {
    match &ep.cache_dir {
        Some(dir) => RepositoryOptions::default().cache_dir(dir.clone()),
        None => RepositoryOptions::default().no_cache(true),
    }
}

/// Opens an existing repository with its password.
pub fn open(ep: &RepoEndpoint, password: &str) -> Result<Repository<OpenStatus>> {
    open_with(ep, password, NoProgressBars)
}

/// Opens the repository on `backends` (made by [`backends`]).
pub(crate) fn open_on(
    ep: &RepoEndpoint,
    backends: &RepositoryBackends,
    password: &str,
) -> Result<Repository<OpenStatus>> {
    let repo = Repository::new(&options(ep), backends)
        .map_err(said("the repository cannot be reached"))?;
    open_found(ep, repo, password)
}

/// Opens the repository with progress reports of `pb`.
pub(crate) fn open_with(
    ep: &RepoEndpoint,
    password: &str,
    pb: impl ProgressBars,
) -> Result<Repository<OpenStatus>> {
    let repo = Repository::new_with_progress(&options(ep), &backends(ep)?, pb)
        .map_err(said("the repository cannot be reached"))?;
    open_found(ep, repo, password)
}

/// Opens `repo` with its password, or says that there is no repository at the endpoint.
fn open_found(
    ep: &RepoEndpoint,
    repo: Repository<()>,
    password: &str,
) -> Result<Repository<OpenStatus>> {
    if repo
        .config_id()
        .map_err(said("the repository cannot be read"))?
        .is_none()
    {
        return Err(format!(
            "there is no repository at {} (it is created with the store)",
            ep.describe()
        ));
    }
    repo.open(&Credentials::password(password))
        .map_err(said("the repository cannot be opened"))
}

/// Reports the bytes a tree backup or restore has done to Bulwark, as `bulwark-progress: N` lines
/// on stderr (see [`bulwark_plugin::PROGRESS_PREFIX`]), at most four times a second. Only byte
/// counts are reported; rustic_core's spinners and counters stay silent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportBytes;

impl ProgressBars for ReportBytes {
    fn progress(&self, kind: ProgressType, _prefix: &str) -> Progress {
        match kind {
            ProgressType::Bytes => Progress::new(BytesDone::default()),
            ProgressType::Spinner | ProgressType::Counter => Progress::hidden(),
        }
    }
}

/// A byte count and when it was last reported.
#[derive(Debug, Default)]
pub(crate) struct BytesDone {
    done: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl BytesDone {
    fn report(&self, total: u64) {
        eprintln!("{}{total}", bulwark_plugin::PROGRESS_PREFIX);
    }
}

impl RusticProgress for BytesDone {
    // "Hidden" to rustic_core only means it need not size the source first (a second walk of
    // the tree); the counts still come.
    fn is_hidden(&self) -> bool {
        true
    }
    fn set_length(&self, _len: u64) {}
    fn set_title(&self, _title: &str) {}
    fn inc(&self, inc: u64) {
        let total = self.done.fetch_add(inc, Ordering::Relaxed) + inc;
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|t| t.elapsed() >= REPORT_EVERY) {
            *last = Some(Instant::now());
            self.report(total);
        }
    }
    fn finish(&self) {
        self.report(self.done.load(Ordering::Relaxed));
    }
}

/// How often progress is reported.
const REPORT_EVERY: Duration = Duration::from_millis(250);

/// Checks that the location answers with these credentials: lists it (and, when no repository
/// is there yet, proves it writable).
pub fn reachable(ep: &RepoEndpoint) -> Result<()> {
    let be = backends(ep)?;
    let repo =
        Repository::new(&options(ep), &be).map_err(said("the repository cannot be reached"))?;
    let exists = repo
        .config_id()
        .map_err(said("the repository cannot be read"))?
        .is_some();
    if !exists && !matches!(ep.location, Location::Local { .. }) {
        be.repository()
            .create()
            .map_err(said("the location cannot be written"))?;
    }
    Ok(())
}

/// The average size of a data chunk in the repositories Bulwark creates (restic's is 1 MiB).
///
/// Writers of the restic format choose chunk boundaries freely (readers never depend on them;
/// the values are kept in the repository's config, which restic ignores). A smaller chunk means
/// a small change rewrites less: an in-place 16 KiB write into a large file costs about one
/// chunk of new data. 256 KiB keeps the index small (4 096 entries per GiB) while a typical
/// day of changes adds a quarter of what 1 MiB chunks add.
pub const CHUNK_SIZE: u64 = 256 << 10;
/// The smallest chunk (except a file's last).
pub const CHUNK_MIN_SIZE: u64 = 64 << 10;
/// The largest chunk.
pub const CHUNK_MAX_SIZE: u64 = 4 << 20;
/// The size of data packs (rustic_core's default is 32 MiB, growing with the repository).
///
/// A restore reads up to 20 pack ranges at once, each held with its decompressed blobs until
/// written, so the pack size bounds a restore's memory: 32 MiB packs made a 1 GiB restore peak
/// at 650 MiB, 4 to 8 MiB packs at 414 MiB. 4 MiB is what restic wrote before 0.14: a 1 TiB
/// repository holds about 260 000 packs.
pub const DATAPACK_SIZE: u64 = 4 << 20;
/// The largest data pack size (no growth with the repository's size).
pub const DATAPACK_SIZE_LIMIT: u64 = 4 << 20;

/// Creates a repository (format v2, zstd at the endpoint's level, the chunk and pack sizes
/// above), or checks that the one already there opens with `password` (keeping its own
/// parameters). Returns true when it was created.
pub fn init(ep: &RepoEndpoint, password: &str) -> Result<bool> {
    let be = backends(ep)?;
    let repo =
        Repository::new(&options(ep), &be).map_err(said("the repository cannot be reached"))?;
    if repo
        .config_id()
        .map_err(said("the repository cannot be read"))?
        .is_some()
    {
        repo.open(&Credentials::password(password)).map_err(said(
            "a repository is already there and does not open with this store's password",
        ))?;
        return Ok(false);
    }
    // Makes the directories (local) or proves the bucket writable (object stores) first.
    be.repository()
        .create()
        .map_err(said("the repository cannot be created"))?;
    let config = ConfigOptions::default()
        .set_version(2u32)
        .set_compression(ep.compression)
        .set_chunk_size(ByteSize::b(CHUNK_SIZE))
        .set_chunk_min_size(ByteSize::b(CHUNK_MIN_SIZE))
        .set_chunk_max_size(ByteSize::b(CHUNK_MAX_SIZE))
        .set_datapack_size(ByteSize::b(DATAPACK_SIZE))
        .set_datapack_size_limit(ByteSize::b(DATAPACK_SIZE_LIMIT));
    let repo = repo
        .init(
            &Credentials::password(password),
            &KeyOptions::default(),
            &config,
        )
        .map_err(said("the repository cannot be created"))?;
    // A key file that opens with less memory (see `write::key`).
    crate::write::rekey(
        &be.repository(),
        &repo.key(),
        password,
        repo.key_id().as_ref(),
    )?;
    Ok(true)
}

/// Who a snapshot belongs to: its tags and file name.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// `key=value` tags besides [`TAG`] (job, target, archive, upload).
    pub tags: Vec<(String, String)>,
    /// The host name recorded in the snapshot.
    pub host: String,
}

impl Labels {
    pub(crate) fn snapshot(&self) -> Result<SnapshotFile> {
        let mut opts = SnapshotOptions::default()
            .host(self.host.clone())
            .add_tags(TAG)
            .map_err(said("bad tag"))?;
        for (k, v) in &self.tags {
            opts = opts
                .add_tags(&format!("{k}={v}"))
                .map_err(said("bad tag"))?;
        }
        opts.to_snapshot().map_err(said("cannot start a snapshot"))
    }
}

/// What a backup stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stored {
    /// The snapshot id: the archive's store key.
    pub key: String,
    /// Bytes read from the source.
    pub archive_size: u64,
    /// Bytes the repository grew by (compressed, encrypted).
    pub added: u64,
    /// Files new, changed and unchanged against the parent (tree backups).
    pub files: [u64; 3],
}

pub(crate) fn stored(snap: &SnapshotFile) -> Stored {
    let s = snap.summary.clone().unwrap_or_default();
    Stored {
        key: snap.id.to_hex().to_string(),
        archive_size: s.total_bytes_processed,
        added: s.data_added_packed,
        files: [s.files_new, s.files_changed, s.files_unmodified],
    }
}

/// Set to `rustic` to back up and restore through rustic_core's archiver and restorer instead
/// of Bulwark's own data path ([`crate::write`]); for comparison, and for the test that both
/// write one repository.
pub const ENGINE_ENV: &str = "BULWARK_REPO_ENGINE";

pub(crate) fn rustic_engine() -> bool {
    std::env::var(ENGINE_ENV).is_ok_and(|v| v == "rustic")
}

/// Stores this process's standard input as a snapshot of one file called `filename`.
pub fn store_stdin(
    ep: &RepoEndpoint,
    password: &str,
    filename: &str,
    labels: &Labels,
) -> Result<Stored> {
    if rustic_engine() {
        return crate::archiver::store_stdin_rustic(ep, password, filename, labels);
    }
    crate::write::store_stdin(ep, password, filename, labels)
}

/// Stores a directory tree as a snapshot, reading only files that changed since `parent` (a
/// snapshot of the same directory).
pub fn store_tree(
    ep: &RepoEndpoint,
    password: &str,
    dir: &Path,
    parent: Option<&str>,
    labels: &Labels,
) -> Result<Stored> {
    if rustic_engine() {
        return crate::archiver::store_tree_rustic(ep, password, dir, parent, labels);
    }
    crate::write::store_tree(ep, password, dir, parent, labels)
}

pub(crate) fn snapshot(
    repo: &Repository<impl rustic_core::Open>,
    key: &str,
) -> Result<SnapshotFile> {
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("'{key}' is not a snapshot id"));
    }
    repo.get_snapshot_from_str(key, |_| true)
        .map_err(|e| format!("no snapshot with key {key}: {}", one_line(&e)))
}

/// The repository opened with its index, for reading snapshots.
pub(crate) fn open_indexed(
    ep: &RepoEndpoint,
    password: &str,
) -> Result<Repository<impl rustic_core::IndexedFull>> {
    open(ep, password)?
        .to_indexed()
        .map_err(said("the repository's index cannot be read"))
}

/// [`saved_node`], for the browsing module.
pub(crate) fn saved_node_of(
    repo: &Repository<impl rustic_core::IndexedTree>,
    key: &str,
) -> Result<Node> {
    saved_node(repo, key)
}

/// The node Bulwark saved in a snapshot: the one path it backed up (the stream's file, or the
/// directory of a tree).
fn saved_node(repo: &Repository<impl rustic_core::IndexedTree>, key: &str) -> Result<Node> {
    let snap = snapshot(repo, key)?;
    let paths: Vec<&String> = snap.paths.iter().collect();
    let [path] = paths.as_slice() else {
        return Err(format!(
            "snapshot {key} holds {} paths; Bulwark's snapshots hold one",
            paths.len()
        ));
    };
    repo.node_from_snapshot_and_path(&snap, path)
        .map_err(said("the snapshot cannot be read"))
}

/// Writes the one file of a stream snapshot to `out`.
pub fn dump(ep: &RepoEndpoint, password: &str, key: &str, out: &mut impl Write) -> Result<u64> {
    let repo = open_indexed(ep, password)?;
    let node = saved_node(&repo, key)?;
    if node.is_dir() {
        return Err(format!(
            "snapshot {key} holds a directory tree, not a stream; restore it into an fs target"
        ));
    }
    write_file(&repo, &node, out)
}

/// Writes the file `node` of a snapshot to `out`, blob by blob; returns its bytes.
pub(crate) fn write_file(
    repo: &Repository<impl rustic_core::IndexedFull>,
    node: &Node,
    out: &mut impl Write,
) -> Result<u64> {
    let mut counted = Counting { inner: out, n: 0 };
    repo.dump(node, &mut counted)
        .map_err(said("reading the snapshot failed"))?;
    counted
        .flush()
        .map_err(|e| format!("writing failed: {e}"))?;
    Ok(counted.n)
}

struct Counting<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(buf)?;
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Forgets a snapshot (its data goes at the next prune).
pub fn forget(ep: &RepoEndpoint, password: &str, key: &str) -> Result<()> {
    let repo = open(ep, password)?;
    let snap = snapshot(&repo, key)?;
    repo.delete_snapshots(&[snap.id])
        .map_err(said("the snapshot cannot be removed"))
}

/// Forgets every snapshot an unfinished upload saved (tagged `upload=ID`); returns how many.
pub fn abandon(ep: &RepoEndpoint, password: &str, upload: &str) -> Result<usize> {
    let repo = open(ep, password)?;
    let tag = format!("upload={upload}");
    let ids: Vec<_> = repo
        .get_all_snapshots()
        .map_err(said("the snapshots cannot be listed"))?
        .into_iter()
        .filter(|s| s.tags.contains(&tag))
        .map(|s| s.id)
        .collect();
    repo.delete_snapshots(&ids)
        .map_err(said("the snapshots cannot be removed"))?;
    Ok(ids.len())
}

/// What a prune did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pruned {
    /// Pack files before.
    pub packs_before: u64,
    /// Pack files after.
    pub packs_after: u64,
    /// Pack files removed.
    pub packs_removed: u64,
    /// Pack files rewritten to drop unused blobs.
    pub packs_repacked: u64,
    /// Bytes of pack files before.
    pub bytes_before: u64,
    /// Bytes of pack files after.
    pub bytes_after: u64,
}

/// Removes data no snapshot uses. Deletes at once: the daemon never runs a prune beside a
/// backup into the same store, so no backup can be relying on what it removes.
pub fn prune(ep: &RepoEndpoint, password: &str) -> Result<Pruned> {
    let repo = open(ep, password)?;
    let (packs_before, before) = pack_files(&repo)?;
    let opts = PruneOptions::default().instant_delete(true);
    let plan = repo
        .prune_plan(&opts)
        .map_err(said("the prune cannot be planned"))?;
    let stats = &plan.stats;
    let packs_removed = stats.packs.unused;
    let packs_repacked = stats.packs.repack;
    repo.prune(&opts, plan).map_err(said("the prune failed"))?;
    let (packs_after, after) = pack_files(&repo)?;
    Ok(Pruned {
        packs_before,
        packs_after,
        packs_removed,
        packs_repacked,
        bytes_before: before,
        bytes_after: after,
    })
}

/// How many pack files the repository holds, and their bytes.
fn pack_files(repo: &Repository<OpenStatus>) -> Result<(u64, u64)> {
    let infos = repo
        .infos_files()
        .map_err(said("the repository cannot be listed"))?;
    let packs = infos
        .repo
        .iter()
        .filter(|i| i.tpe == rustic_core::FileType::Pack);
    Ok(packs.fold((0, 0), |(n, b), i| (n + i.count, b + i.size)))
}

/// What a check found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Checked {
    /// True when nothing is wrong.
    pub ok: bool,
    /// Errors, one line each.
    pub errors: Vec<String>,
    /// Warnings, one line each.
    pub warnings: Vec<String>,
}

/// Verifies the repository's structure, and reads back `read` of the data (`None` for none,
/// `"10%"`, `"500MiB"`, `"all"`).
pub fn check(ep: &RepoEndpoint, password: &str, read: Option<&str>) -> Result<Checked> {
    let repo = open(ep, password)?;
    let mut opts = CheckOptions::default();
    if let Some(subset) = read {
        opts = opts.read_data(true).read_data_subset(parse_subset(subset)?);
    }
    let results = repo.check(opts).map_err(said("the check failed"))?;
    let mut checked = Checked {
        ok: results.is_ok().is_ok(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    // rustic_core does not export the level's type; its Debug form names it.
    for (level, err) in &results.0 {
        let line = err.to_string().replace('\n', " ");
        if format!("{level:?}") == "Warn" {
            checked.warnings.push(line);
        } else {
            checked.errors.push(line);
        }
    }
    Ok(checked)
}

/// `all`, `N%` or a size such as `500MiB`.
pub fn parse_subset(s: &str) -> Result<ReadSubsetOption> {
    let bad = || {
        format!(
            "'{s}' is not a read subset: give all, a percentage such as 10%, or a size such as 500MiB"
        )
    };
    let s = s.trim();
    if s.eq_ignore_ascii_case("all") {
        return Ok(ReadSubsetOption::All);
    }
    if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(bad());
        }
        return Ok(ReadSubsetOption::Percentage(p));
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    Ok(ReadSubsetOption::Size(n.saturating_mul(mult)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_subsets() {
        assert!(matches!(parse_subset("all"), Ok(ReadSubsetOption::All)));
        assert!(
            matches!(parse_subset("10%"), Ok(ReadSubsetOption::Percentage(p)) if (p - 10.0).abs() < 1e-9)
        );
        assert!(matches!(
            parse_subset("5MiB"),
            Ok(ReadSubsetOption::Size(5_242_880))
        ));
        assert!(parse_subset("150%").is_err());
        assert!(parse_subset("lots").is_err());
    }
}
