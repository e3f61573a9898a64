//! How a restore writes its files: the pieces a worker writes one after another into one file,
//! end to end, are gathered into a run and written in as few calls as possible. The aligned
//! middle of a long run goes straight to the disk (`O_DIRECT`) where the file system allows
//! it; the rest goes through the page cache.
//!
//! Past the page cache because a restore's data is not read again soon: copying a GiB into new
//! page-cache pages costs more CPU than decrypting, decompressing and hashing it (a first touch
//! of every page; on a virtual machine whose free memory goes back to the host, several
//! seconds per GiB), and it pushes out what the machine's own programs had cached. Runs shorter
//! than [`DIRECT_MIN`] and the partly filled blocks at either end of a run are written normally.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustic_core::RusticProgress;
use rustix::fs::{AtFlags, CWD, OFlags, StatxFlags, fcntl_getfl, fcntl_setfl, statx};

use super::unpack::{Entry, Me, On, Target, set_meta};
use crate::repo::{BytesDone, Result};

/// Runs shorter than this are written through the page cache: a direct write waits for the
/// disk, which costs more than copying a few blocks.
pub const DIRECT_MIN: usize = 256 * 1024;

/// The most a run gathers before it is written.
const RUN_MAX: usize = 8 * 1024 * 1024;

/// Whether and how files under a directory can be written past the page cache.
#[derive(Debug)]
pub(super) struct Direct {
    /// The alignment of offsets, lengths and buffers of direct writes; `None` when the file
    /// system does not take them (or does not say how).
    align: Option<usize>,
    /// Set when a direct write failed although the file system said it takes them.
    refused: AtomicBool,
    /// Bytes written directly.
    written: AtomicU64,
}

impl Direct {
    /// Asks the file system of `dir` (with a file made and removed there) whether it takes
    /// direct writes, and with which alignment (Linux 6.1 and later say).
    pub(super) fn probe(dir: &Path) -> Self {
        let probe = dir.join(".bulwark-direct-probe");
        let align = File::create(&probe).ok().and_then(|_| {
            let st = statx(CWD, &probe, AtFlags::empty(), StatxFlags::DIOALIGN).ok()?;
            let (mem, off) = (st.stx_dio_mem_align, st.stx_dio_offset_align);
            (st.stx_mask & StatxFlags::DIOALIGN.bits() != 0 && mem > 0 && off > 0).then(|| {
                // Never less than a page: a page written both ways would be written back and
                // dropped before each direct write.
                let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
                    .ok()
                    .flatten()
                    .map_or(4096, |p| p as usize);
                (mem.max(off) as usize).max(page).next_power_of_two()
            })
        });
        let _ = std::fs::remove_file(&probe);
        Self {
            align,
            refused: AtomicBool::new(false),
            written: AtomicU64::new(0),
        }
    }

    /// Never past the page cache.
    #[cfg(test)]
    pub(super) fn off() -> Self {
        Self {
            align: None,
            refused: AtomicBool::new(false),
            written: AtomicU64::new(0),
        }
    }

    fn align(&self) -> Option<usize> {
        self.align.filter(|_| !self.refused.load(Ordering::Relaxed))
    }
}

/// What a worker's writes need of the restore.
pub(super) struct Sink<'a> {
    pub files: &'a [Target],
    pub me: Me,
    pub progress: &'a BytesDone,
    pub direct: &'a Direct,
}

/// The run being gathered: `len` bytes of file `file` from `at`, from `pieces` pieces.
struct Run {
    file: usize,
    at: u64,
    len: usize,
    pieces: usize,
}

/// A worker's writing: its run, the buffer the run is gathered in, and its open file.
pub(super) struct Writer {
    buf: Vec<u8>,
    /// Where in `buf` an aligned address is.
    base: usize,
    align: usize,
    run: Option<Run>,
    file: Option<(usize, File)>,
}

impl Writer {
    pub(super) fn new(direct: &Direct) -> Self {
        let align = direct.align.unwrap_or(1);
        let buf = vec![0u8; RUN_MAX + 2 * align];
        let base = buf.as_ptr().align_offset(align).min(align);
        Self {
            buf,
            base,
            align,
            run: None,
            file: None,
        }
    }

    /// Writes `bytes`, one piece of file `file` at `at` (now or with the rest of its run).
    pub(super) fn put(
        &mut self,
        sink: &Sink<'_>,
        file: usize,
        at: u64,
        bytes: &[u8],
    ) -> Result<()> {
        if self.run.as_ref().is_some_and(|r| {
            r.file != file || r.at + r.len as u64 != at || r.len + bytes.len() > RUN_MAX
        }) {
            self.flush(sink)?;
        }
        if bytes.len() > RUN_MAX {
            // Larger than a run (the chunkers of other writers of the format allow 8 MiB).
            self.open(sink, file)?;
            let f = self.opened()?;
            f.write_all_at(bytes, at)
                .map_err(|e| format!("{}: {e}", sink.files[file].path.display()))?;
            return self.done(sink, file, bytes.len(), 1);
        }
        let run = self.run.get_or_insert(Run {
            file,
            at,
            len: 0,
            pieces: 0,
        });
        let from = self.base + (run.at % self.align as u64) as usize + run.len;
        self.buf[from..from + bytes.len()].copy_from_slice(bytes);
        run.len += bytes.len();
        run.pieces += 1;
        Ok(())
    }

    /// Writes the run gathered so far.
    pub(super) fn flush(&mut self, sink: &Sink<'_>) -> Result<()> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        self.open(sink, run.file)?;
        let path = &sink.files[run.file].path;
        let said = |e: std::io::Error| format!("{}: {e}", path.display());
        let lead = (run.at % self.align as u64) as usize;
        let data = &self.buf[self.base + lead..self.base + lead + run.len];
        let f = self.opened()?;
        let end = run.at + run.len as u64;
        // The aligned middle, when the run is long enough to be worth a direct write.
        let middle = sink
            .direct
            .align()
            .filter(|_| run.len >= DIRECT_MIN)
            .map(|a| (run.at.next_multiple_of(a as u64), end / a as u64 * a as u64))
            .filter(|(from, to)| from < to);
        match middle {
            Some((from, to)) => {
                let rel = |x: u64| (x - run.at) as usize;
                f.write_all_at(&data[..rel(from)], run.at).map_err(said)?;
                let middle = &data[rel(from)..rel(to)];
                if let Err(e) = write_direct(f, middle, from) {
                    // Said once; the rest of the restore goes through the page cache.
                    if !sink.direct.refused.swap(true, Ordering::Relaxed) {
                        eprintln!(
                            "note: direct writes failed ({e}); writing through the page cache"
                        );
                    }
                    f.write_all_at(middle, from).map_err(said)?;
                } else {
                    sink.direct
                        .written
                        .fetch_add(middle.len() as u64, Ordering::Relaxed);
                }
                f.write_all_at(&data[rel(to)..], to).map_err(said)?;
            }
            None => f.write_all_at(data, run.at).map_err(said)?,
        }
        self.done(sink, run.file, run.len, run.pieces)
    }

    /// Counts `pieces` of file `file` as written; the last sets the file's metadata.
    fn done(&mut self, sink: &Sink<'_>, file: usize, len: usize, pieces: usize) -> Result<()> {
        sink.progress.inc(len as u64);
        let target = &sink.files[file];
        if target.left.fetch_sub(pieces, Ordering::AcqRel) == pieces {
            let kind = if target.mode.is_some() {
                Entry::Made
            } else {
                Entry::Other
            };
            set_meta(On::File(self.opened()?), &target.meta, kind, sink.me)
                .map_err(|e| format!("{}: {e}", target.path.display()))?;
            self.file = None;
        }
        Ok(())
    }

    /// Makes file `index` the open one: opened, and made by its first writer (with its mode
    /// when that is safe).
    fn open(&mut self, sink: &Sink<'_>, index: usize) -> Result<()> {
        if self.file.as_ref().is_none_or(|(i, _)| *i != index) {
            self.file = None;
            let target = &sink.files[index];
            let f = File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(target.mode.unwrap_or(0o600))
                .open(&target.path)
                .map_err(|e| format!("{}: {e}", target.path.display()))?;
            self.file = Some((index, f));
        }
        Ok(())
    }

    fn opened(&self) -> Result<&File> {
        match &self.file {
            Some((_, f)) => Ok(f),
            None => Err("no file is open".into()),
        }
    }
}

/// Writes `data` (aligned in memory, offset and length) at `at`, past the page cache.
fn write_direct(f: &File, data: &[u8], at: u64) -> std::io::Result<()> {
    let flags = fcntl_getfl(f)?;
    fcntl_setfl(f, flags | OFlags::DIRECT)?;
    let written = f.write_all_at(data, at);
    fcntl_setfl(f, flags)?;
    written
}

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
