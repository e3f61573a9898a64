//! `bulwark ls archive REF [PATH]` and `bulwark cat archive REF PATH`: looking into an archive of
//! a repository store without restoring it; and finding the newest good archive of a job or a
//! target (`restore latest`).

use std::process::ExitCode;

use serde_json::Value;

use super::view::grid;
use super::{CliResult, Client, Conn, Kind, encode, finish, print_json, text};

/// `bulwark ls archive REF [PATH]`
pub fn ls(reference: &str, path: Option<&str>, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let id = c.uuid_of(Kind::Archive, reference)?;
        let path = path.unwrap_or("");
        let mut offset = 0;
        let mut rows = Vec::new();
        loop {
            let page = c.get(&format!(
                "/v1/archive/{}/files?path={}&offset={offset}&limit=10000",
                encode(&id),
                encode(path)
            ))?;
            let entries = page["entries"].as_array().cloned().unwrap_or_default();
            offset += entries.len() as u64;
            rows.extend(entries);
            if offset >= page["total"].as_u64().unwrap_or(0) || rows.is_empty() {
                break;
            }
        }
        if conn.json {
            print_json(&Value::Array(rows));
            return Ok(());
        }
        let cells = rows
            .iter()
            .map(|r| {
                let name = match r["type"].as_str() {
                    Some("dir") => format!("{}/", text(&r["name"])),
                    _ => text(&r["name"]),
                };
                vec![
                    text(&r["type"]),
                    r["mode"]
                        .as_u64()
                        .map(|m| format!("{m:04o}"))
                        .unwrap_or_default(),
                    text(&r["size"]),
                    text(&r["mtime"]).chars().take(19).collect(),
                    name,
                ]
            })
            .collect();
        println!(
            "{}",
            grid(&["TYPE", "MODE", "SIZE", "MODIFIED", "NAME"], cells)
        );
        Ok(())
    })())
}

/// `bulwark cat archive REF PATH`: the file's bytes on stdout, streamed.
pub fn cat(reference: &str, path: &str, conn: &Conn) -> ExitCode {
    finish((|| {
        let c = Client::new(conn)?;
        let id = c.uuid_of(Kind::Archive, reference)?;
        let mut out = std::io::stdout().lock();
        c.copy_to(
            &format!(
                "/v1/archive/{}/files/content?path={}",
                encode(&id),
                encode(path)
            ),
            &mut out,
        )
    })())
}

/// The newest valid archive of a job (its target into its store) or of a target.
pub fn latest(c: &Client, job: Option<&str>, target: Option<&str>) -> CliResult<Value> {
    let (query, what) = match (job, target) {
        (Some(j), None) => {
            let job = c.resolve(Kind::Job, j)?;
            (
                format!(
                    "target={}&store={}",
                    text(&job["target_uuid"]),
                    text(&job["store_uuid"])
                ),
                format!("job '{}'", text(&job["name"])),
            )
        }
        (None, Some(t)) => {
            let target = c.resolve(Kind::Target, t)?;
            (
                format!("target={}", text(&target["uuid"])),
                format!("target '{}'", text(&target["name"])),
            )
        }
        _ => return Err("restore latest needs --job JOB or --target TARGET (one of them)".into()),
    };
    let list = c.get(&format!("/v1/archives?{query}&status=valid"))?;
    list.as_array()
        .into_iter()
        .flatten()
        .max_by_key(|a| text(&a["taken_at"]))
        .cloned()
        .ok_or_else(|| format!("{what} has no good archive"))
}
