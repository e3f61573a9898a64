//! A per-job bandwidth limit: what a backup sends to its store is paced to at most so many
//! bytes a second, on average since the start (a short burst after a slow start is allowed, a
//! sustained rate above the limit is not).

use std::io::Write;
use std::time::{Duration, Instant};

/// Paces a stream to `rate` bytes a second.
#[derive(Debug)]
pub(crate) struct Pace {
    rate: u64,
    start: Instant,
    sent: u64,
}

impl Pace {
    /// A pace for `rate` bytes a second; `None` for no limit.
    pub(crate) fn new(rate: Option<u64>) -> Option<Pace> {
        rate.filter(|r| *r > 0).map(|rate| Pace {
            rate,
            start: Instant::now(),
            sent: 0,
        })
    }

    /// Records `n` bytes sent, sleeping until the average is back under the rate.
    pub(crate) fn sent(&mut self, n: u64) {
        self.sent += n;
        let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// A writer whose writes are paced.
pub(crate) struct Paced<W> {
    pub(crate) inner: W,
    pace: Option<Pace>,
}

impl<W> Paced<W> {
    pub(crate) fn new(inner: W, rate: Option<u64>) -> Paced<W> {
        Paced {
            inner,
            pace: Pace::new(rate),
        }
    }
}

impl<W: Write> Write for Paced<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(buf)?;
        if let Some(p) = &mut self.pace {
            p.sent(buf.len() as u64);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_paced_writer_keeps_to_its_rate() {
        let began = Instant::now();
        let mut w = Paced::new(Vec::new(), Some(4 << 20));
        for _ in 0..8 {
            w.write_all(&[7u8; 256 * 1024]).unwrap();
        }
        // 2 MiB at 4 MiB/s: at least half a second.
        assert!(
            began.elapsed() >= Duration::from_millis(480),
            "{:?}",
            began.elapsed()
        );
        assert_eq!(w.inner.len(), 2 << 20);
        let began = Instant::now();
        let mut free = Paced::new(Vec::new(), None);
        free.write_all(&[0u8; 4 << 20]).unwrap();
        assert!(began.elapsed() < Duration::from_millis(400));
    }
}
