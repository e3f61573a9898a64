//! The `postgres` target: one database with `pg_dump`/`pg_restore`, or a whole cluster (roles
//! and every database) with `pg_dumpall`/`psql`.
//!
//! Endpoint: `{"host": "db1", "port": 5432, "user": "postgres", "password": "...",
//! "database": "shop" | "all": true, "sslmode": "require", "maintenance_database": "postgres",
//! "bin_dir": "/usr/lib/postgresql/16/bin"}`.
//!
//! One database is dumped in the custom format without compression (`-Fc -Z0`): the store
//! compresses and a repository store deduplicates consecutive dumps. Restoring it creates the
//! database when it is missing, then runs `pg_restore --clean --if-exists --single-transaction`,
//! so a restore that fails changes nothing. A cluster is dumped by `pg_dumpall --clean
//! --if-exists` as SQL and replayed by `psql`; the two errors such a replay always prints (the
//! connected role cannot drop or re-create itself) are expected, any other fails the restore.
//!
//! The connection goes to the tools in `PG*` environment variables: the password is in
//! `PGPASSWORD`, never on a command line.

mod verify;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_plugin::{Endpoint, Exit, PluginError, Result, TargetPlugin};

use crate::params::{database_or_all, opt_abspath, opt_str, port, str_or};
use crate::tool::{self, command, find, one_line};

/// The `postgres` target plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

const HINT: &str = "install the postgresql-client package, or set bin_dir";
const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];
/// The first bytes of a custom-format dump.
const CUSTOM_MAGIC: &[u8] = b"PGDMP";

/// A PostgreSQL endpoint.
struct Conn {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    /// `None`: the whole cluster.
    database: Option<String>,
    sslmode: Option<String>,
    maintenance: String,
    bin_dir: Option<PathBuf>,
}

impl Conn {
    fn read(ep: &Endpoint) -> Result<Conn> {
        let sslmode = opt_str(ep, "sslmode")?;
        if let Some(m) = &sslmode
            && !SSLMODES.contains(&m.as_str())
        {
            return Err(PluginError::new(
                Exit::WrongEndpointType,
                format!(
                    "endpoint key 'sslmode' must be one of {}, not '{m}'",
                    SSLMODES.join(", ")
                ),
            ));
        }
        Ok(Conn {
            host: str_or(ep, "host", "localhost")?,
            port: port(ep, "port", 5432)?,
            user: str_or(ep, "user", "postgres")?,
            password: opt_str(ep, "password")?,
            database: database_or_all(ep)?,
            sslmode,
            maintenance: str_or(ep, "maintenance_database", "postgres")?,
            bin_dir: opt_abspath(ep, "bin_dir")?,
        })
    }

    fn tool(&self, name: &str) -> Result<PathBuf> {
        find(name, self.bin_dir.as_deref(), HINT)
    }

    fn at(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A command for `program` connecting to `db` through the environment.
    fn command(&self, program: &Path, db: &str) -> Command {
        let mut cmd = command(program);
        cmd.env("PGHOST", &self.host)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", &self.user)
            .env("PGDATABASE", db)
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGAPPNAME", "bulwark")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE");
        if let Some(p) = &self.password {
            cmd.env("PGPASSWORD", p);
        }
        if let Some(m) = &self.sslmode {
            cmd.env("PGSSLMODE", m);
        }
        cmd
    }

    /// The database a connection that is not about one database goes to.
    fn home(&self) -> &str {
        self.database.as_deref().unwrap_or(&self.maintenance)
    }

    /// One line saying why a tool failed, naming what it was about.
    fn explain(&self, stderr: &str) -> String {
        let at = self.at();
        let user = &self.user;
        if stderr.contains("password authentication failed") {
            return format!("wrong password for user {user} at PostgreSQL {at}");
        }
        if stderr.contains("no password supplied") {
            return format!(
                "PostgreSQL at {at} wants a password for user {user}, and the endpoint has none"
            );
        }
        if let Some(db) = quoted_before(stderr, "database \"", "\" does not exist") {
            return format!("database {db} does not exist at PostgreSQL {at}");
        }
        if let Some(role) = quoted_before(stderr, "role \"", "\" does not exist") {
            return format!("user {role} does not exist at PostgreSQL {at}");
        }
        for unreachable in [
            "Connection refused",
            "could not translate host name",
            "timeout expired",
            "No route to host",
            "Network is unreachable",
            "No such file or directory",
        ] {
            if stderr.contains(unreachable) {
                return format!("cannot reach PostgreSQL at {at}: {}", detail(stderr));
            }
        }
        one_line(stderr)
    }
}

/// The text between `before` and `after` in `s`.
fn quoted_before<'a>(s: &'a str, before: &str, after: &str) -> Option<&'a str> {
    let end = s.find(after)?;
    let start = s[..end].rfind(before)? + before.len();
    Some(&s[start..end])
}

/// A libpq connection error without its "psql: error: connection to server ... failed:" prefix.
fn detail(stderr: &str) -> String {
    let line = one_line(stderr);
    match line.rfind("failed: ") {
        Some(i) => line[i + "failed: ".len()..].to_string(),
        None => line
            .split_once("error: ")
            .map(|(_, r)| r.to_string())
            .unwrap_or(line.clone()),
    }
}

/// The major version in a tool's `--version` line ("pg_dump (PostgreSQL) 15.19" is 15).
fn tool_major(version_line: &str) -> Option<u32> {
    version_line
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
}

impl Postgres {
    /// Runs a short SQL script with psql and returns what it printed (tuples only, unaligned).
    fn psql(&self, c: &Conn, db: &str, vars: &[(&str, &str)], script: &str) -> Result<String> {
        let psql = c.tool("psql")?;
        let mut cmd = c.command(&psql, db);
        cmd.args(["-X", "-q", "-t", "-A", "-w", "-v", "ON_ERROR_STOP=1"]);
        for (k, v) in vars {
            cmd.arg("-v").arg(format!("{k}={v}"));
        }
        tool::run_capture(cmd, "psql", script.as_bytes(), &|e| c.explain(e))
    }
}

impl TargetPlugin for Postgres {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        let c = Conn::read(ep)?;
        let tools: &[&str] = match c.database {
            Some(_) => &["pg_dump", "pg_restore", "psql"],
            None => &["pg_dumpall", "psql"],
        };
        let mut client_major = None;
        for t in tools {
            let path = c.tool(t)?;
            if client_major.is_none() {
                let mut cmd = command(&path);
                cmd.arg("--version");
                let mut out = Vec::new();
                tool::run_to(cmd, t, &mut out, &|e| one_line(e))?;
                client_major = tool_major(&String::from_utf8_lossy(&out));
            }
        }
        let version = self.psql(&c, c.home(), &[], "SHOW server_version_num;")?;
        let server: u32 = version.trim().parse().unwrap_or(0);
        if let Some(client) = client_major
            && server / 10000 > client
        {
            return Err(PluginError::failed(format!(
                "PostgreSQL at {} is version {}, newer than its client tools ({client}); {HINT}",
                c.at(),
                server / 10000
            )));
        }
        Ok(())
    }

    fn backup(&self, ep: &Endpoint, output: &mut dyn Write, log: &mut dyn Write) -> Result<()> {
        let c = Conn::read(ep)?;
        let (cmd, what) = match &c.database {
            Some(db) => {
                let mut cmd = c.command(&c.tool("pg_dump")?, db);
                cmd.args(["--format=custom", "--compress=0", "--no-password"]);
                (cmd, "pg_dump")
            }
            None => {
                let mut cmd = c.command(&c.tool("pg_dumpall")?, &c.maintenance);
                cmd.args(["--clean", "--if-exists", "--no-password"]);
                (cmd, "pg_dumpall")
            }
        };
        let (warnings, bytes) = tool::run_to(cmd, what, output, &|e| c.explain(e))?;
        tool::relay(&warnings, log);
        let what_of = match &c.database {
            Some(db) => format!("database {db}"),
            None => "every database and role".to_string(),
        };
        let _ = writeln!(
            log,
            "dumped {what_of} from PostgreSQL {} with {what}: {bytes} bytes",
            c.at()
        );
        Ok(())
    }

    fn restore(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        let c = Conn::read(ep)?;
        let mut head = Vec::with_capacity(CUSTOM_MAGIC.len());
        input
            .take(CUSTOM_MAGIC.len() as u64)
            .read_to_end(&mut head)
            .map_err(|e| PluginError::failed(format!("reading the backup failed: {e}")))?;
        let custom = head == CUSTOM_MAGIC;
        let mut stream = std::io::Cursor::new(head).chain(input);
        match (&c.database, custom) {
            (Some(db), true) => self.restore_database(&c, db, &mut stream, log),
            (None, false) => self.restore_cluster(&c, &mut stream, log),
            (Some(_), false) => Err(PluginError::failed(
                "this backup is not a single-database dump (pg_dump's custom format); a whole-cluster backup restores into a target with \"all\": true",
            )),
            (None, true) => Err(PluginError::failed(
                "this backup holds one database (pg_dump's custom format); restore it into a target that names a database",
            )),
        }
    }

    fn verify(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        self.check_restored(ep, input, log)
    }

    fn wipe(&self, ep: &Endpoint, log: &mut dyn Write) -> Result<()> {
        self.drop_restored(ep, log)
    }
}

impl Postgres {
    fn restore_database(
        &self,
        c: &Conn,
        db: &str,
        input: &mut dyn Read,
        log: &mut dyn Write,
    ) -> Result<()> {
        let restore = c.tool("pg_restore")?;
        let created = self.psql(
            c,
            &c.maintenance,
            &[("db", db)],
            "SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') AS missing \\gset\n\
             \\if :missing\n\
             SELECT format('CREATE DATABASE %I', :'db') \\gexec\n\
             \\echo created\n\
             \\endif\n",
        )?;
        if created.contains("created") {
            let _ = writeln!(log, "database {db} did not exist; created it");
        }
        let mut cmd = c.command(&restore, db);
        let conninfo = format!("dbname='{}'", db.replace('\\', "\\\\").replace('\'', "\\'"));
        cmd.args([
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
        ])
        .arg(format!("--dbname={conninfo}"));
        let (warnings, _) = tool::run_from(cmd, "pg_restore", input, &|e| c.explain(e))?;
        tool::relay(&warnings, log);
        let _ = writeln!(log, "restored database {db} at PostgreSQL {}", c.at());
        Ok(())
    }

    fn restore_cluster(&self, c: &Conn, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        let psql = c.tool("psql")?;
        let mut cmd = c.command(&psql, &c.maintenance);
        cmd.args(["-X", "-q", "-w"]);
        let (stderr, _) = tool::run_from(cmd, "psql", input, &|e| c.explain(e))?;
        // Replaying pg_dumpall --clean as the connected role always fails to drop and to
        // re-create that role; those two are expected.
        let own_exists = format!("role \"{}\" already exists", c.user);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("ERROR:"))
            .filter(|l| !l.contains("current user cannot be dropped") && !l.contains(&own_exists))
            .collect();
        if let Some(first) = errors.first() {
            return Err(PluginError::failed(format!(
                "replaying the cluster dump hit {} error(s); the first: {}",
                errors.len(),
                first.trim()
            )));
        }
        let _ = writeln!(
            log,
            "restored every database and role at PostgreSQL {}",
            c.at()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn conn() -> Conn {
        let ep =
            serde_json::json!({"host": "db1", "port": 5433, "user": "app", "database": "shop"});
        Conn::read(ep.as_object().unwrap()).unwrap()
    }

    #[test]
    fn tool_errors_become_one_line_that_says_which() {
        let c = conn();
        assert_eq!(
            c.explain("psql: error: connection to server at \"db1\", port 5433 failed: FATAL:  password authentication failed for user \"app\"\n"),
            "wrong password for user app at PostgreSQL db1:5433"
        );
        assert_eq!(
            c.explain("pg_dump: error: connection to server at \"db1\" (10.0.0.1), port 5433 failed: FATAL:  database \"shop\" does not exist\n"),
            "database shop does not exist at PostgreSQL db1:5433"
        );
        assert_eq!(
            c.explain("psql: error: connection to server at \"db1\", port 5433 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n"),
            "cannot reach PostgreSQL at db1:5433: Connection refused; Is the server running on that host and accepting TCP/IP connections?"
        );
        assert!(
            c.explain("psql: error: could not translate host name \"db1\" to address: Name or service not known")
                .starts_with("cannot reach PostgreSQL at db1:5433: could not translate")
        );
        assert_eq!(tool_major("pg_dump (PostgreSQL) 15.19"), Some(15));
        assert_eq!(
            tool_major("pg_dump (PostgreSQL) 16.2 (Debian 16.2-1)"),
            Some(16)
        );
    }

    #[test]
    fn the_endpoint_is_checked() {
        let ep = serde_json::json!({"all": true, "sslmode": "sometimes"});
        let e = Conn::read(ep.as_object().unwrap()).err().unwrap();
        assert_eq!(e.exit, Exit::WrongEndpointType);
        assert!(e.message.contains("verify-full"));
        let c = conn();
        assert_eq!(c.home(), "shop");
        assert_eq!(c.at(), "db1:5433");
    }
}
