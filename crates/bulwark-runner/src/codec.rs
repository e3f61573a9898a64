//! Compression and encryption of the stream a plugin store keeps.
//!
//! Before `store` sees it, the stream is compressed with zstd (level 3, on two threads) and
//! then encrypted with age to the store's X25519 key. The blob is a standard age file holding a
//! standard zstd frame, so with the store's key a user gets the data back by hand:
//!
//! ```text
//! age --decrypt -i store-key.txt BLOB | zstd -d > dump
//! ```
//!
//! A restore reverses both steps; a blob that does not decrypt with the key, or that was
//! altered (age authenticates every 64 KiB chunk), fails the restore instead of yielding
//! wrong bytes.

use std::io::{BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use age::secrecy::ExposeSecret;

/// A store's stream key: an age X25519 identity.
#[derive(Clone)]
pub struct StreamKey(age::x25519::Identity);

impl std::fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamKey({})", self.0.to_public())
    }
}

impl StreamKey {
    /// A new random key.
    pub fn generate() -> StreamKey {
        StreamKey(age::x25519::Identity::generate())
    }

    /// The key as age writes it (`AGE-SECRET-KEY-1...`): a secret.
    pub fn secret(&self) -> String {
        self.0.to_string().expose_secret().to_string()
    }

    /// The public half (`age1...`).
    pub fn public(&self) -> String {
        self.0.to_public().to_string()
    }

    /// Reads a key written by [`StreamKey::secret`].
    pub fn parse(s: &str) -> Result<StreamKey, String> {
        s.trim()
            .parse::<age::x25519::Identity>()
            .map(StreamKey)
            .map_err(|e| format!("not an age secret key: {e}"))
    }
}

/// How a transforming copy ended.
pub(crate) enum Coded {
    /// The input ended and everything was written; the output is still open.
    Done(std::fs::File),
    /// Writing failed: the consumer stopped reading.
    ConsumerGone,
    /// Reading the producer failed.
    ReadFailed(std::io::Error),
    /// The data is not what it should be (wrong key, altered or truncated blob).
    Corrupt(String),
}

/// Counts what passes through a reader.
struct Counted<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Which side an I/O error came from.
enum Side {
    Read(std::io::Error),
    Write,
}

/// An age writer to `key`'s public half over `to`, paced to `rate` bytes a second.
type Sealing = age::stream::StreamWriter<std::io::BufWriter<crate::pace::Paced<std::fs::File>>>;

fn encrypt_to(key: &StreamKey, to: std::fs::File, rate: Option<u64>) -> Result<Sealing, Coded> {
    let recipient = key.0.to_public();
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| Coded::Corrupt(format!("cannot start encrypting: {e}")))?;
    let to = crate::pace::Paced::new(to, rate);
    encryptor
        .wrap_output(std::io::BufWriter::with_capacity(1 << 20, to))
        .map_err(|_| Coded::ConsumerGone)
}

/// Copies `from` into `to`, compressed and encrypted; `counter` counts the plain bytes read.
pub(crate) fn seal(
    from: std::fs::File,
    to: std::fs::File,
    key: &StreamKey,
    counter: Arc<AtomicU64>,
    rate: Option<u64>,
) -> Coded {
    let sealed = match encrypt_to(key, to, rate) {
        Ok(w) => w,
        Err(coded) => return coded,
    };
    let mut zstd = match zstd::stream::write::Encoder::new(sealed, 3) {
        Ok(z) => z,
        Err(e) => return Coded::Corrupt(format!("cannot start compressing: {e}")),
    };
    // Two worker threads: the target and the store use the rest of the machine.
    let _ = zstd.multithread(2);
    let mut input = Counted {
        inner: from,
        counter,
    };
    let copied = copy(&mut input, &mut zstd);
    match copied {
        Ok(()) => {}
        Err(Side::Read(e)) => return Coded::ReadFailed(e),
        Err(Side::Write) => return Coded::ConsumerGone,
    }
    let finished = zstd
        .finish()
        .and_then(|sealed| sealed.finish())
        .and_then(|buffered| buffered.into_inner().map_err(|e| e.into_error()));
    match finished {
        Ok(paced) => Coded::Done(paced.inner),
        Err(_) => Coded::ConsumerGone,
    }
}

/// Copies `from` (a sealed blob) into `to`, decrypted and decompressed; `counter` counts the
/// plain bytes written.
pub(crate) fn open(
    from: impl Read,
    to: std::fs::File,
    key: &StreamKey,
    counter: Arc<AtomicU64>,
) -> Coded {
    let input = BufReader::with_capacity(1 << 20, from);
    let decryptor = match age::Decryptor::new(input) {
        Ok(d) => d,
        Err(e) => return Coded::Corrupt(format!("the stored blob is not an age file: {e}")),
    };
    let plain = match decryptor.decrypt(std::iter::once(&key.0 as &dyn age::Identity)) {
        Ok(r) => r,
        Err(e) => {
            return Coded::Corrupt(format!(
                "the stored blob does not decrypt with this store's key: {e}"
            ));
        }
    };
    let zstd = match zstd::stream::read::Decoder::new(plain) {
        Ok(z) => z,
        Err(e) => return Coded::Corrupt(format!("cannot start decompressing: {e}")),
    };
    let mut output = CountedWrite { inner: to, counter };
    let mut zstd = zstd;
    match copy(&mut zstd, &mut output) {
        Ok(()) => Coded::Done(output.inner),
        Err(Side::Write) => Coded::ConsumerGone,
        // Decryption and decompression errors surface as read errors of the decoder.
        Err(Side::Read(e)) => {
            Coded::Corrupt(format!("the stored blob is damaged or incomplete: {e}"))
        }
    }
}

/// Copies `from` (a blob sealed to `old`) into `to` sealed to `new`: the age layer is opened
/// and made again, the compressed frame inside passes as it is. Every chunk is authenticated on
/// the way, so a damaged or truncated blob fails the copy instead of being passed on.
pub(crate) fn reseal(
    from: impl Read,
    to: std::fs::File,
    old: &StreamKey,
    new: &StreamKey,
    counter: Arc<AtomicU64>,
    rate: Option<u64>,
) -> Coded {
    let input = BufReader::with_capacity(1 << 20, from);
    let plain = match age::Decryptor::new(input)
        .map_err(|e| format!("the stored blob is not an age file: {e}"))
        .and_then(|d| {
            d.decrypt(std::iter::once(&old.0 as &dyn age::Identity))
                .map_err(|e| format!("the stored blob does not decrypt with its store's key: {e}"))
        }) {
        Ok(p) => p,
        Err(m) => return Coded::Corrupt(m),
    };
    let sealed = match encrypt_to(new, to, rate) {
        Ok(w) => w,
        Err(coded) => return coded,
    };
    let mut output = CountedWrite {
        inner: sealed,
        counter,
    };
    let mut plain = plain;
    match copy(&mut plain, &mut output) {
        Ok(()) => {}
        Err(Side::Write) => return Coded::ConsumerGone,
        Err(Side::Read(e)) => {
            return Coded::Corrupt(format!("the stored blob is damaged or incomplete: {e}"));
        }
    }
    match output
        .inner
        .finish()
        .and_then(|buffered| buffered.into_inner().map_err(|e| e.into_error()))
    {
        Ok(paced) => Coded::Done(paced.inner),
        Err(_) => Coded::ConsumerGone,
    }
}

struct CountedWrite<W> {
    inner: W,
    counter: Arc<AtomicU64>,
}

impl<W: Write> Write for CountedWrite<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(buf)?;
        self.counter.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> Result<(), Side> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Side::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(|_| Side::Write)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (std::fs::File, std::fs::File) {
        let (r, w) = nix::unistd::pipe().unwrap();
        (std::fs::File::from(r), std::fs::File::from(w))
    }

    fn through(
        f: fn(std::fs::File, std::fs::File, &StreamKey, Arc<AtomicU64>) -> Coded,
        key: &StreamKey,
        data: Vec<u8>,
    ) -> (Coded, Vec<u8>) {
        let (in_r, mut in_w) = pipe();
        let (mut out_r, out_w) = pipe();
        let writer = std::thread::spawn(move || {
            let _ = in_w.write_all(&data);
        });
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out_r.read_to_end(&mut v);
            v
        });
        let coded = match f(in_r, out_w, key, Arc::new(AtomicU64::new(0))) {
            // Closing the output ends the reader.
            Coded::Done(out) => {
                drop(out);
                Coded::Done(tempfile::tempfile().unwrap())
            }
            other => other,
        };
        writer.join().unwrap();
        (coded, reader.join().unwrap())
    }

    thread_local! {
        static OTHER: StreamKey = StreamKey::generate();
    }

    #[test]
    fn round_trip_and_refusals() {
        let key = StreamKey::generate();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (c, sealed) = through(|f, t, k, c| seal(f, t, k, c, None), &key, data.clone());
        assert!(matches!(c, Coded::Done(_)));
        assert!(sealed.starts_with(b"age-encryption.org/v1"));
        assert!(
            sealed.len() < data.len() / 10,
            "compressed: {}",
            sealed.len()
        );
        let (c, plain) = through(open, &key, sealed.clone());
        assert!(matches!(c, Coded::Done(_)));
        assert_eq!(plain, data);
        // Another key: refused.
        let (c, _) = through(open, &StreamKey::generate(), sealed.clone());
        assert!(matches!(c, Coded::Corrupt(m) if m.contains("does not decrypt")));
        // One flipped byte in the payload: refused.
        let mut bad = sealed.clone();
        let at = bad.len() - 100;
        bad[at] ^= 1;
        let (c, _) = through(open, &key, bad);
        assert!(matches!(c, Coded::Corrupt(_)));
        // Truncated: refused.
        let (c, _) = through(open, &key, sealed[..sealed.len() - 10].to_vec());
        assert!(matches!(c, Coded::Corrupt(_)));
        // Sealed again to another key: only that key opens it, to the same bytes.
        let (c, resealed) = through(
            |f, t, k, c| reseal(f, t, k, &OTHER.with(|o| o.clone()), c, None),
            &key,
            sealed.clone(),
        );
        assert!(matches!(c, Coded::Done(_)));
        let (c, _) = through(open, &key, resealed.clone());
        assert!(matches!(c, Coded::Corrupt(_)));
        let (c, plain) = through(open, &OTHER.with(|o| o.clone()), resealed);
        assert!(matches!(c, Coded::Done(_)));
        assert_eq!(plain, data);
        // A damaged blob is not passed on.
        let (c, _) = through(
            |f, t, k, c| reseal(f, t, k, &OTHER.with(|o| o.clone()), c, None),
            &key,
            sealed[..sealed.len() - 10].to_vec(),
        );
        assert!(matches!(c, Coded::Corrupt(_)));
        // The key round-trips through its text form.
        assert_eq!(
            StreamKey::parse(&key.secret()).unwrap().public(),
            key.public()
        );
    }
}
