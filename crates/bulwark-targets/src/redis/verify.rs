//! The `redis` target's drill actions: `verify` checks a server against a snapshot, key by key;
//! `wipe` flushes it.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};

use bulwark_plugin::{Differences, Endpoint, PluginError, Result};

use super::rdb::{Item, Reader};
use super::{Conn, rdb_error};

/// Keys checked per pipeline.
const BATCH: usize = 1000;
/// Keys whose expiry is this close (milliseconds) may have gone since the restore: they are
/// counted but not looked for.
const SETTLING_MS: u64 = 300_000;

/// Per database: keys that must be there, and every key of the snapshot.
#[derive(Default, Clone, Copy)]
struct Expected {
    stable: u64,
    total: u64,
}

/// The key counts of `INFO keyspace` ("db0:keys=5,expires=0,avg_ttl=0"), by database.
fn keyspace(info: &str) -> BTreeMap<u64, u64> {
    info.lines()
        .filter_map(|l| {
            let (db, rest) = l.trim().split_once(':')?;
            let db = db.strip_prefix("db")?.parse().ok()?;
            let keys = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("keys="))?
                .parse()
                .ok()?;
            Some((db, keys))
        })
        .collect()
}

pub(super) fn verify(ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
    let c = Conn::read(ep)?;
    let mut conn = c.client()?;
    let fail = |e: redis::RedisError| PluginError::failed(c.explain(&e));
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query(&mut conn).map_err(fail)?;
    let now_ms = secs * 1000 + micros / 1000;
    let mut r = Reader::new(BufReader::with_capacity(1 << 20, input)).map_err(rdb_error)?;
    let mut expected: BTreeMap<u64, Expected> = BTreeMap::new();
    let mut diffs = Differences::new();
    let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH);
    let mut look = |batch: &mut Vec<(u64, Vec<u8>)>, diffs: &mut Differences| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let mut db = u64::MAX;
        for (d, key) in batch.iter() {
            if *d != db {
                pipe.cmd("SELECT").arg(*d).ignore();
                db = *d;
            }
            pipe.cmd("EXISTS").arg(key);
        }
        let found: Vec<i64> = pipe.query(&mut conn).map_err(fail)?;
        for ((d, key), n) in batch.iter().zip(found) {
            if n == 0 {
                diffs.note(format!(
                    "key {} of database {d} is missing",
                    String::from_utf8_lossy(key)
                ));
            }
        }
        batch.clear();
        Ok(())
    };
    let mut functions = 0u64;
    while let Some(item) = r.next_item().map_err(rdb_error)? {
        match item {
            Item::Function(_) => functions += 1,
            Item::Key(e) => {
                let x = expected.entry(e.db).or_default();
                match e.expires_ms {
                    Some(at) if at <= now_ms => continue,
                    Some(at) if at <= now_ms + SETTLING_MS => x.total += 1,
                    _ => {
                        x.total += 1;
                        x.stable += 1;
                        batch.push((e.db, e.key));
                    }
                }
                if batch.len() >= BATCH {
                    look(&mut batch, &mut diffs)?;
                }
            }
        }
    }
    look(&mut batch, &mut diffs)?;
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut conn)
        .map_err(fail)?;
    let have = keyspace(&info);
    let dbs: std::collections::BTreeSet<u64> =
        expected.keys().chain(have.keys()).copied().collect();
    for db in dbs {
        let want = expected.get(&db).copied().unwrap_or_default();
        let n = have.get(&db).copied().unwrap_or(0);
        if n < want.stable || n > want.total {
            diffs.note(format!(
                "database {db} holds {n} keys, the backup {}",
                want.total
            ));
        }
    }
    let keys: u64 = expected.values().map(|x| x.total).sum();
    diffs.finish(&format!("{keys} keys"))?;
    let _ = writeln!(
        log,
        "Redis {} holds every key of the backup ({keys} keys in {} database(s), each looked up; {functions} function libraries not compared)",
        c.at(),
        expected.len()
    );
    Ok(())
}

pub(super) fn wipe(ep: &Endpoint, log: &mut dyn Write) -> Result<()> {
    let c = Conn::read(ep)?;
    let mut conn = c.client()?;
    redis::cmd("FLUSHALL")
        .exec(&mut conn)
        .map_err(|e| PluginError::failed(c.explain(&e)))?;
    let _ = writeln!(log, "flushed every database of Redis {}", c.at());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_keyspace_section() {
        let info =
            "# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=0\r\ndb3:keys=12,expires=0,avg_ttl=0\r\n";
        let k = keyspace(info);
        assert_eq!(k.get(&0), Some(&5));
        assert_eq!(k.get(&3), Some(&12));
        assert_eq!(k.len(), 2);
    }
}
