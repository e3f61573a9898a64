//! The filling half of a restore: worker threads take the planned packs one at a time, read
//! the range of the pack its blobs span in one request, open and decompress each blob, check
//! it against its id, and write it where it goes. What is in flight is one pack range per
//! worker, so memory does not grow with the data.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustic_core::{FileType, Id, RusticProgress, WriteBackend};

use super::direct::{Direct, Sink, Writer};
use super::seal::{Sealer, hash};
use super::unpack::{Me, Piece, Plan};
use super::{lock, workers};
use crate::repo::{BytesDone, Result, said};

/// Where packs are read from.
pub(super) enum Packs<'a> {
    /// A local repository's directory, read straight into a worker's buffer (the backend would
    /// make a fresh zeroed buffer per read, a page fault per 4 KiB of every pack).
    Local(PathBuf),
    /// Any backend.
    Backend(&'a Arc<dyn WriteBackend>),
}

impl Packs<'_> {
    /// Reads `range` of pack `id` into `buf`.
    fn read(&self, id: &Id, range: Range<u32>, buf: &mut Vec<u8>) -> Result<()> {
        let len = (range.end - range.start) as usize;
        match self {
            Packs::Local(dir) => {
                let hex = id.to_hex();
                let path = dir.join("data").join(&hex[..2]).join(hex.as_str());
                let f = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                buf.resize(len, 0);
                f.read_exact_at(buf, u64::from(range.start))
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            Packs::Backend(be) => {
                let bytes = be
                    .read_partial(FileType::Pack, id, false, range.start, len as u32)
                    .map_err(said("a pack cannot be read"))?;
                buf.clear();
                buf.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }
}

/// The packs, split among the workers: each owns a run of consecutive packs (so of files, in
/// the order the walk met them) and takes from its front; a worker whose run is done takes
/// from the back of the run with the most left. Two workers thus seldom write one file at the
/// same time: two writers of one file queue on its inode's lock, and the kernel lets the
/// waiting one spin, a core's worth of nothing.
struct Queue {
    runs: Vec<Mutex<Range<usize>>>,
}

impl Queue {
    /// Runs of about equal `weights`, one per worker.
    fn new(weights: &[u64], workers: usize) -> Self {
        let total: u64 = weights.iter().sum();
        let mut runs = Vec::with_capacity(workers);
        let (mut start, mut sum) = (0, 0u64);
        for (i, w) in weights.iter().enumerate() {
            sum += w;
            let k = runs.len() as u64 + 1;
            if k < workers as u64 && sum * workers as u64 >= total * k {
                runs.push(Mutex::new(start..i + 1));
                start = i + 1;
            }
        }
        runs.push(Mutex::new(start..weights.len()));
        while runs.len() < workers {
            runs.push(Mutex::new(weights.len()..weights.len()));
        }
        Self { runs }
    }

    /// The next pack for worker `me`, or `None` when every run is done.
    fn next(&self, me: usize) -> Option<usize> {
        if let Some(i) = lock(&self.runs[me]).next() {
            return Some(i);
        }
        loop {
            let (fullest, left) = self
                .runs
                .iter()
                .map(|r| (r, lock(r).len()))
                .max_by_key(|(_, left)| *left)?;
            if left == 0 {
                return None;
            }
            // Another worker may have taken the last one meanwhile; then look again.
            if let Some(i) = lock(fullest).next_back() {
                return Some(i);
            }
        }
    }
}

/// What every worker of a restore shares.
struct Fill<'a> {
    packs: &'a Packs<'a>,
    sealer: &'a Sealer,
    sink: Sink<'a>,
}

/// Writes every file's blobs, pack by pack, on one thread more than there are cores (a direct
/// write waits for the disk; another worker computes meanwhile).
pub(super) fn fill(
    plan: &Plan,
    packs: &Packs<'_>,
    sealer: &Sealer,
    me: Me,
    direct: &Direct,
) -> Result<()> {
    // In the order the files need them, so a worker's open file is mostly the next one's too.
    let mut order: Vec<(&[u8; 32], &Vec<Piece>)> = plan.packs.iter().collect();
    order.sort_by_key(|(_, pieces)| pieces.iter().map(|p| (p.file, p.at)).min());
    let weights: Vec<u64> = order.iter().map(|(_, p)| span(p).len() as u64).collect();
    let n = workers() + 1;
    let queue = Queue::new(&weights, n);
    let stop = AtomicBool::new(false);
    let error: Mutex<Option<String>> = Mutex::default();
    let progress = BytesDone::default();
    let shared = Fill {
        packs,
        sealer,
        sink: Sink {
            files: &plan.files,
            me,
            progress: &progress,
            direct,
        },
    };
    std::thread::scope(|s| {
        for w in 0..n {
            let (queue, order, stop, error, shared) = (&queue, &order, &stop, &error, &shared);
            s.spawn(move || {
                let mut unpacker = match Unpacker::new() {
                    Ok(u) => u,
                    Err(e) => {
                        lock(error).get_or_insert(e);
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                };
                let mut writer = Writer::new(direct);
                while !stop.load(Ordering::Relaxed) {
                    let Some((pack, pieces)) = queue.next(w).and_then(|i| order.get(i)) else {
                        break;
                    };
                    let done = one_pack(shared, pack, pieces, &mut unpacker, &mut writer);
                    if let Err(e) = done {
                        lock(error).get_or_insert(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                if !stop.load(Ordering::Relaxed)
                    && let Err(e) = writer.flush(&shared.sink)
                {
                    lock(error).get_or_insert(e);
                    stop.store(true, Ordering::Relaxed);
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

/// The range of its pack that `pieces` span.
fn span(pieces: &[Piece]) -> Range<u32> {
    let start = pieces.iter().map(|p| p.place.offset).min().unwrap_or(0);
    let end = pieces
        .iter()
        .map(|p| p.place.offset + p.place.length)
        .max()
        .unwrap_or(0);
    start..end
}

fn one_pack(
    fill: &Fill<'_>,
    pack: &[u8; 32],
    pieces: &[Piece],
    unpacker: &mut Unpacker<'_>,
    writer: &mut Writer,
) -> Result<()> {
    let range = span(pieces);
    let start = range.start;
    fill.packs
        .read(&Id::new(*pack), range, &mut unpacker.pack)?;
    let mut last: Option<Id> = None;
    let mut sorted: Vec<&Piece> = pieces.iter().collect();
    sorted.sort_by_key(|p| (p.place.offset, p.file, p.at));
    for piece in sorted {
        if last != Some(piece.blob) {
            let from = (piece.place.offset - start) as usize;
            unpacker.open(fill.sealer, piece, from..from + piece.place.length as usize)?;
            if Id::new(hash(unpacker.out())) != piece.blob {
                return Err(format!(
                    "blob {} is damaged: its contents do not match its id",
                    piece.blob.to_hex().as_str()
                ));
            }
            last = Some(piece.blob);
        }
        writer.put(&fill.sink, piece.file, piece.at, unpacker.out())?;
    }
    Ok(())
}

/// A worker's decompressor and buffers, kept from pack to pack (fresh buffers cost a page
/// fault per 4 KiB).
struct Unpacker<'a> {
    decomp: zstd::bulk::Decompressor<'a>,
    /// The pack range read, blobs opened in place.
    pack: Vec<u8>,
    plain: Vec<u8>,
    /// Where in `pack` the current blob's bytes are, when it is stored uncompressed.
    stored: Option<Range<usize>>,
}

impl Unpacker<'_> {
    fn new() -> Result<Self> {
        Ok(Self {
            decomp: zstd::bulk::Decompressor::new()
                .map_err(|e| format!("the decompressor cannot be set up: {e}"))?,
            pack: Vec::new(),
            plain: Vec::new(),
            stored: None,
        })
    }

    /// Opens (and decompresses) the blob at `at` of the pack read; its bytes are then
    /// [`Unpacker::out`].
    fn open(&mut self, sealer: &Sealer, piece: &Piece, at: Range<usize>) -> Result<()> {
        let sealed = self
            .pack
            .get_mut(at.clone())
            .ok_or("a pack is shorter than its index says")?;
        let inner = sealer.open_slice(sealed)?;
        let opened = at.start + inner.start..at.start + inner.end;
        self.stored = None;
        match piece.place.uncompressed {
            Some(n) => {
                self.plain.clear();
                self.plain.reserve(n as usize);
                self.decomp
                    .decompress_to_buffer(&self.pack[opened], &mut self.plain)
                    .map_err(|e| format!("a blob does not decompress: {e}"))?;
            }
            None => self.stored = Some(opened),
        }
        Ok(())
    }

    fn out(&self) -> &[u8] {
        match &self.stored {
            Some(r) => &self.pack[r.clone()],
            None => &self.plain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Queue;

    fn drain(q: &Queue, me: usize) -> Vec<usize> {
        std::iter::from_fn(|| q.next(me)).collect()
    }

    #[test]
    fn runs_split_by_weight_and_a_done_worker_takes_from_the_back_of_the_fullest() {
        let q = Queue::new(&[10, 10, 10, 10, 40, 10, 10], 2);
        // The first run ends where half the weight is reached.
        assert_eq!(super::lock(&q.runs[0]).clone(), 0..5);
        assert_eq!(super::lock(&q.runs[1]).clone(), 5..7);
        assert_eq!(q.next(1), Some(5));
        assert_eq!(q.next(1), Some(6));
        // Worker 1 is done with its own and takes worker 0's last.
        assert_eq!(q.next(1), Some(4));
        assert_eq!(q.next(0), Some(0));
        let mut rest = drain(&q, 0);
        rest.sort_unstable();
        assert_eq!(rest, vec![1, 2, 3]);
        assert_eq!(q.next(1), None);
    }

    #[test]
    fn every_pack_is_handed_out_once_whatever_the_workers_and_weights() {
        for workers in 1..5 {
            for n in 0..9 {
                let weights: Vec<u64> = (0..n).map(|i| (i * 7 % 5) as u64).collect();
                let q = Queue::new(&weights, workers);
                assert_eq!(q.runs.len(), workers);
                let mut got: Vec<usize> = (0..workers).flat_map(|w| drain(&q, w)).collect();
                got.sort_unstable();
                assert_eq!(
                    got,
                    (0..n).collect::<Vec<_>>(),
                    "{workers} workers, {n} packs"
                );
            }
        }
    }
}
