//! The `mysql` target (MySQL and MariaDB): a consistent logical dump of one database or all of
//! them with `mariadb-dump` (or `mysqldump`), restored through the `mariadb` (or `mysql`) client.
//!
//! Endpoint: `{"host": "db1", "port": 3306, "user": "root", "password": "...",
//! "database": "shop" | "all": true, "socket": "/run/mysqld/mysqld.sock", "bin_dir": "/usr/bin"}`.
//!
//! The dump is one transaction (`--single-transaction`, consistent for InnoDB without locking
//! writers) with routines, triggers and events, and no dump date, so two dumps of unchanged
//! data are byte-identical and deduplicate. Nothing compresses it: that is the store's job.
//! Statements may be up to 1 GiB (`--max-allowed-packet`); the server's own
//! `max_allowed_packet` must hold the largest row on restore. One database is dumped without `CREATE DATABASE`/`USE`, so it restores into
//! whatever database the restore target names (created when missing); `all` dumps every
//! database with its `CREATE DATABASE` and flushes privileges after restoring the grant tables.
//!
//! Credentials reach the tools in a temporary option file (mode 0600, removed afterwards) named
//! by `--defaults-extra-file`; the password is never on a command line.

mod verify;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_plugin::{Endpoint, PluginError, Result, TargetPlugin};
use tempfile::NamedTempFile;

use crate::params::{database_or_all, opt_abspath, opt_str, port, str_or};
use crate::tool::{self, command, find_any, one_line};

/// The `mysql` target plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mysql;

const HINT: &str = "install the mariadb-client (or mysql-client) package, or set bin_dir";
const DUMPS: &[&str] = &["mariadb-dump", "mysqldump"];
const CLIENTS: &[&str] = &["mariadb", "mysql"];
/// The first line of every backup says what it holds.
const HEADER: &str = "-- Bulwark mysql backup of ";

struct Conn {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: Option<String>,
    socket: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
}

/// A value in an option file: quoted, with backslashes and quotes escaped.
fn option_value(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A MySQL identifier in backquotes.
fn ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

impl Conn {
    fn read(ep: &Endpoint) -> Result<Conn> {
        Ok(Conn {
            host: str_or(ep, "host", "localhost")?,
            port: port(ep, "port", 3306)?,
            user: str_or(ep, "user", "root")?,
            password: opt_str(ep, "password")?,
            database: database_or_all(ep)?,
            socket: opt_abspath(ep, "socket")?,
            bin_dir: opt_abspath(ep, "bin_dir")?,
        })
    }

    fn at(&self) -> String {
        match &self.socket {
            Some(s) => s.display().to_string(),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// The option file holding the connection, password included.
    fn options(&self) -> Result<NamedTempFile> {
        let mut text = format!("[client]\nuser={}\n", option_value(&self.user));
        match &self.socket {
            Some(s) => {
                text.push_str(&format!(
                    "protocol=SOCKET\nsocket={}\n",
                    option_value(&s.to_string_lossy())
                ));
            }
            None => {
                // "localhost" would otherwise mean the local socket, whatever the port says.
                text.push_str(&format!(
                    "protocol=TCP\nhost={}\nport={}\n",
                    option_value(&self.host),
                    self.port
                ));
            }
        }
        if let Some(p) = &self.password {
            text.push_str(&format!("password={}\n", option_value(p)));
        }
        let mut f = tempfile::Builder::new()
            .prefix("bulwark-mysql-")
            .tempfile()
            .map_err(|e| PluginError::failed(format!("creating an option file failed: {e}")))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.flush())
            .map_err(|e| PluginError::failed(format!("writing an option file failed: {e}")))?;
        Ok(f)
    }

    fn command(&self, program: &Path, options: &NamedTempFile) -> Command {
        let mut cmd = command(program);
        // Must be the first argument.
        cmd.arg(format!(
            "--defaults-extra-file={}",
            options.path().display()
        ));
        cmd.env_remove("MYSQL_PWD").env_remove("MYSQL_HOST");
        cmd
    }

    fn explain(&self, stderr: &str) -> String {
        let at = self.at();
        if stderr.contains("Access denied for user") {
            return format!(
                "wrong password (or no access) for user {} at {at}",
                self.user
            );
        }
        if let Some(i) = stderr.find("Unknown database '") {
            let rest = &stderr[i + "Unknown database '".len()..];
            let db = rest.split('\'').next().unwrap_or(rest);
            return format!("database {db} does not exist at {at}");
        }
        // The client echoes the failing statement, which may be megabytes; its ERROR line says it.
        let error = stderr.lines().find(|l| {
            l.starts_with("ERROR ") || l.contains(": Got error") || l.contains(": Couldn't")
        });
        for unreachable in [
            "Can't connect",
            "Unknown server host",
            "Unknown MySQL server host",
            "Lost connection",
        ] {
            if stderr.contains(unreachable) {
                return format!(
                    "cannot reach MySQL/MariaDB at {at}: {}",
                    error
                        .map(str::to_string)
                        .unwrap_or_else(|| one_line(stderr))
                );
            }
        }
        error
            .map(str::to_string)
            .unwrap_or_else(|| one_line(stderr))
    }

    fn client(&self) -> Result<PathBuf> {
        find_any(CLIENTS, self.bin_dir.as_deref(), HINT)
    }

    /// Runs SQL through the client and returns its output (tab-separated, no headers).
    fn sql(&self, database: Option<&str>, script: &str) -> Result<String> {
        let options = self.options()?;
        let mut cmd = self.command(&self.client()?, &options);
        cmd.args(["--batch", "--skip-column-names", "--connect-timeout=10"]);
        if let Some(db) = database {
            cmd.arg(format!("--database={db}"));
        }
        tool::run_capture(cmd, "the mysql client", script.as_bytes(), &|e| {
            self.explain(e)
        })
    }
}

impl TargetPlugin for Mysql {
    fn validate(&self, ep: &Endpoint) -> Result<()> {
        let c = Conn::read(ep)?;
        find_any(DUMPS, c.bin_dir.as_deref(), HINT)?;
        c.sql(c.database.as_deref(), "SELECT VERSION();")?;
        Ok(())
    }

    fn backup(&self, ep: &Endpoint, output: &mut dyn Write, log: &mut dyn Write) -> Result<()> {
        let c = Conn::read(ep)?;
        let dump = find_any(DUMPS, c.bin_dir.as_deref(), HINT)?;
        let options = c.options()?;
        let mut cmd = c.command(&dump, &options);
        cmd.args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--default-character-set=utf8mb4",
            "--skip-dump-date",
            "--quick",
            "--max-allowed-packet=1G",
        ]);
        let header = match &c.database {
            Some(db) => {
                cmd.arg("--").arg(db);
                format!("{HEADER}database {}\n", ident(db))
            }
            None => {
                cmd.args(["--all-databases", "--flush-privileges"]);
                format!("{HEADER}every database\n")
            }
        };
        output
            .write_all(header.as_bytes())
            .map_err(|e| PluginError::failed(format!("writing the backup failed: {e}")))?;
        let name = dump
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (warnings, bytes) = tool::run_to(cmd, &name, output, &|e| c.explain(e))?;
        tool::relay(&warnings, log);
        let what = match &c.database {
            Some(db) => format!("database {db}"),
            None => "every database".into(),
        };
        let _ = writeln!(
            log,
            "dumped {what} from {} with {name}: {bytes} bytes",
            c.at()
        );
        Ok(())
    }

    fn restore(&self, ep: &Endpoint, input: &mut dyn Read, log: &mut dyn Write) -> Result<()> {
        let c = Conn::read(ep)?;
        let mut input = BufReader::with_capacity(1 << 20, input);
        let mut first = Vec::new();
        (&mut input)
            .take(4096)
            .read_until(b'\n', &mut first)
            .map_err(|e| PluginError::failed(format!("reading the backup failed: {e}")))?;
        let line = String::from_utf8_lossy(&first);
        let holds_all = line
            .strip_prefix(HEADER)
            .map(|rest| rest.trim() == "every database");
        match (holds_all, &c.database) {
            (Some(true), Some(_)) => {
                return Err(PluginError::failed(
                    "this backup holds every database; restore it into a target with \"all\": true",
                ));
            }
            (Some(false), None) => {
                return Err(PluginError::failed(
                    "this backup holds one database; restore it into a target that names a database",
                ));
            }
            _ => {}
        }
        let client = c.client()?;
        if let Some(db) = &c.database {
            let created = c.sql(
                None,
                &format!(
                    "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{}';\n\
                     CREATE DATABASE IF NOT EXISTS {};",
                    db.replace('\\', "\\\\").replace('\'', "\\'"),
                    ident(db)
                ),
            )?;
            if created.trim() == "0" {
                let _ = writeln!(log, "database {db} did not exist; created it");
            }
        }
        let options = c.options()?;
        let mut cmd = c.command(&client, &options);
        cmd.args(["--binary-mode", "--batch", "--max-allowed-packet=1G"]);
        if let Some(db) = &c.database {
            cmd.arg(format!("--database={db}"));
        }
        let mut stream = std::io::Cursor::new(first).chain(input);
        let (warnings, _) =
            tool::run_from(cmd, "the mysql client", &mut stream, &|e| c.explain(e))?;
        tool::relay(&warnings, log);
        let what = match &c.database {
            Some(db) => format!("database {db}"),
            None => "every database".into(),
        };
        let _ = writeln!(log, "restored {what} at {}", c.at());
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
    fn option_files_and_errors() {
        let ep = serde_json::json!({"host": "db1", "user": "app", "password": "p\"w\\x", "database": "shop"});
        let c = Conn::read(ep.as_object().unwrap()).unwrap();
        let f = c.options().unwrap();
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(text.contains("password=\"p\\\"w\\\\x\"\n"), "{text}");
        assert!(
            text.contains("protocol=TCP\nhost=\"db1\"\nport=3306\n"),
            "{text}"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(f.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            c.explain(
                "ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.2' (using password: YES)"
            ),
            "wrong password (or no access) for user app at db1:3306"
        );
        assert_eq!(
            c.explain("ERROR 1049 (42000): Unknown database 'shop'"),
            "database shop does not exist at db1:3306"
        );
        assert!(
            c.explain("ERROR 2002 (HY000): Can't connect to server on 'db1' (115)")
                .starts_with("cannot reach MySQL/MariaDB at db1:3306")
        );
        assert_eq!(ident("a`b"), "`a``b`");
    }
}
