//! The `bgsave` mode of the `redis` target, for servers where the replication handshake is not
//! allowed (an ACL user without `+sync`, managed Redis that blocks `SYNC`): the server writes its
//! own dump file (`BGSAVE`), and the plugin, running on the server's host (through an agent),
//! reads that file as soon as the save has finished and streams it, checking its RDB header and
//! checksum. Redis replaces the dump file by a rename, so the file opened is one whole snapshot.
//!
//! The file is the endpoint's `dump_file`, or what `CONFIG GET dir` and `dbfilename` say.

use std::io::Write;
use std::time::{Duration, Instant};

use bulwark_plugin::{Endpoint, PluginError, Result};

use super::{Checked, Conn, READ_TIMEOUT, Redis};
use crate::params::opt_str;

/// A field of `INFO persistence`.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

impl Redis {
    /// Has the server save a snapshot and streams the file into `out`; returns its size.
    pub(super) fn dump(&self, c: &Conn, ep: &Endpoint, out: &mut dyn Write) -> Result<u64> {
        let mut conn = c.client()?;
        let failed = |e: redis::RedisError| PluginError::failed(c.explain(&e));
        let persistence = |conn: &mut redis::Connection| -> Result<String> {
            redis::cmd("INFO")
                .arg("persistence")
                .query::<String>(conn)
                .map_err(failed)
        };
        let saves = |info: &str| field(info, "rdb_saves").and_then(|v| v.parse::<u64>().ok());
        let before = persistence(&mut conn)?;
        let saves_before = saves(&before);
        let last_before: i64 = redis::cmd("LASTSAVE").query(&mut conn).map_err(failed)?;
        match redis::cmd("BGSAVE").query::<String>(&mut conn) {
            Ok(_) => {}
            // An append-only rewrite is running: the save starts once it ends.
            Err(e) if e.to_string().contains("in progress") => {
                redis::cmd("BGSAVE")
                    .arg("SCHEDULE")
                    .query::<String>(&mut conn)
                    .map_err(failed)?;
            }
            Err(e) => return Err(failed(e)),
        }
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let info = persistence(&mut conn)?;
            let running = field(&info, "rdb_bgsave_in_progress") == Some("1");
            let saved = match (saves_before, saves(&info)) {
                (Some(a), Some(b)) => b > a,
                // Servers without the counter: the last save's time moved.
                _ => {
                    let last: i64 = redis::cmd("LASTSAVE").query(&mut conn).map_err(failed)?;
                    last > last_before
                }
            };
            if !running && saved {
                if field(&info, "rdb_last_bgsave_status") != Some("ok") {
                    return Err(PluginError::failed(format!(
                        "Redis at {} could not save its snapshot (rdb_last_bgsave_status is not ok; see the server's log)",
                        c.at()
                    )));
                }
                break;
            }
            if Instant::now() >= deadline {
                return Err(PluginError::failed(format!(
                    "Redis at {} did not finish its BGSAVE within {}s",
                    c.at(),
                    READ_TIMEOUT.as_secs()
                )));
            }
        }
        let path = match opt_str(ep, "dump_file")? {
            Some(p) => std::path::PathBuf::from(p),
            None => {
                let get = |conn: &mut redis::Connection, key: &str| -> Result<String> {
                    let pair: Vec<String> = redis::cmd("CONFIG")
                        .arg("GET")
                        .arg(key)
                        .query(conn)
                        .map_err(|e| {
                            PluginError::failed(format!(
                                "{}; set the endpoint's dump_file to the server's dump file",
                                c.explain(&e)
                            ))
                        })?;
                    pair.into_iter().nth(1).ok_or_else(|| {
                        PluginError::failed(format!("Redis at {} has no {key}", c.at()))
                    })
                };
                let dir = get(&mut conn, "dir")?;
                let name = get(&mut conn, "dbfilename")?;
                std::path::Path::new(&dir).join(name)
            }
        };
        let mut file = std::fs::File::open(&path).map_err(|e| {
            PluginError::failed(format!(
                "the dump file {} cannot be read on this host: {e} (the plugin must run where Redis writes it: on an agent there)",
                path.display()
            ))
        })?;
        let mut check = Checked::new(out);
        std::io::copy(&mut file, &mut check)
            .map_err(|e| PluginError::failed(format!("reading {} failed: {e}", path.display())))?;
        check.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn persistence_fields_are_read_by_name() {
        let info = "# Persistence\r\nrdb_bgsave_in_progress:0\r\nrdb_saves:3\r\nrdb_last_bgsave_status:ok\r\n";
        assert_eq!(field(info, "rdb_saves"), Some("3"));
        assert_eq!(field(info, "rdb_bgsave_in_progress"), Some("0"));
        assert_eq!(field(info, "rdb_last_bgsave_status"), Some("ok"));
        assert_eq!(field(info, "rdb_save"), None);
    }
}
