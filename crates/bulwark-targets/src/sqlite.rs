//! The `sqlite` target: a consistent copy of a live SQLite database through SQLite's online
//! backup API, and a restore that replaces the database as a whole.
//!
//! Endpoint: `{"path": "/srv/app/app.db"}`.
//!
//! Backup copies the database, while other processes keep reading and writing it, into a
//! temporary file, then streams that file: the stream is a plain SQLite database file. Restore
//! first writes the stream to a temporary file next to the database and checks it (the SQLite
//! header and `PRAGMA integrity_check`); a damaged stream changes nothing. When no database
//! exists at `path`, the checked file is renamed into place, atomically. When one exists, its
//! content is replaced through the backup API in one write transaction, so that connections
//! already open (and a WAL file beside it) see either the old database or the restored one,
//! never a mix; renaming a file under open connections would leave them on the old one, and a
//! stale `-wal` file could be replayed onto the new one.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bulwark_plugin::{Endpoint, PluginError, Result, TargetPlugin};
use rusqlite::{Connection, OpenFlags};

use crate::tool::copy;

/// The `sqlite` target plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sqlite;

/// The first 16 bytes of every SQLite database file.
const MAGIC: &[u8] = b"SQLite format 3\0";
/// How long to wait for a writer's lock before giving up.
const BUSY: Duration = Duration::from_secs(30);

fn path(ep: &Endpoint) -> Result<PathBuf> {
    bulwark_plugin::builtin::required_abspath(ep, "path")
}

fn failed(what: impl std::fmt::Display, e: impl std::fmt::Display) -> PluginError {
    PluginError::failed(format!("{what}: {e}"))
}

/// Opens an existing database read-only and checks it is one.
fn open_existing(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(PluginError::failed(format!(
            "database file {} does not exist",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| failed(format!("opening {} failed", path.display()), e))?;
    conn.busy_timeout(BUSY)
        .map_err(|e| failed("setting a busy timeout failed", e))?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| {
        failed(
            format!("{} is not a readable SQLite database", path.display()),
            e,
        )
    })?;
    Ok(conn)
}

/// Checks a database file: its header, then `PRAGMA integrity_check`.
fn check(path: &Path) -> Result<()> {
    let mut head = [0u8; 16];
    let ok = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && head == MAGIC;
    if !ok {
        return Err(PluginError::failed(
            "the backup is not an SQLite database (its header is wrong); nothing was changed",
        ));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| failed("opening the restored copy failed", e))?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| failed("the backup is damaged; nothing was changed", e))?;
    if verdict != "ok" {
        return Err(PluginError::failed(format!(
            "the backup is damaged ({verdict}); nothing was changed"
        )));
    }
    Ok(())
}

impl TargetPlugin for Sqlite {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        let path = path(ep)?;
        open_existing(&path).map(|_| ())
    }

    fn backup(&self, ep: &Endpoint, output: &mut dyn Write, log: &mut dyn Write) -> Result<()> {
        let path = path(ep)?;
        let src = open_existing(&path)?;
        let copy_file = tempfile::Builder::new()
            .prefix("bulwark-sqlite-")
            .tempfile()
            .map_err(|e| failed("creating a temporary file failed", e))?;
        let mut dst = Connection::open(copy_file.path())
            .map_err(|e| failed("opening the temporary copy failed", e))?;
        {
            let backup = rusqlite::backup::Backup::new(&src, &mut dst)
                .map_err(|e| failed("starting the online backup failed", e))?;
            // Pages in batches; a write by another connection restarts the copy, which the
            // backup API does by itself.
            backup
                .run_to_completion(1024, Duration::from_millis(10), None)
                .map_err(|e| failed(format!("copying {} failed", path.display()), e))?;
        }
        // The copy in rollback-journal mode, one self-contained file.
        dst.pragma_update(None, "journal_mode", "DELETE")
            .map_err(|e| failed("finishing the copy failed", e))?;
        drop(dst);
        drop(src);
        let mut file = std::fs::File::open(copy_file.path())
            .map_err(|e| failed("reading the copy failed", e))?;
        let bytes = copy(&mut file, output).map_err(|e| failed("writing the backup failed", e))?;
        let _ = writeln!(
            log,
            "copied {} with the SQLite online backup API: {bytes} bytes",
            path.display()
        );
        Ok(())
    }

    fn restore(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        let path = path(ep)?;
        let dir = path
            .parent()
            .ok_or_else(|| PluginError::failed("path has no directory"))?;
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(format!("creating {} failed", dir.display()), e))?;
        let mut staged = tempfile::Builder::new()
            .prefix(".bulwark-restore-")
            .tempfile_in(dir)
            .map_err(|e| failed(format!("creating a file in {} failed", dir.display()), e))?;
        let bytes = copy(input, staged.as_file_mut())
            .and_then(|n| staged.as_file().sync_all().map(|_| n))
            .map_err(|e| failed("writing the backup to disk failed", e))?;
        check(staged.path())?;
        if !path.exists() {
            staged.persist(&path).map_err(|e| {
                failed(
                    format!("moving the database to {} failed", path.display()),
                    e,
                )
            })?;
            let _ = writeln!(
                log,
                "restored {} ({bytes} bytes) as a new file",
                path.display()
            );
            return Ok(());
        }
        let mut target = Connection::open(&path)
            .map_err(|e| failed(format!("opening {} failed", path.display()), e))?;
        target
            .busy_timeout(BUSY)
            .map_err(|e| failed("setting a busy timeout failed", e))?;
        target
            .restore(
                rusqlite::DatabaseName::Main,
                staged.path(),
                None::<fn(rusqlite::backup::Progress)>,
            )
            .map_err(|e| {
                failed(
                    format!("replacing the content of {} failed", path.display()),
                    e,
                )
            })?;
        let _ = writeln!(
            log,
            "restored {} ({bytes} bytes), replacing its content in one transaction",
            path.display()
        );
        Ok(())
    }

    fn verify(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        self.check_restored(ep, input, log)
    }

    fn wipe(&self, ep: &Endpoint, log: &mut dyn Write) -> Result<()> {
        let path = path(ep)?;
        let mut removed = 0;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(failed(
                        format!("removing {} failed", p.to_string_lossy()),
                        e,
                    ));
                }
            }
        }
        let _ = writeln!(log, "removed {} ({removed} files)", path.display());
        Ok(())
    }
}

/// Every table of a database with its row count, by name.
fn census(conn: &Connection) -> Result<std::collections::BTreeMap<String, i64>> {
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .map_err(|e| failed("listing the tables failed", e))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| failed("listing the tables failed", e))?;
    let mut out = std::collections::BTreeMap::new();
    for name in names {
        let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        let n: i64 = conn
            .query_row(&sql, [], |r| r.get(0))
            .map_err(|e| failed(format!("counting the rows of {name} failed"), e))?;
        out.insert(name, n);
    }
    Ok(out)
}

impl Sqlite {
    /// `verify`: the restored file passes `PRAGMA integrity_check` and has the backup's tables
    /// with their row counts.
    fn check_restored(
        &self,
        ep: &Endpoint,
        input: &mut dyn Read,
        log: &mut dyn Write,
    ) -> Result<()> {
        let path = path(ep)?;
        let mut staged = tempfile::Builder::new()
            .prefix("bulwark-sqlite-verify-")
            .tempfile()
            .map_err(|e| failed("creating a temporary file failed", e))?;
        copy(input, staged.as_file_mut()).map_err(|e| failed("reading the backup failed", e))?;
        let restored = open_existing(&path)?;
        let verdict: String = restored
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| failed(format!("{} is damaged", path.display()), e))?;
        if verdict != "ok" {
            return Err(PluginError::failed(format!(
                "{} fails its integrity check: {verdict}",
                path.display()
            )));
        }
        let backup = open_existing(staged.path())?;
        let (want, have) = (census(&backup)?, census(&restored)?);
        let mut diffs = bulwark_plugin::Differences::new();
        for (table, rows) in &want {
            match have.get(table) {
                None => diffs.note(format!("table {table} is missing")),
                Some(n) if n != rows => {
                    diffs.note(format!("table {table} has {n} rows, not {rows}"))
                }
                Some(_) => {}
            }
        }
        diffs.finish(&format!("{} tables", want.len()))?;
        let _ = writeln!(
            log,
            "{} passes PRAGMA integrity_check and has the backup's {} tables with their {} rows",
            path.display(),
            want.len(),
            want.values().sum::<i64>()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ep(path: &Path) -> Endpoint {
        serde_json::json!({ "path": path })
            .as_object()
            .unwrap()
            .clone()
    }

    fn rows(path: &Path) -> Vec<(i64, Option<String>)> {
        let c = Connection::open(path).unwrap();
        let mut s = c.prepare("SELECT id, v FROM t ORDER BY id").unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn backup_then_restore_over_a_changed_database_and_into_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        let c = Connection::open(&db).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO t VALUES (1, 'Grüße ✓'), (2, NULL), (3, 'x');",
        )
        .unwrap();
        let before = rows(&db);
        let mut stream = Vec::new();
        let mut log = Vec::new();
        Sqlite.backup(&ep(&db), &mut stream, &mut log).unwrap();
        assert!(stream.starts_with(MAGIC));

        // The writer stays open, in WAL mode, and changes things.
        c.execute_batch("DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (9, 'new');")
            .unwrap();
        Sqlite
            .restore(&ep(&db), &mut &stream[..], &mut log)
            .unwrap();
        assert_eq!(rows(&db), before);
        let seen: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 3, "an open connection sees the restored database");

        let fresh = dir.path().join("sub/new.db");
        Sqlite
            .restore(&ep(&fresh), &mut &stream[..], &mut log)
            .unwrap();
        assert_eq!(rows(&fresh), before);
    }

    #[test]
    fn a_damaged_stream_changes_nothing_and_a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("app.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch(
                "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');",
            )
            .unwrap();
        let before = std::fs::read(&db).unwrap();
        let e = Sqlite
            .restore(
                &ep(&db),
                &mut &b"not a database at all"[..],
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(e.message.contains("not an SQLite database"), "{e}");
        let mut stream = Vec::new();
        Sqlite
            .backup(&ep(&db), &mut stream, &mut Vec::new())
            .unwrap();
        let len = stream.len();
        stream[len / 2..].iter_mut().for_each(|b| *b = 0x5a);
        assert!(
            Sqlite
                .restore(&ep(&db), &mut &stream[..], &mut Vec::new())
                .is_err()
        );
        assert_eq!(std::fs::read(&db).unwrap(), before);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no staged file is left behind");

        let e = Sqlite
            .validate(&ep(&dir.path().join("nope.db")))
            .unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
        std::fs::write(dir.path().join("junk.db"), b"junk junk junk junk junk").unwrap();
        let e = Sqlite
            .validate(&ep(&dir.path().join("junk.db")))
            .unwrap_err();
        assert!(e.message.contains("not a readable SQLite database"), "{e}");
    }
}
