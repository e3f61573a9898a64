//! Content-defined chunking: FastCDC (normalized chunking, Xia et al. 2016) over a gear table
//! that is secret to the repository.
//!
//! The gear hash `h = (h << 1) + GEAR[byte]` makes bit `j` of `h` depend on the last `j + 1`
//! bytes, so cut points test the hash's top bits: a 64-byte window. Before the average size a
//! cut needs two more zero bits than after it, which pulls chunk sizes towards the average.
//!
//! The table is derived from the repository's master key, so where chunks are cut (and with it
//! the blob sizes a reader of the bucket can see) depends on a secret: the chunk-size
//! fingerprinting of eprint 2025/558 needs the table. Readers of the restic format never depend
//! on where a writer cut, so this is free to differ from restic's Rabin chunker.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// The smallest chunk (except a file's last).
pub const MIN_SIZE: usize = 32 << 10;
/// The average chunk.
pub const AVG_SIZE: usize = 128 << 10;
/// The largest chunk.
pub const MAX_SIZE: usize = 1 << 20;

/// The gear table: one random-looking 64-bit value per byte value.
#[derive(Clone)]
pub struct Gear([u64; 256]);

impl std::fmt::Debug for Gear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gear(..)")
    }
}

impl Gear {
    /// The table for `key`: SHA-256 of a label, the key and a counter, 8 bytes per entry.
    pub fn from_key(key: &[u8]) -> Self {
        let mut table = [0u64; 256];
        for (block, entries) in table.chunks_mut(4).enumerate() {
            let mut h = Sha256::new();
            h.update(b"bulwark fastcdc gear v1\0");
            h.update(key);
            h.update((block as u32).to_le_bytes());
            let digest = h.finalize();
            for (entry, bytes) in entries.iter_mut().zip(digest.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(bytes);
                *entry = u64::from_le_bytes(b);
            }
        }
        Self(table)
    }

    /// Where the first chunk of `data` ends (`data.len()` when no cut point comes before it).
    pub fn cut(&self, data: &[u8]) -> usize {
        cut(&self.0, data, MIN_SIZE, AVG_SIZE, MAX_SIZE)
    }
}

/// The top `bits` bits set.
const fn top_bits(bits: u32) -> u64 {
    !0u64 << (64 - bits)
}

fn cut(gear: &[u64; 256], data: &[u8], min: usize, avg: usize, max: usize) -> usize {
    if data.len() <= min {
        return data.len();
    }
    let bits = avg.trailing_zeros();
    let (hard, easy) = (top_bits(bits + 2), top_bits(bits - 2));
    let end = data.len().min(max);
    let normal = end.min(avg);
    let mut h = 0u64;
    // The hash of the 64 bytes before `min` is the same as if it had run from the start.
    let mut i = min.saturating_sub(64);
    while i < min {
        h = (h << 1).wrapping_add(gear[data[i] as usize]);
        i += 1;
    }
    while i < normal {
        h = (h << 1).wrapping_add(gear[data[i] as usize]);
        if h & hard == 0 {
            return i + 1;
        }
        i += 1;
    }
    while i < end {
        h = (h << 1).wrapping_add(gear[data[i] as usize]);
        if h & easy == 0 {
            return i + 1;
        }
        i += 1;
    }
    end
}

/// Cuts what a reader gives into chunks, reading in large, full blocks.
pub struct Chunker<'g, R> {
    gear: &'g Gear,
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

/// The read buffer: room for several chunks so most cuts need no refill.
const BUF_SIZE: usize = 4 * MAX_SIZE;

impl<'g, R: Read> Chunker<'g, R> {
    /// A chunker over `reader`, reading into `buf` (given back by [`Chunker::into_buffer`],
    /// to be used again).
    pub fn new(gear: &'g Gear, reader: R, buf: Vec<u8>) -> Self {
        Self {
            gear,
            reader,
            buf,
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// Reads until the buffer holds a whole chunk or the input ends.
    fn fill(&mut self) -> io::Result<()> {
        if self.eof || self.end - self.start >= MAX_SIZE {
            return Ok(());
        }
        if self.buf.len() != BUF_SIZE {
            self.buf = vec![0; BUF_SIZE];
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < self.buf.len() {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The read buffer, for the next chunker.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The next chunk, or `None` at the end of the input.
    pub fn next_chunk(&mut self) -> io::Result<Option<&[u8]>> {
        self.fill()?;
        if self.start == self.end {
            return Ok(None);
        }
        let n = self.gear.cut(&self.buf[self.start..self.end]);
        let chunk = &self.buf[self.start..self.start + n];
        self.start += n;
        Ok(Some(chunk))
    }
}

/// Deterministic noise (xorshift) for tests, so they need no data files.
#[cfg(test)]
pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(gear: &Gear, data: &[u8]) -> Vec<usize> {
        let mut c = Chunker::new(gear, data, Vec::new());
        let mut out = Vec::new();
        while let Some(chunk) = c.next_chunk().unwrap() {
            out.push(chunk.len());
        }
        out
    }

    #[test]
    fn the_same_key_cuts_the_same_and_another_key_cuts_differently() {
        let data = noise(16 << 20, 7);
        let a = lengths(&Gear::from_key(b"repository one"), &data);
        let again = lengths(&Gear::from_key(b"repository one"), &data);
        let b = lengths(&Gear::from_key(b"repository two"), &data);
        assert_eq!(a, again, "a key must always cut the same way");
        assert_ne!(a, b, "another key must cut elsewhere");
        assert_eq!(a.iter().sum::<usize>(), data.len());
        assert_eq!(b.iter().sum::<usize>(), data.len());
        // Cut points shared by chance are rare.
        let ends = |l: &[usize]| {
            l.iter()
                .scan(0, |s, n| {
                    *s += n;
                    Some(*s)
                })
                .collect::<std::collections::HashSet<_>>()
        };
        let shared = ends(&a).intersection(&ends(&b)).count();
        assert!(shared <= 2, "{shared} cut points shared by two keys");
    }

    #[test]
    fn chunk_sizes_keep_to_their_bounds_and_average() {
        let data = noise(64 << 20, 11);
        let l = lengths(&Gear::from_key(b"k"), &data);
        let (last, body) = l.split_last().unwrap();
        assert!(*last <= MAX_SIZE);
        assert!(body.iter().all(|n| (MIN_SIZE..=MAX_SIZE).contains(n)));
        let avg = data.len() / l.len();
        assert!(
            (AVG_SIZE * 3 / 4..=AVG_SIZE * 3 / 2).contains(&avg),
            "average chunk {avg}"
        );
    }

    #[test]
    fn an_insertion_changes_only_the_chunks_around_it() {
        let gear = Gear::from_key(b"k");
        let data = noise(8 << 20, 3);
        let mut edited = data.clone();
        edited.splice(3 << 20..3 << 20, b"sixteen new byte".iter().copied());
        let chunks = |d: &[u8]| {
            let mut c = Chunker::new(&gear, d, Vec::new());
            let mut out = std::collections::HashSet::new();
            while let Some(chunk) = c.next_chunk().unwrap() {
                out.insert(chunk.to_vec());
            }
            out
        };
        let (a, b) = (chunks(&data), chunks(&edited));
        let new = b.difference(&a).count();
        assert!(
            (1..=2).contains(&new),
            "{new} new chunks after one insertion"
        );
    }

    #[test]
    fn reads_given_in_small_pieces_cut_the_same() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(4093).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let gear = Gear::from_key(b"k");
        let data = noise(6 << 20, 5);
        let whole = lengths(&gear, &data);
        let mut c = Chunker::new(&gear, Trickle(&data), Vec::new());
        let mut pieces = Vec::new();
        while let Some(chunk) = c.next_chunk().unwrap() {
            pieces.push(chunk.len());
        }
        assert_eq!(whole, pieces);
    }
}
