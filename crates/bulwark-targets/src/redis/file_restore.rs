//! The `file` restore of the `redis` target (`"restore": "file"`): the snapshot becomes the
//! server's dump file while the server is stopped, the way Redis's own documentation restores
//! a backup, for servers where `RESTORE` over a connection is not wanted (very large data sets,
//! or an ACL without `RESTORE`). It runs on the server's host, through an agent.
//!
//! 1. The stream is staged next to the dump file (the server's `dir`) and read through: a
//!    stream that is not a complete RDB file with a matching checksum changes nothing.
//! 2. The server is stopped: `SHUTDOWN NOSAVE`, or the endpoint's `stop_command` (needed when
//!    a supervisor would start it again at once, as systemd does).
//! 3. The current dump file, and with `appendonly yes` the append-only files, are moved aside
//!    (`NAME.bulwark-before-restore`, replacing an older one) and the snapshot is renamed into
//!    place. With `appendonly yes` a server ignores the dump file and loads its append-only
//!    files, so the snapshot also becomes them: on Redis 7 a new `appenddirname` directory whose
//!    manifest names the snapshot as its base (Redis's own layout after a rewrite), before 7 an
//!    append-only file that is the snapshot (an RDB preamble with nothing after it).
//! 4. The endpoint's `start_command` starts the server; the plugin waits until it has loaded
//!    and checks it holds as many keys as the snapshot (less any whose expiry passed).
//! 5. Should the server not start, or hold the wrong data, it is stopped, the files moved aside
//!    are put back, and it is started again: the target is left as it was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_plugin::{Endpoint, PluginError, Result};

use super::{Conn, Redis, census};
use crate::params::opt_str;

/// How long the server may take to stop, or to start and load the snapshot.
const SETTLE: Duration = Duration::from_secs(120);
const ASIDE: &str = "bulwark-before-restore";

fn failed(m: impl Into<String>) -> PluginError {
    PluginError::failed(m)
}

/// What the server says about where its files are.
struct Files {
    dir: PathBuf,
    dump: PathBuf,
    /// The append-only directory (Redis 7) or file (older), when `appendonly` is on.
    aof: Option<Aof>,
}

enum Aof {
    Dir { dir: PathBuf, name: String },
    File(PathBuf),
}

impl Aof {
    fn path(&self) -> &Path {
        match self {
            Aof::Dir { dir, .. } => dir,
            Aof::File(f) => f,
        }
    }
}

fn aside(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{ASIDE}"));
    PathBuf::from(s)
}

fn config(c: &Conn, conn: &mut redis::Connection, key: &str) -> Result<Option<String>> {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(key)
        .query(conn)
        .map_err(|e| failed(c.explain(&e)))?;
    Ok(pair.into_iter().nth(1))
}

fn files(c: &Conn, conn: &mut redis::Connection) -> Result<Files> {
    let need = |v: Option<String>, key: &str| {
        v.ok_or_else(|| failed(format!("Redis at {} does not say its {key}", c.at())))
    };
    let dir = PathBuf::from(need(config(c, conn, "dir")?, "dir")?);
    let dump = dir.join(need(config(c, conn, "dbfilename")?, "dbfilename")?);
    let aof = if config(c, conn, "appendonly")?.as_deref() == Some("yes") {
        let name = need(config(c, conn, "appendfilename")?, "appendfilename")?;
        Some(match config(c, conn, "appenddirname")? {
            Some(d) => Aof::Dir {
                dir: dir.join(d),
                name,
            },
            None => Aof::File(dir.join(name)),
        })
    } else {
        None
    };
    if !dir.is_dir() {
        return Err(failed(format!(
            "the server's directory {} is not on this host: a file restore must run where Redis keeps its files (through an agent there)",
            dir.display()
        )));
    }
    Ok(Files { dir, dump, aof })
}

/// Runs an operator's command through `sh -c`, its output to the log.
fn shell(what: &str, command: &str, log: &mut dyn Write) -> Result<()> {
    let _ = writeln!(log, "running the {what}: {command}");
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .env_remove(bulwark_plugin::cli::ENDPOINT_ENV)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed(format!("the {what} could not be run: {e}")))?;
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !said.is_empty() {
        let _ = writeln!(log, "{said}");
    }
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(format!(
            "the {what} failed ({}){}",
            out.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {}", crate::tool::one_line(&said))
            }
        )))
    }
}

fn reachable(c: &Conn) -> bool {
    std::net::TcpStream::connect((c.host.as_str(), c.port)).is_ok()
}

fn stop(c: &Conn, ep: &Endpoint, log: &mut dyn Write) -> Result<()> {
    match opt_str(ep, "stop_command")? {
        Some(cmd) => shell("stop command", &cmd, log)?,
        None => {
            let mut conn = c.client()?;
            // The server closes the connection as it goes: no answer is the answer.
            if let Err(e) = redis::cmd("SHUTDOWN").arg("NOSAVE").exec(&mut conn)
                && !(e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
            {
                return Err(failed(c.explain(&e)));
            }
        }
    }
    let deadline = Instant::now() + SETTLE;
    while reachable(c) {
        if Instant::now() > deadline {
            return Err(failed(format!(
                "Redis at {} still answers {}s after it was told to stop",
                c.at(),
                SETTLE.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Starts the server and waits until it has loaded its data; returns its key count.
fn start(c: &Conn, command: &str, log: &mut dyn Write) -> Result<u64> {
    shell("start command", command, log)?;
    let deadline = Instant::now() + SETTLE;
    let mut last = String::from("it never answered");
    loop {
        if Instant::now() > deadline {
            return Err(failed(format!(
                "Redis at {} was not up with its data {}s after the start command: {last}",
                c.at(),
                SETTLE.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut conn = match c.client() {
            Ok(conn) => conn,
            Err(e) => {
                last = e.message;
                continue;
            }
        };
        let info: String = match redis::cmd("INFO").arg("keyspace").query(&mut conn) {
            Ok(i) => i,
            // LOADING: still reading its files.
            Err(e) => {
                last = c.explain(&e);
                continue;
            }
        };
        return Ok(info
            .lines()
            .filter(|l| l.starts_with("db"))
            .filter_map(|l| {
                l.split("keys=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum());
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        failed(format!(
            "moving {} to {} failed: {e}",
            from.display(),
            to.display()
        ))
    })
}

fn remove(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(_) => Ok(()),
    }
}

/// Moves the server's current files aside; returns the ones moved.
fn move_aside(f: &Files) -> Result<Vec<PathBuf>> {
    let mut moved = Vec::new();
    for p in std::iter::once(f.dump.as_path()).chain(f.aof.as_ref().map(Aof::path)) {
        if std::fs::symlink_metadata(p).is_ok() {
            remove(&aside(p))
                .map_err(|e| failed(format!("removing {} failed: {e}", aside(p).display())))?;
            rename(p, &aside(p))?;
            moved.push(p.to_path_buf());
        }
    }
    Ok(moved)
}

/// Puts the snapshot in place as the dump file and, with `appendonly yes`, as the append-only
/// files.
fn place(f: &Files, staged: &Path) -> Result<()> {
    match &f.aof {
        None => {}
        Some(Aof::File(p)) => {
            std::fs::copy(staged, p)
                .map_err(|e| failed(format!("writing {} failed: {e}", p.display())))?;
        }
        Some(Aof::Dir { dir, name }) => {
            let io = |e: std::io::Error| failed(format!("writing {} failed: {e}", dir.display()));
            std::fs::create_dir(dir).map_err(io)?;
            let base = format!("{name}.1.base.rdb");
            let incr = format!("{name}.1.incr.aof");
            std::fs::copy(staged, dir.join(&base)).map_err(io)?;
            std::fs::write(dir.join(&incr), b"").map_err(io)?;
            std::fs::write(
                dir.join(format!("{name}.manifest")),
                format!("file {base} seq 1 type b\nfile {incr} seq 1 type i\n"),
            )
            .map_err(io)?;
        }
    }
    rename(staged, &f.dump)
}

/// Undoes [`move_aside`] and [`place`]: the server's own files back where they were.
fn put_back(f: &Files, moved: &[PathBuf]) -> std::result::Result<(), String> {
    for p in std::iter::once(f.dump.as_path()).chain(f.aof.as_ref().map(Aof::path)) {
        remove(p).map_err(|e| format!("removing {} failed: {e}", p.display()))?;
    }
    for p in moved {
        std::fs::rename(aside(p), p)
            .map_err(|e| format!("putting {} back failed: {e}", p.display()))?;
    }
    Ok(())
}

impl Redis {
    /// The `file` restore: see the module's documentation.
    pub(super) fn restore_file(
        &self,
        c: &Conn,
        ep: &Endpoint,
        input: &mut dyn std::io::Read,
        log: &mut dyn Write,
    ) -> Result<()> {
        let start_command = opt_str(ep, "start_command")?.ok_or_else(|| {
            PluginError::new(
                bulwark_plugin::Exit::MissingEndpointKey,
                "a file restore needs the endpoint's start_command (how to start the server again once its files are replaced)",
            )
        })?;
        let mut conn = c.client()?;
        let f = files(c, &mut conn)?;
        drop(conn);
        let mut staged = tempfile::Builder::new()
            .prefix(".bulwark-restore-")
            .tempfile_in(&f.dir)
            .map_err(|e| {
                failed(format!(
                    "staging the backup in {} failed: {e}",
                    f.dir.display()
                ))
            })?;
        crate::tool::copy(input, staged.as_file_mut())
            .and_then(|_| staged.as_file().sync_all())
            .map_err(|e| failed(format!("staging the backup failed: {e}")))?;
        let (census, _, _) = census(staged.as_file_mut())?;
        let _ = writeln!(
            log,
            "the snapshot is whole: {} keys; stopping Redis at {} to replace its files",
            census.keys,
            c.at()
        );

        stop(c, ep, log)?;
        let moved = match move_aside(&f) {
            Ok(m) => m,
            Err(e) => return Err(recover(c, ep, &f, &[], &start_command, e, log)),
        };
        if let Err(e) = place(&f, staged.path()) {
            return Err(recover(c, ep, &f, &moved, &start_command, e, log));
        }
        let keys = match start(c, &start_command, log) {
            Ok(k) => k,
            Err(e) => return Err(recover(c, ep, &f, &moved, &start_command, e, log)),
        };
        if keys > census.keys || (keys < census.live && census.live > 0) {
            let e = failed(format!(
                "Redis loaded {keys} keys where the snapshot holds {} ({} not yet expired)",
                census.keys, census.live
            ));
            return Err(recover(c, ep, &f, &moved, &start_command, e, log));
        }
        let _ = writeln!(
            log,
            "Redis at {} is back with the snapshot's data: {keys} keys{}; its previous files are kept as *.{ASIDE}",
            c.at(),
            if f.aof.is_some() {
                " (its append-only files were made from the snapshot, as appendonly is on)"
            } else {
                ""
            }
        );
        Ok(())
    }
}

/// After a failed file restore: the server stopped if it runs, its own files back, and the
/// server started again.
fn recover(
    c: &Conn,
    ep: &Endpoint,
    f: &Files,
    moved: &[PathBuf],
    start_command: &str,
    cause: PluginError,
    log: &mut dyn Write,
) -> PluginError {
    let _ = writeln!(log, "{}; putting the server back as it was", cause.message);
    let back = (if reachable(c) {
        stop(c, ep, log).map_err(|e| e.message)
    } else {
        Ok(())
    })
    .and_then(|()| put_back(f, moved))
    .and_then(|()| {
        start(c, start_command, log)
            .map(|_| ())
            .map_err(|e| e.message)
    });
    match back {
        Ok(()) => failed(format!(
            "{}; the server's own files were put back and it was started again, as it was",
            cause.message
        )),
        Err(e) => failed(format!(
            "{}; putting the server back as it was failed too ({e}): its files before the restore are *.{ASIDE} in {}",
            cause.message,
            f.dir.display()
        )),
    }
}
