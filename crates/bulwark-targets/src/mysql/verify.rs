//! The `mysql` target's drill actions. `verify` counts the rows the dump inserts into each
//! table (the tuples of its `INSERT` statements) and checks that the restored server answers
//! and has every one of those tables with exactly as many rows; the system databases (`mysql`,
//! `sys`) are passed over, as the server keeps its own rows there. `wipe` drops what the
//! restore made.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};

use bulwark_plugin::{Differences, Endpoint, PluginError, Result};

use super::{Conn, ident};

/// Rows per table, per database.
type Census = BTreeMap<String, BTreeMap<String, u64>>;

/// Databases whose rows are the server's own.
const SYSTEM: &[&str] = &["mysql", "sys", "performance_schema", "information_schema"];

/// A backquoted identifier at the start of `s`: its name, and the bytes it took.
fn backquoted(s: &[u8]) -> Option<(String, usize)> {
    if s.first() != Some(&b'`') {
        return None;
    }
    let mut name = Vec::new();
    let mut i = 1;
    while i < s.len() {
        if s[i] == b'`' {
            if s.get(i + 1) == Some(&b'`') {
                name.push(b'`');
                i += 2;
                continue;
            }
            return Some((String::from_utf8_lossy(&name).into_owned(), i + 1));
        }
        name.push(s[i]);
        i += 1;
    }
    None
}

/// Counts the tuples of an `INSERT ... VALUES (...),(...);` statement, which may span lines
/// (MariaDB 11 writes one row per line), quoted strings skipped.
#[derive(Debug, Default)]
struct Tuples {
    n: u64,
    depth: i32,
    quote: Option<u8>,
    escaped: bool,
}

impl Tuples {
    /// Reads more of the statement; true when it ended.
    fn feed(&mut self, s: &[u8]) -> bool {
        for &b in s {
            if let Some(q) = self.quote {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == q {
                    self.quote = None;
                }
                continue;
            }
            match b {
                b'\'' | b'"' => self.quote = Some(b),
                b'(' => {
                    if self.depth == 0 {
                        self.n += 1;
                    }
                    self.depth += 1;
                }
                b')' => self.depth -= 1,
                b';' if self.depth == 0 => return true,
                _ => {}
            }
        }
        false
    }
}

#[cfg(test)]
fn tuples(s: &[u8]) -> u64 {
    let mut t = Tuples::default();
    t.feed(s);
    t.n
}

/// Counts the rows of a dump; `first` is the database before any `USE`.
fn scan(input: &mut dyn Read, first: &str) -> std::io::Result<Census> {
    let mut r = BufReader::with_capacity(1 << 20, input);
    let mut out = Census::new();
    let mut db = first.to_string();
    let mut line = Vec::new();
    // The table and the count of an INSERT that goes on past its first line.
    let mut inserting: Option<(String, Tuples)> = None;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some((table, mut t)) = inserting.take() {
            let ended = t.feed(&line);
            if ended {
                *out.entry(db.clone()).or_default().entry(table).or_insert(0) += t.n;
            } else {
                inserting = Some((table, t));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix(b"USE ") {
            if let Some((d, _)) = backquoted(rest) {
                db = d;
            }
        } else if let Some(rest) = line.strip_prefix(b"CREATE TABLE ") {
            if let Some((t, _)) = backquoted(rest) {
                out.entry(db.clone()).or_default().entry(t).or_insert(0);
            }
        } else if let Some(rest) = line.strip_prefix(b"INSERT INTO ")
            && let Some((table, used)) = backquoted(rest)
            && let Some(values) = rest[used..].strip_prefix(b" VALUES")
        {
            let mut t = Tuples::default();
            if t.feed(values) {
                *out.entry(db.clone()).or_default().entry(table).or_insert(0) += t.n;
            } else {
                inserting = Some((table, t));
            }
        }
    }
    out.retain(|db, _| !SYSTEM.contains(&db.as_str()));
    Ok(out)
}

pub(super) fn verify(ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
    let c = Conn::read(ep)?;
    c.sql(None, "SELECT 1;")?;
    let first = c.database.clone().unwrap_or_default();
    let census = scan(input, &first)
        .map_err(|e| PluginError::failed(format!("reading the backup failed: {e}")))?;
    let listed = c.sql(
        None,
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE';",
    )?;
    let have: std::collections::BTreeSet<(String, String)> = listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(d, t)| (d.to_string(), t.to_string()))
        .collect();
    let mut diffs = Differences::new();
    let mut present = Vec::new();
    for (db, tables) in &census {
        for (table, rows) in tables {
            if have.contains(&(db.clone(), table.clone())) {
                present.push((db, table, *rows));
            } else {
                diffs.note(format!("table {db}.{table} is missing"));
            }
        }
    }
    if !present.is_empty() {
        let script: String = present
            .iter()
            .map(|(d, t, _)| format!("SELECT COUNT(*) FROM {}.{};\n", ident(d), ident(t)))
            .collect();
        let counts = c.sql(None, &script)?;
        for ((db, table, rows), n) in present.iter().zip(counts.lines()) {
            let n: u64 = n.trim().parse().unwrap_or(u64::MAX);
            if n != *rows {
                diffs.note(format!("table {db}.{table} has {n} rows, not {rows}"));
            }
        }
    }
    let tables: usize = census.values().map(BTreeMap::len).sum();
    let rows: u64 = census.values().flat_map(|t| t.values()).sum();
    diffs.finish(&format!("{tables} tables"))?;
    let _ = writeln!(
        log,
        "{} answers and has every table of the backup with its rows: {tables} tables, {rows} rows in {} database(s)",
        c.at(),
        census.len()
    );
    Ok(())
}

pub(super) fn wipe(ep: &Endpoint, log: &mut dyn Write) -> Result<()> {
    let c = Conn::read(ep)?;
    match &c.database {
        Some(db) => {
            c.sql(None, &format!("DROP DATABASE IF EXISTS {};", ident(db)))?;
            let _ = writeln!(log, "dropped database {db} at {}", c.at());
        }
        None => {
            let listed = c.sql(None, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA;")?;
            let drops: String = listed
                .lines()
                .map(str::trim)
                .filter(|d| !d.is_empty() && !SYSTEM.contains(d))
                .map(|d| format!("DROP DATABASE IF EXISTS {};\n", ident(d)))
                .collect();
            if !drops.is_empty() {
                c.sql(None, &drops)?;
            }
            let _ = writeln!(
                log,
                "dropped every database but the system ones at {} (users and grants stay)",
                c.at()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_the_tuples_of_each_insert() {
        let dump = "-- Bulwark mysql backup of every database\n\
            USE `shop`;\n\
            CREATE TABLE `items` (\n  `id` int\n);\n\
            INSERT INTO `items` VALUES (1,'a (b), \\'c\\''),(2,'x;y'),(3,NULL);\n\
            INSERT INTO `items` VALUES (4,\"q\");\n\
            INSERT INTO `items` VALUES\n(5,'x\n'),\n(6,');'),\n(7,NULL);\n\
            CREATE TABLE `empty` (\n);\n\
            /*!50001 CREATE TABLE `v` (\n*/;\n\
            USE `od``d`;\n\
            INSERT INTO `t` VALUES (1);\n\
            USE `mysql`;\n\
            INSERT INTO `user` VALUES (1);\n";
        let c = scan(&mut dump.as_bytes(), "").unwrap();
        assert_eq!(c["shop"]["items"], 7);
        assert_eq!(c["shop"]["empty"], 0);
        assert!(!c["shop"].contains_key("v"));
        assert_eq!(c["od`d"]["t"], 1);
        assert!(!c.contains_key("mysql"));
        assert_eq!(tuples(b"(1,'(((')"), 1);
    }
}
