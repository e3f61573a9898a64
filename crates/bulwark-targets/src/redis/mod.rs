//! The `redis` target: a live server's snapshot through the replication protocol, restored by
//! `RESTORE` commands over an ordinary client connection, so neither side needs shell access to
//! the server's host.
//!
//! Endpoint: `{"host": "cache1", "port": 6379, "username": "backup", "password": "..."}`
//! (`username` for an ACL user; without it, `AUTH password` as the default user), with
//! `"mode": "bgsave"` (and optionally `"dump_file"`) for servers that refuse `SYNC` (see
//! [`dump`]).
//!
//! **Backup** connects as a replica would (as `redis-cli --rdb` does): `REPLCONF capa eof`,
//! `REPLCONF rdb-only 1`, `SYNC`. The server forks, writes a point-in-time RDB snapshot of every
//! database to the connection (with or without its disk), and the plugin streams it to the store
//! while checking its CRC-64; a damaged or cut snapshot fails the backup. The user needs the
//! `SYNC` command (`+sync`, part of `@admin`).
//!
//! **Restore** first writes the stream to a temporary file and reads it through once: a stream
//! that is not a complete RDB file with a matching checksum, or that holds something this plugin
//! cannot restore (module types, hash-field expiry of Redis 7.4+), fails before the server is
//! touched. Then `FLUSHALL`, and for every key `SELECT db` and `RESTORE key expiry payload
//! REPLACE ABSTTL`, pipelined: the payload is the key's value exactly as the snapshot stores it,
//! so every type (strings, lists, hashes, sets, sorted sets, streams with their consumer groups)
//! comes back as it was, with its expiry; keys whose expiry passed meanwhile are not created.
//! Functions in the snapshot are loaded with `FUNCTION LOAD REPLACE`. The target server must
//! accept the snapshot's RDB version (a server at least as new as the one backed up). Redis
//! Cluster and TLS are not supported yet.

mod dump;
mod file_restore;
pub mod rdb;
mod verify;

use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bulwark_plugin::{Endpoint, PluginError, Result, TargetPlugin};

use crate::params::{opt_str, port, str_or};
use rdb::{Item, RdbError, Reader};

/// The `redis` target plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redis;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server may stay silent: it sends newlines while it prepares the snapshot.
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// The bytes of `RESTORE` payloads sent in one pipeline.
const BATCH_BYTES: usize = 8 << 20;
const BATCH_KEYS: usize = 1000;
/// The end-of-snapshot mark of a diskless transfer is this long.
const EOF_MARK: usize = 40;

struct Conn {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

impl Conn {
    fn read(ep: &Endpoint) -> Result<Conn> {
        Ok(Conn {
            host: str_or(ep, "host", "localhost")?,
            port: port(ep, "port", 6379)?,
            username: opt_str(ep, "username")?,
            password: opt_str(ep, "password")?,
        })
    }

    fn at(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn who(&self) -> &str {
        self.username.as_deref().unwrap_or("default")
    }

    /// One line for a server's error reply.
    fn explain_reply(&self, reply: &str) -> String {
        let at = self.at();
        if reply.starts_with("WRONGPASS") || reply.contains("invalid password") {
            format!("wrong password for user {} at Redis {at}", self.who())
        } else if reply.starts_with("NOAUTH") {
            format!("Redis at {at} wants a password, and the endpoint has none")
        } else if reply.starts_with("NOPERM") {
            format!("user {} may not do this at Redis {at}: {reply}", self.who())
        } else {
            format!("Redis at {at} answered: {reply}")
        }
    }

    fn explain(&self, e: &redis::RedisError) -> String {
        if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() {
            return format!("cannot reach Redis at {}: {e}", self.at());
        }
        let text = match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            _ => e.to_string(),
        };
        if e.kind() == redis::ErrorKind::AuthenticationFailed {
            return format!(
                "wrong password for user {} at Redis {}",
                self.who(),
                self.at()
            );
        }
        self.explain_reply(&text)
    }

    /// A client connection, authenticated.
    fn client(&self) -> Result<redis::Connection> {
        let mut settings = redis::RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some(u) = &self.username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &self.password {
            settings = settings.set_password(p);
        }
        let info = redis::IntoConnectionInfo::into_connection_info((self.host.clone(), self.port))
            .map_err(|e| PluginError::failed(format!("bad Redis address: {e}")))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info)
            .map_err(|e| PluginError::failed(format!("bad Redis address: {e}")))?;
        let conn = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| PluginError::failed(self.explain(&e)))?;
        conn.set_read_timeout(Some(READ_TIMEOUT))
            .and_then(|_| conn.set_write_timeout(Some(READ_TIMEOUT)))
            .map_err(|e| PluginError::failed(self.explain(&e)))?;
        Ok(conn)
    }

    /// A raw TCP connection for the replication handshake.
    fn raw(&self) -> Result<TcpStream> {
        let unreachable = |e: &dyn std::fmt::Display| {
            PluginError::failed(format!("cannot reach Redis at {}: {e}", self.at()))
        };
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| unreachable(&e))?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(READ_TIMEOUT))
                        .and_then(|_| s.set_write_timeout(Some(READ_TIMEOUT)))
                        .map_err(|e| unreachable(&e))?;
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => unreachable(&e),
            None => unreachable(&"the host name has no address"),
        })
    }
}

/// Writes one command in RESP.
fn send(stream: &mut TcpStream, args: &[&[u8]]) -> std::io::Result<()> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    stream.write_all(&out)
}

/// Reads one line (without CRLF), skipping the bare newlines a master sends as keepalives.
fn line(r: &mut impl Read) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        r.read_exact(&mut b)?;
        match b[0] {
            b'\n' if out.is_empty() => continue,
            b'\n' => break,
            c => out.push(c),
        }
        if out.len() > 4096 {
            return Err(std::io::Error::other("a reply line is too long"));
        }
    }
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

impl Redis {
    /// Receives the snapshot into `out`; returns its size.
    fn fetch(&self, c: &Conn, out: &mut dyn Write) -> Result<u64> {
        let mut s = c.raw()?;
        let io = |e: std::io::Error| {
            PluginError::failed(format!("the connection to Redis at {} failed: {e}", c.at()))
        };
        let mut reader = BufReader::with_capacity(1 << 20, s.try_clone().map_err(io)?);
        let ask = |s: &mut TcpStream, reader: &mut BufReader<TcpStream>, args: &[&[u8]]| {
            send(s, args).map_err(io)?;
            line(reader).map_err(io)
        };
        if let Some(p) = &c.password {
            let reply = match &c.username {
                Some(u) => ask(&mut s, &mut reader, &[b"AUTH", u.as_bytes(), p.as_bytes()])?,
                None => ask(&mut s, &mut reader, &[b"AUTH", p.as_bytes()])?,
            };
            if let Some(err) = reply.strip_prefix('-') {
                return Err(PluginError::failed(c.explain_reply(err)));
            }
        }
        // Both are optional for the server: older ones answer an error and send the old way.
        ask(&mut s, &mut reader, &[b"REPLCONF", b"capa", b"eof"])?;
        ask(&mut s, &mut reader, &[b"REPLCONF", b"rdb-only", b"1"])?;
        send(&mut s, &[b"SYNC"]).map_err(io)?;
        let head = line(&mut reader).map_err(io)?;
        if let Some(err) = head.strip_prefix('-') {
            return Err(PluginError::failed(c.explain_reply(err)));
        }
        let Some(size) = head.strip_prefix('$') else {
            return Err(PluginError::failed(format!(
                "Redis at {} answered SYNC with '{}', not a snapshot",
                c.at(),
                head.chars().take(80).collect::<String>()
            )));
        };
        let mut check = Checked::new(out);
        match size.strip_prefix("EOF:") {
            Some(mark) if mark.len() == EOF_MARK => {
                copy_until_mark(&mut reader, mark.as_bytes(), &mut check).map_err(io)?
            }
            Some(_) => return Err(PluginError::failed("a malformed end-of-snapshot mark")),
            None => {
                let len: u64 = size.parse().map_err(|_| {
                    PluginError::failed(format!("a malformed snapshot length '{size}'"))
                })?;
                let copied = std::io::copy(&mut (&mut reader).take(len), &mut check).map_err(io)?;
                if copied != len {
                    return Err(PluginError::failed(format!(
                        "Redis at {} closed the connection {copied} bytes into a {len}-byte snapshot",
                        c.at()
                    )));
                }
            }
        }
        check.finish()
    }
}

/// Copies up to (not including) the 40-byte `mark` that ends a diskless transfer.
fn copy_until_mark(r: &mut impl Read, mark: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    let mut held: Vec<u8> = Vec::with_capacity(2 << 20);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection before the snapshot's end",
            ));
        }
        held.extend_from_slice(&buf[..n]);
        if held.ends_with(mark) {
            out.write_all(&held[..held.len() - mark.len()])?;
            return out.flush();
        }
        if held.len() > mark.len() {
            let keep = held.len() - mark.len();
            out.write_all(&held[..keep])?;
            held.drain(..keep);
        }
    }
}

/// Passes a snapshot through while checking its header and trailing CRC-64.
struct Checked<'a> {
    out: BufWriter<&'a mut dyn Write>,
    crc: crc::Digest<'static, u64>,
    /// The last 8 bytes seen, which are not yet in the checksum.
    tail: Vec<u8>,
    head: Vec<u8>,
    total: u64,
}

static CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

impl<'a> Checked<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        Checked {
            out: BufWriter::with_capacity(1 << 20, out),
            crc: CRC64.digest(),
            tail: Vec::with_capacity(16),
            head: Vec::with_capacity(9),
            total: 0,
        }
    }

    fn finish(mut self) -> Result<u64> {
        self.out
            .flush()
            .map_err(|e| PluginError::failed(format!("writing the backup failed: {e}")))?;
        if self.head.len() < 9 || &self.head[..5] != b"REDIS" || self.tail.len() < 8 {
            return Err(PluginError::failed(
                "the server sent something that is not an RDB snapshot",
            ));
        }
        let mut stored = [0u8; 8];
        stored.copy_from_slice(&self.tail[..8]);
        let stored = u64::from_le_bytes(stored);
        let version: u16 = std::str::from_utf8(&self.head[5..9])
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if version >= 5 && stored != 0 && stored != self.crc.finalize() {
            return Err(PluginError::failed(
                "the snapshot's checksum does not match: it was damaged on the way",
            ));
        }
        Ok(self.total)
    }
}

impl Write for Checked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.head.len() < 9 {
            let take = (9 - self.head.len()).min(buf.len());
            self.head.extend_from_slice(&buf[..take]);
        }
        self.tail.extend_from_slice(buf);
        if self.tail.len() > 8 {
            let settled = self.tail.len() - 8;
            self.crc.update(&self.tail[..settled]);
            self.tail.drain(..settled);
        }
        self.out.write_all(buf)?;
        self.total += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn rdb_error(e: RdbError) -> PluginError {
    PluginError::failed(format!("{e}; nothing was changed"))
}

/// What a snapshot holds, counted in a first pass.
#[derive(Default)]
struct Census {
    keys: u64,
    /// Keys without an expiry, or whose expiry is still to come.
    live: u64,
    functions: u64,
    dbs: std::collections::BTreeSet<u64>,
}

fn census(file: &mut std::fs::File) -> Result<(Census, u16, Option<String>)> {
    file.rewind()
        .map_err(|e| PluginError::failed(format!("reading the staged backup failed: {e}")))?;
    let mut r = Reader::new(BufReader::with_capacity(1 << 20, &mut *file)).map_err(rdb_error)?;
    let mut c = Census::default();
    // Redis expires keys by its host's real clock, never a test's: so does this count.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    while let Some(item) = r.next_item().map_err(rdb_error)? {
        match item {
            Item::Key(e) => {
                c.keys += 1;
                if e.expires_ms.is_none_or(|t| t > now) {
                    c.live += 1;
                }
                c.dbs.insert(e.db);
            }
            Item::Function(_) => c.functions += 1,
        }
    }
    Ok((c, r.version, r.redis_version.clone()))
}

impl TargetPlugin for Redis {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        let c = Conn::read(ep)?;
        match str_or(ep, "restore", "live")?.as_str() {
            "live" => {}
            "file" if opt_str(ep, "start_command")?.is_some() => {}
            "file" => {
                return Err(PluginError::new(
                    bulwark_plugin::Exit::MissingEndpointKey,
                    "a file restore needs the endpoint's start_command",
                ));
            }
            other => {
                return Err(PluginError::new(
                    bulwark_plugin::Exit::WrongEndpointType,
                    format!("endpoint key 'restore' must be live or file, not '{other}'"),
                ));
            }
        }
        let mut conn = c.client()?;
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .map_err(|e| PluginError::failed(c.explain(&e)))?;
        Ok(())
    }

    fn backup(&self, ep: &Endpoint, output: &mut dyn Write, log: &mut dyn Write) -> Result<()> {
        let c = Conn::read(ep)?;
        if str_or(ep, "mode", "sync")? == "bgsave" {
            let bytes = self.dump(&c, ep, output)?;
            let _ = writeln!(
                log,
                "read the dump file Redis {} saved by BGSAVE: {bytes} bytes, checksum verified",
                c.at()
            );
            return Ok(());
        }
        let bytes = self.fetch(&c, output)?;
        let _ = writeln!(
            log,
            "received an RDB snapshot of every database from Redis {} through SYNC: {bytes} bytes, checksum verified",
            c.at()
        );
        Ok(())
    }

    fn restore(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        let c = Conn::read(ep)?;
        match str_or(ep, "restore", "live")?.as_str() {
            "live" => {}
            "file" => return self.restore_file(&c, ep, input, log),
            other => {
                return Err(PluginError::new(
                    bulwark_plugin::Exit::WrongEndpointType,
                    format!("endpoint key 'restore' must be live or file, not '{other}'"),
                ));
            }
        }
        let mut staged = tempfile::Builder::new()
            .prefix("bulwark-redis-")
            .tempfile()
            .map_err(|e| PluginError::failed(format!("creating a temporary file failed: {e}")))?;
        crate::tool::copy(input, staged.as_file_mut())
            .map_err(|e| PluginError::failed(format!("staging the backup failed: {e}")))?;
        let file = staged.as_file_mut();
        let (census, version, from) = census(file)?;
        let mut conn = c.client()?;
        let fail = |e: redis::RedisError| PluginError::failed(c.explain(&e));
        redis::cmd("PING")
            .query::<String>(&mut conn)
            .map_err(fail)?;
        redis::cmd("FLUSHALL").exec(&mut conn).map_err(fail)?;

        file.rewind()
            .map_err(|e| PluginError::failed(format!("reading the staged backup failed: {e}")))?;
        let mut r =
            Reader::new(BufReader::with_capacity(1 << 20, &mut *file)).map_err(rdb_error)?;
        let mut restored = 0u64;
        let mut pipe = redis::pipe();
        let (mut batch_bytes, mut batch_keys) = (0usize, 0usize);
        let mut db = u64::MAX;
        let mut flush = |pipe: &mut redis::Pipeline| -> Result<()> {
            if !pipe.is_empty() {
                pipe.exec(&mut conn).map_err(|e| {
                    PluginError::failed(format!(
                        "{} (the server was flushed; restore again once this is fixed)",
                        c.explain(&e)
                    ))
                })?;
                pipe.clear();
            }
            Ok(())
        };
        while let Some(item) = r.next_item().map_err(rdb_error)? {
            match item {
                Item::Function(code) => {
                    pipe.cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(code);
                }
                Item::Key(e) => {
                    // An expiry that passed since the backup: the server does not create the key.
                    if e.db != db {
                        pipe.cmd("SELECT").arg(e.db);
                        db = e.db;
                    }
                    let payload = e.payload(version);
                    batch_bytes += payload.len() + e.key.len();
                    pipe.cmd("RESTORE")
                        .arg(&e.key)
                        .arg(e.expires_ms.unwrap_or(0))
                        .arg(payload)
                        .arg("REPLACE");
                    if e.expires_ms.is_some() {
                        pipe.arg("ABSTTL");
                    }
                    restored += 1;
                    batch_keys += 1;
                }
            }
            if batch_bytes >= BATCH_BYTES || batch_keys >= BATCH_KEYS {
                flush(&mut pipe)?;
                batch_bytes = 0;
                batch_keys = 0;
            }
        }
        flush(&mut pipe)?;
        let _ = writeln!(
            log,
            "restored {restored} keys in {} database(s) and {} function libraries into Redis {} (RDB version {version}{}); keys whose expiry passed since the backup were not created",
            census.dbs.len(),
            census.functions,
            c.at(),
            from.map(|v| format!(", written by Redis {v}"))
                .unwrap_or_default(),
        );
        debug_assert_eq!(census.keys, restored);
        Ok(())
    }

    fn verify(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        verify::verify(ep, input, log)
    }

    fn wipe(&self, ep: &Endpoint, log: &mut dyn Write) -> Result<()> {
        verify::wipe(ep, log)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_diskless_transfer_ends_at_its_mark() {
        let mark = [b'x'; EOF_MARK];
        let mut data = b"REDIS0010 payload".to_vec();
        data.extend_from_slice(&mark);
        data.extend_from_slice(b"after");
        let mut out = Vec::new();
        copy_until_mark(&mut &data[..data.len() - 5], &mark, &mut out).unwrap();
        assert_eq!(out, b"REDIS0010 payload");
        let mut out = Vec::new();
        assert!(copy_until_mark(&mut &b"REDIS0010 cut"[..], &mark, &mut out).is_err());
    }

    #[test]
    fn replies_become_one_line() {
        let ep = serde_json::json!({"host": "cache1", "username": "bk"});
        let c = Conn::read(ep.as_object().unwrap()).unwrap();
        assert_eq!(
            c.explain_reply("WRONGPASS invalid username-password pair or user is disabled."),
            "wrong password for user bk at Redis cache1:6379"
        );
        assert_eq!(
            c.explain_reply("NOAUTH Authentication required."),
            "Redis at cache1:6379 wants a password, and the endpoint has none"
        );
        let mut r = &b"\n\n+OK\r\n$12\r\n"[..];
        assert_eq!(line(&mut r).unwrap(), "+OK");
        assert_eq!(line(&mut r).unwrap(), "$12");
    }

    #[test]
    fn the_snapshot_checksum_is_verified_on_the_way() {
        let mut f = b"REDIS0010".to_vec();
        f.push(0xFF);
        let crc = CRC64.checksum(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        let mut out = Vec::new();
        let mut w = Checked::new(&mut out);
        for chunk in f.chunks(3) {
            w.write_all(chunk).unwrap();
        }
        assert_eq!(w.finish().unwrap(), f.len() as u64);
        let mut bad = f.clone();
        bad[9] = 0xFE;
        let mut out = Vec::new();
        let mut w = Checked::new(&mut out);
        w.write_all(&bad).unwrap();
        assert!(w.finish().is_err());
    }
}
