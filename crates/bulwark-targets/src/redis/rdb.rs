//! Reading an RDB file (Redis's snapshot format, versions up to 12) key by key, without
//! decoding values: each value is kept as the bytes it is stored as, which is what the `DUMP`
//! and `RESTORE` commands exchange. A `RESTORE` payload is the value's type byte, its encoded
//! value, the RDB version (2 bytes, little-endian) and a CRC-64 of all that (8 bytes,
//! little-endian); see [`Entry::payload`].
//!
//! The reader walks each value's structure only to find where it ends, and checks the file's
//! trailing CRC-64. Module values and the hash-field-expiry types of Redis 7.4+ are refused with
//! a message saying so.

use std::io::Read;

use crc::{CRC_64_REDIS, Crc, Digest};

static CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

/// The newest RDB version this reader knows.
pub const MAX_VERSION: u16 = 12;

/// Why an RDB file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RdbError {
    /// The bytes are not what the format allows.
    #[error("the backup is not a valid RDB file: {0}")]
    Invalid(String),
    /// Something valid this reader does not handle.
    #[error("the backup holds {0}, which Bulwark cannot restore")]
    Unsupported(String),
    /// Reading failed.
    #[error("reading the backup failed: {0}")]
    Io(#[from] std::io::Error),
}

type Result<T> = std::result::Result<T, RdbError>;

fn invalid(m: impl Into<String>) -> RdbError {
    RdbError::Invalid(m.into())
}

/// One key of the snapshot.
#[derive(Debug)]
pub struct Entry {
    /// The database number.
    pub db: u64,
    /// The key.
    pub key: Vec<u8>,
    /// When it expires, in Unix milliseconds.
    pub expires_ms: Option<u64>,
    /// The value's type byte and encoded value, as stored.
    pub value: Vec<u8>,
}

impl Entry {
    /// The `RESTORE` payload for this value, stamped with the file's RDB `version`.
    pub fn payload(&self, version: u16) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.value.len() + 10);
        p.extend_from_slice(&self.value);
        p.extend_from_slice(&version.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }
}

/// One item of the snapshot, in file order.
#[derive(Debug)]
pub enum Item {
    /// A key and its value.
    Key(Entry),
    /// A Redis Functions library's source code.
    Function(Vec<u8>),
}

/// An RDB file being read.
pub struct Reader<R> {
    inner: R,
    crc: Digest<'static, u64>,
    /// The bytes read while a value is being recorded.
    record: Option<Vec<u8>>,
    /// The file's RDB version.
    pub version: u16,
    /// The `redis-ver` auxiliary field, if any.
    pub redis_version: Option<String>,
    db: u64,
    done: bool,
}

// Opcodes.
const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;
const OP_SLOT_INFO: u8 = 0xF4;

impl<R: Read> Reader<R> {
    /// Starts reading: checks the header.
    pub fn new(inner: R) -> Result<Reader<R>> {
        let mut r = Reader {
            inner,
            crc: CRC64.digest(),
            record: None,
            version: 0,
            redis_version: None,
            db: 0,
            done: false,
        };
        let mut head = [0u8; 9];
        r.exact(&mut head)?;
        if &head[..5] != b"REDIS" {
            return Err(invalid("it does not start with REDIS"));
        }
        let version: u16 = std::str::from_utf8(&head[5..])
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| invalid("its version is not a number"))?;
        if version == 0 || version > MAX_VERSION {
            return Err(RdbError::Unsupported(format!(
                "RDB version {version} (this reader knows versions up to {MAX_VERSION})"
            )));
        }
        r.version = version;
        Ok(r)
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                invalid("it ends early (truncated)")
            } else {
                RdbError::Io(e)
            }
        })?;
        self.crc.update(buf);
        if let Some(rec) = &mut self.record {
            rec.extend_from_slice(buf);
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn bytes(&mut self, n: u64) -> Result<Vec<u8>> {
        let n = usize::try_from(n).map_err(|_| invalid("a length is too large"))?;
        // Grow as data arrives, so a corrupt length cannot allocate without reading.
        let mut out = Vec::with_capacity(n.min(1 << 20));
        let mut left = n;
        let mut buf = vec![0u8; n.min(1 << 20)];
        while left > 0 {
            let take = left.min(buf.len());
            self.exact(&mut buf[..take])?;
            out.extend_from_slice(&buf[..take]);
            left -= take;
        }
        Ok(out)
    }

    fn skip(&mut self, n: u64) -> Result<()> {
        let mut left = n;
        let mut buf = vec![0u8; (n.min(1 << 20)) as usize];
        while left > 0 {
            let take = left.min(buf.len() as u64) as usize;
            self.exact(&mut buf[..take])?;
            left -= take as u64;
        }
        Ok(())
    }

    /// A length, or (`true`) the number of a special string encoding.
    fn length(&mut self) -> Result<(u64, bool)> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3F), false),
            1 => ((u64::from(b & 0x3F) << 8) | u64::from(self.byte()?), false),
            2 => match b {
                0x80 => {
                    let mut v = [0u8; 4];
                    self.exact(&mut v)?;
                    (u64::from(u32::from_be_bytes(v)), false)
                }
                0x81 => {
                    let mut v = [0u8; 8];
                    self.exact(&mut v)?;
                    (u64::from_be_bytes(v), false)
                }
                _ => return Err(invalid(format!("unknown length encoding {b:#x}"))),
            },
            _ => (u64::from(b & 0x3F), true),
        })
    }

    fn len(&mut self) -> Result<u64> {
        match self.length()? {
            (n, false) => Ok(n),
            (_, true) => Err(invalid("an encoded string where a length belongs")),
        }
    }

    /// A string, decoded (integers as decimal text, LZF decompressed).
    fn string(&mut self) -> Result<Vec<u8>> {
        match self.length()? {
            (n, false) => self.bytes(n),
            (0, true) => Ok((self.byte()? as i8).to_string().into_bytes()),
            (1, true) => {
                let mut v = [0u8; 2];
                self.exact(&mut v)?;
                Ok(i16::from_le_bytes(v).to_string().into_bytes())
            }
            (2, true) => {
                let mut v = [0u8; 4];
                self.exact(&mut v)?;
                Ok(i32::from_le_bytes(v).to_string().into_bytes())
            }
            (3, true) => {
                let compressed = self.len()?;
                let plain = self.len()?;
                let data = self.bytes(compressed)?;
                lzf_decompress(&data, plain)
            }
            (e, true) => Err(invalid(format!("unknown string encoding {e}"))),
        }
    }

    fn skip_string(&mut self) -> Result<()> {
        match self.length()? {
            (n, false) => self.skip(n),
            (0, true) => self.skip(1),
            (1, true) => self.skip(2),
            (2, true) => self.skip(4),
            (3, true) => {
                let compressed = self.len()?;
                let _plain = self.len()?;
                self.skip(compressed)
            }
            (e, true) => Err(invalid(format!("unknown string encoding {e}"))),
        }
    }

    fn skip_strings(&mut self, per_item: u64) -> Result<()> {
        let n = self.len()?;
        for _ in 0..n.saturating_mul(per_item) {
            self.skip_string()?;
        }
        Ok(())
    }

    /// Skips the value of type `t` (which is being recorded).
    fn skip_value(&mut self, t: u8) -> Result<()> {
        match t {
            // String; and the single-blob encodings: zipmap, ziplist, intset, listpack.
            0 | 9..=13 | 16 | 17 | 20 => self.skip_string(),
            // List, set, quicklist: n strings. Hash: n pairs.
            1 | 2 | 14 => self.skip_strings(1),
            4 => self.skip_strings(2),
            // Sorted set with scores as strings.
            3 => {
                let n = self.len()?;
                for _ in 0..n {
                    self.skip_string()?;
                    let l = self.byte()?;
                    if l < 253 {
                        self.skip(u64::from(l))?;
                    }
                }
                Ok(())
            }
            // Sorted set with binary doubles.
            5 => {
                let n = self.len()?;
                for _ in 0..n {
                    self.skip_string()?;
                    self.skip(8)?;
                }
                Ok(())
            }
            // Quicklist 2: a container kind and a blob per node.
            18 => {
                let n = self.len()?;
                for _ in 0..n {
                    self.len()?;
                    self.skip_string()?;
                }
                Ok(())
            }
            15 | 19 | 21 => self.skip_stream(t),
            6 | 7 => Err(RdbError::Unsupported(
                "a module's value (module types are not supported)".into(),
            )),
            22..=25 => Err(RdbError::Unsupported(
                "hashes with field expiry (Redis 7.4 and later)".into(),
            )),
            t => Err(invalid(format!("unknown value type {t}"))),
        }
    }

    fn skip_stream(&mut self, t: u8) -> Result<()> {
        // Node keys and listpacks.
        self.skip_strings(2)?;
        // Length and last id; then first id, max deleted id, entries added.
        let ids = if t >= 19 { 3 + 5 } else { 3 };
        for _ in 0..ids {
            self.len()?;
        }
        let groups = self.len()?;
        for _ in 0..groups {
            self.skip_string()?;
            self.len()?;
            self.len()?;
            if t >= 19 {
                self.len()?;
            }
            // The group's pending entries: id, delivery time, delivery count.
            let pending = self.len()?;
            for _ in 0..pending {
                self.skip(16 + 8)?;
                self.len()?;
            }
            let consumers = self.len()?;
            for _ in 0..consumers {
                self.skip_string()?;
                self.skip(if t >= 21 { 16 } else { 8 })?;
                let pending = self.len()?;
                self.skip(pending.saturating_mul(16))?;
            }
        }
        Ok(())
    }

    /// The next key or function, or `None` at the end of the file (after checking its CRC).
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        if self.done {
            return Ok(None);
        }
        let mut expires_ms = None;
        loop {
            let op = self.byte()?;
            match op {
                OP_AUX => {
                    let k = self.string()?;
                    let v = self.string()?;
                    if k == b"redis-ver" {
                        self.redis_version = Some(String::from_utf8_lossy(&v).into_owned());
                    }
                }
                OP_SELECTDB => self.db = self.len()?,
                OP_RESIZEDB => {
                    self.len()?;
                    self.len()?;
                }
                OP_SLOT_INFO => {
                    self.len()?;
                    self.len()?;
                    self.len()?;
                }
                OP_EXPIRETIME_MS => {
                    let mut v = [0u8; 8];
                    self.exact(&mut v)?;
                    expires_ms = Some(u64::from_le_bytes(v));
                }
                OP_EXPIRETIME => {
                    let mut v = [0u8; 4];
                    self.exact(&mut v)?;
                    expires_ms = Some(u64::from(u32::from_le_bytes(v)) * 1000);
                }
                OP_FREQ => {
                    self.byte()?;
                }
                OP_IDLE => {
                    self.len()?;
                }
                OP_FUNCTION2 => return Ok(Some(Item::Function(self.string()?))),
                OP_FUNCTION_PRE_GA => {
                    return Err(RdbError::Unsupported(
                        "functions in the format of Redis 7.0's release candidates".into(),
                    ));
                }
                OP_MODULE_AUX => {
                    return Err(RdbError::Unsupported(
                        "a module's auxiliary data (module types are not supported)".into(),
                    ));
                }
                OP_EOF => {
                    self.done = true;
                    if self.version >= 5 {
                        let expected = std::mem::replace(&mut self.crc, CRC64.digest()).finalize();
                        let mut v = [0u8; 8];
                        self.inner
                            .read_exact(&mut v)
                            .map_err(|_| invalid("it ends without its checksum (truncated)"))?;
                        let stored = u64::from_le_bytes(v);
                        if stored != 0 && stored != expected {
                            return Err(invalid("its checksum does not match (damaged)"));
                        }
                    }
                    return Ok(None);
                }
                t => {
                    let key = self.string()?;
                    self.record = Some(vec![t]);
                    let skipped = self.skip_value(t);
                    let value = self.record.take().unwrap_or_default();
                    skipped?;
                    return Ok(Some(Item::Key(Entry {
                        db: self.db,
                        key,
                        expires_ms,
                        value,
                    })));
                }
            }
        }
    }
}

/// LZF decompression as RDB uses it: literal runs and back references into the output.
pub fn lzf_decompress(input: &[u8], plain_len: u64) -> Result<Vec<u8>> {
    let bad = || invalid("a compressed string is damaged");
    let plain_len = usize::try_from(plain_len).map_err(|_| bad())?;
    let mut out: Vec<u8> = Vec::with_capacity(plain_len.min(64 << 20));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let lit = input.get(i..i + run).ok_or_else(bad)?;
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i).ok_or_else(bad)?);
                i += 1;
            }
            let low = usize::from(*input.get(i).ok_or_else(bad)?);
            i += 1;
            let back = ((ctrl & 0x1F) << 8) + low + 1;
            let start = out.len().checked_sub(back).ok_or_else(bad)?;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > plain_len {
            return Err(bad());
        }
    }
    if out.len() != plain_len {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A small RDB file: version 10, one aux field, db 2, a string with an expiry, an
    /// integer-encoded string, then EOF and the checksum.
    fn sample(checksum: bool) -> Vec<u8> {
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&[OP_AUX, 9]);
        f.extend_from_slice(b"redis-ver");
        f.extend_from_slice(&[6]);
        f.extend_from_slice(b"7.0.15");
        f.extend_from_slice(&[OP_SELECTDB, 2, OP_RESIZEDB, 2, 1]);
        f.push(OP_EXPIRETIME_MS);
        f.extend_from_slice(&1_900_000_000_000u64.to_le_bytes());
        f.extend_from_slice(&[0, 3]);
        f.extend_from_slice(b"key");
        f.extend_from_slice(&[5]);
        f.extend_from_slice(b"hello");
        f.extend_from_slice(&[0, 1, b'n', 0xC0, 0xF6]);
        f.push(OP_EOF);
        let crc = if checksum { CRC64.checksum(&f) } else { 0 };
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    #[test]
    fn reads_keys_with_expiry_and_checks_the_checksum() {
        let f = sample(true);
        let mut r = Reader::new(&f[..]).unwrap();
        let Some(Item::Key(a)) = r.next_item().unwrap() else {
            panic!()
        };
        assert_eq!((a.db, a.key.as_slice()), (2, &b"key"[..]));
        assert_eq!(a.expires_ms, Some(1_900_000_000_000));
        assert_eq!(a.value, b"\x00\x05hello");
        let Some(Item::Key(b)) = r.next_item().unwrap() else {
            panic!()
        };
        assert_eq!(b.expires_ms, None);
        assert_eq!(b.value, [0, 0xC0, 0xF6]);
        assert!(r.next_item().unwrap().is_none());
        assert_eq!(r.redis_version.as_deref(), Some("7.0.15"));
        // The payload checksum is the one Redis computes for "123456789".
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
        let p = a.payload(10);
        assert_eq!(&p[..7], b"\x00\x05hello");
        assert_eq!(&p[7..9], &[10, 0]);

        // No checksum written (0) is accepted; a flipped byte or a cut file is not.
        let plain = sample(false);
        let mut r = Reader::new(&plain[..]).unwrap();
        while r.next_item().unwrap().is_some() {}
        let mut bad = sample(true);
        bad[30] ^= 1;
        let mut r = Reader::new(&bad[..]).unwrap();
        let err = loop {
            match r.next_item() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a damaged file passed"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("not a valid RDB"), "{err}");
        let cut = &f[..f.len() - 12];
        let mut r = Reader::new(cut).unwrap();
        r.next_item().unwrap();
        assert!(r.next_item().unwrap_err().to_string().contains("truncated"));
        assert!(Reader::new(&b"RDB0010"[..]).is_err());
        assert!(matches!(
            Reader::new(&b"REDIS0099"[..]),
            Err(RdbError::Unsupported(_))
        ));
    }

    #[test]
    fn lzf_literals_and_back_references() {
        // "abcabcabc": a literal run of 3, then a back reference of length 6 at distance 3.
        let input = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(lzf_decompress(&input, 9).unwrap(), b"abcabcabc");
        assert!(lzf_decompress(&input, 8).is_err());
        assert!(lzf_decompress(&[(1 << 5), 9], 3).is_err());
    }
}
