//! The `postgres` target's drill actions. `verify` reads the rows the backup holds for each
//! table (the `COPY` blocks of the dump; a custom-format dump is read through `pg_restore
//! --data-only`) and checks that the restored database answers and has every one of those
//! tables with exactly as many rows. `wipe` drops what the restore made.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};

use bulwark_plugin::{Differences, Endpoint, PluginError, Result};

use super::{CUSTOM_MAGIC, Conn, Postgres};
use crate::tool;

/// Rows per table (named as the dump names it, `schema.table`), per database.
type Census = BTreeMap<String, BTreeMap<String, u64>>;

/// An identifier as PostgreSQL writes it: plain (`[a-z0-9_$]`) or double-quoted with `""`.
fn identifier(s: &str) -> Option<&str> {
    if let Some(rest) = s.strip_prefix('"') {
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().is_some_and(|(_, n)| *n == '"') {
                    chars.next();
                    continue;
                }
                return Some(&s[..i + 2]);
            }
        }
        return None;
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The table of a `COPY schema.table (cols) FROM stdin;` line, checked to be only a qualified
/// name (it is later put into a query).
fn copy_table(line: &str) -> Option<String> {
    let rest = line.strip_prefix("COPY ")?;
    if !line.trim_end().ends_with("FROM stdin;") {
        return None;
    }
    let schema = identifier(rest)?;
    let rest = rest[schema.len()..].strip_prefix('.')?;
    let table = identifier(rest)?;
    let after = &rest[table.len()..];
    (after.starts_with(" (") || after.starts_with(" FROM")).then(|| format!("{schema}.{table}"))
}

/// The database of a `\connect` line of a cluster dump: `\connect shop`, `\connect "my db"` or
/// `\connect -reuse-previous=on "dbname='shop'"`.
fn connect_db(line: &str) -> Option<String> {
    let rest = line.strip_prefix("\\connect ")?.trim();
    if let Some(i) = rest.find("dbname='") {
        let mut out = String::new();
        let mut chars = rest[i + "dbname='".len()..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '\'' => return Some(out),
                c => out.push(c),
            }
        }
        return None;
    }
    let mut rest = rest;
    while rest.starts_with('-') {
        rest = rest
            .split_once(' ')
            .map(|(_, r)| r.trim_start())
            .unwrap_or("");
    }
    match rest.strip_prefix('"') {
        Some(q) => {
            let mut out = String::new();
            let mut chars = q.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        out.push('"');
                        continue;
                    }
                    return Some(out);
                }
                out.push(c);
            }
            None
        }
        None => rest.split_whitespace().next().map(str::to_string),
    }
}

/// Counts the rows of each `COPY` block of a SQL dump; `first` is the database before any
/// `\connect`.
fn scan(input: &mut dyn Read, first: &str) -> std::io::Result<Census> {
    let mut r = BufReader::with_capacity(1 << 20, input);
    let mut out = Census::new();
    let mut db = first.to_string();
    let mut line = Vec::new();
    let mut copying: Option<(String, u64)> = None;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some((table, rows)) = &mut copying {
            if line == b"\\.\n" || line == b"\\." {
                out.entry(db.clone())
                    .or_default()
                    .insert(std::mem::take(table), *rows);
                copying = None;
            } else {
                *rows += 1;
            }
            continue;
        }
        if line.starts_with(b"COPY ") {
            copying = copy_table(&String::from_utf8_lossy(&line)).map(|t| (t, 0));
        } else if line.starts_with(b"\\connect ")
            && let Some(d) = connect_db(&String::from_utf8_lossy(&line))
        {
            db = d;
        }
    }
    Ok(out)
}

impl Postgres {
    /// What a backup holds: its tables' row counts, per database.
    fn census(&self, c: &Conn, input: &mut dyn Read) -> Result<Census> {
        let mut head = Vec::with_capacity(CUSTOM_MAGIC.len());
        input
            .take(CUSTOM_MAGIC.len() as u64)
            .read_to_end(&mut head)
            .map_err(|e| PluginError::failed(format!("reading the backup failed: {e}")))?;
        let custom = head == CUSTOM_MAGIC;
        let mut stream = std::io::Cursor::new(head).chain(input);
        match (&c.database, custom) {
            (Some(db), true) => {
                let mut cmd = c.command(&c.tool("pg_restore")?, db);
                cmd.args(["--data-only", "--file=-"]);
                let first = db.clone();
                let (_, census) = tool::run_through(
                    cmd,
                    "pg_restore",
                    &mut stream,
                    move |out| scan(out, &first),
                    &|e| c.explain(e),
                )?;
                census.map_err(|e| PluginError::failed(format!("reading the dump failed: {e}")))
            }
            (None, false) => scan(&mut stream, &c.maintenance)
                .map_err(|e| PluginError::failed(format!("reading the backup failed: {e}"))),
            _ => Err(PluginError::failed(
                "this backup does not match the target (one database or the whole cluster)",
            )),
        }
    }

    /// Checks one database against what the backup holds for it.
    fn compare(
        &self,
        c: &Conn,
        db: &str,
        want: &BTreeMap<String, u64>,
        diffs: &mut Differences,
    ) -> Result<()> {
        let listed = match self.psql(
            c,
            db,
            &[],
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_tables \
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema');",
        ) {
            Ok(l) => l,
            Err(e) if e.message.contains("does not exist") => {
                diffs.note(format!("database {db} is missing"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let have: std::collections::BTreeSet<&str> = listed.lines().map(str::trim).collect();
        let mut present = Vec::new();
        for table in want.keys() {
            if have.contains(table.as_str()) {
                present.push(table.as_str());
            } else {
                diffs.note(format!("table {table} of database {db} is missing"));
            }
        }
        if present.is_empty() {
            return Ok(());
        }
        let script: String = present
            .iter()
            .map(|t| format!("SELECT count(*) FROM {t};\n"))
            .collect();
        let counts = self.psql(c, db, &[], &script)?;
        for (table, n) in present.iter().zip(counts.lines()) {
            let n: u64 = n.trim().parse().unwrap_or(u64::MAX);
            let rows = want.get(*table).copied().unwrap_or(0);
            if n != rows {
                diffs.note(format!(
                    "table {table} of database {db} has {n} rows, not {rows}"
                ));
            }
        }
        Ok(())
    }

    pub(super) fn check_restored(
        &self,
        ep: &Endpoint,
        input: &mut dyn Read,
        log: &mut dyn Write,
    ) -> Result<()> {
        let c = Conn::read(ep)?;
        // The database answers before the backup is read.
        self.psql(&c, c.home(), &[], "SELECT 1;")?;
        let census = self.census(&c, input)?;
        let mut diffs = Differences::new();
        for (db, want) in &census {
            self.compare(&c, db, want, &mut diffs)?;
        }
        let tables: usize = census.values().map(BTreeMap::len).sum();
        let rows: u64 = census.values().flat_map(|t| t.values()).sum();
        diffs.finish(&format!("{tables} tables"))?;
        let _ = writeln!(
            log,
            "PostgreSQL {} answers and has every table of the backup with its rows: {tables} tables, {rows} rows in {} database(s)",
            c.at(),
            census.len()
        );
        Ok(())
    }

    pub(super) fn drop_restored(&self, ep: &Endpoint, log: &mut dyn Write) -> Result<()> {
        let c = Conn::read(ep)?;
        match &c.database {
            Some(db) => {
                self.psql(
                    &c,
                    &c.maintenance,
                    &[("db", db)],
                    "SELECT current_setting('server_version_num')::int >= 130000 AS force \\gset\n\
                     \\if :force\n\
                     DROP DATABASE IF EXISTS :\"db\" WITH (FORCE);\n\
                     \\else\n\
                     DROP DATABASE IF EXISTS :\"db\";\n\
                     \\endif\n",
                )?;
                let _ = writeln!(log, "dropped database {db} at PostgreSQL {}", c.at());
            }
            None => {
                self.psql(
                    &c,
                    &c.maintenance,
                    &[("keep", &c.maintenance)],
                    "SELECT format('DROP DATABASE %I', datname) FROM pg_database \
                     WHERE datname NOT IN ('template0', 'template1', :'keep') \\gexec\n",
                )?;
                let _ = writeln!(
                    log,
                    "dropped every database but {} and the templates at PostgreSQL {} (roles stay)",
                    c.maintenance,
                    c.at()
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_copy_blocks_per_database() {
        let dump = "SET x = 1;\n\
            \\connect template1\n\
            \\connect -reuse-previous=on \"dbname='sh\\'op'\"\n\
            COPY public.items (id, name) FROM stdin;\n1\ta\n2\tb\n\\.\n\
            COPY \"My Schema\".\"Odd \"\"T\"\"\" (id) FROM stdin;\n\\.\n\
            \\connect other\n\
            COPY public.t FROM stdin;\n9\n\\.\n\
            COPY public.x; DROP TABLE y (id) FROM stdin;\n";
        let c = scan(&mut dump.as_bytes(), "postgres").unwrap();
        assert_eq!(c["sh'op"]["public.items"], 2);
        assert_eq!(c["sh'op"]["\"My Schema\".\"Odd \"\"T\"\"\""], 0);
        assert_eq!(c["other"]["public.t"], 1);
        assert_eq!(c.len(), 2);
        assert_eq!(c["other"].len(), 1, "{c:?}");
    }

    #[test]
    fn names_are_identifiers_only() {
        assert_eq!(identifier("abc.d"), Some("abc"));
        assert_eq!(identifier("\"a\"\"b\".c"), Some("\"a\"\"b\""));
        assert_eq!(identifier("\"open"), None);
        assert_eq!(
            copy_table("COPY a.b (x) FROM stdin;\n").as_deref(),
            Some("a.b")
        );
        assert_eq!(copy_table("COPY a.b;DROP x FROM stdin;\n"), None);
        assert_eq!(
            connect_db("\\connect \"my db\"\n").as_deref(),
            Some("my db")
        );
    }
}
