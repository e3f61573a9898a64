//! `check` of a plugin store (the built-in `fs` store or any store plugin): every valid archive
//! of the store, or the `read_data` subset of them, is retrieved and read to its end; a sealed
//! one is opened with the store's key (authenticated chunk by chunk) and must give back the
//! bytes its backup wrote. Missing and damaged archives are listed in the log, and fail the task.

use bulwark_catalog::{Archive, ArchiveFilter, ArchiveFormat, Store};
use bulwark_core::state::{ArchiveStatus, TaskStatus};
use bulwark_runner::LogSink;
use bulwark_runner::verify::{Verdict, verify_blob};

use super::work::{End, limits, resolve_store, say, sentence};
use super::{Engine, Running};

/// Which archives a `read_data` subset selects: all of them, a share of them (rotating by
/// day), or as many as fit in a number of bytes.
fn subset(mut all: Vec<Archive>, read: &str, day: i64) -> Result<Vec<Archive>, String> {
    let read = read.trim();
    if read.is_empty() || read.eq_ignore_ascii_case("all") {
        return Ok(all);
    }
    all.sort_by_key(|a| a.uuid.to_string());
    let n = all.len();
    if n == 0 {
        return Ok(all);
    }
    let start = usize::try_from(day.rem_euclid(n as i64)).unwrap_or(0);
    all.rotate_left(start);
    if let Some(p) = read.strip_suffix('%') {
        let p: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("'{read}' is not a percentage"))?;
        let take = ((n as f64) * p / 100.0).ceil() as usize;
        all.truncate(take.clamp(1, n));
        return Ok(all);
    }
    let budget = parse_size(read)?;
    let mut used = 0u64;
    let mut out = Vec::new();
    for a in all {
        if !out.is_empty() && used + (a.size.max(0) as u64) > budget {
            break;
        }
        used += a.size.max(0) as u64;
        out.push(a);
    }
    Ok(out)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "'{s}' is not a read subset: give all, a percentage such as 10%, or a size such as 500MiB"
        )
    };
    let digits: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let n: f64 = digits.parse().map_err(|_| bad())?;
    let unit = s[digits.len()..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1_048_576.0,
        "g" | "gb" => 1e9,
        "gib" => 1_073_741_824.0,
        "t" | "tb" => 1e12,
        "tib" => 1_099_511_627_776.0,
        _ => return Err(bad()),
    };
    Ok((n * mult) as u64)
}

pub(super) async fn run(
    e: &Engine,
    store: &Store,
    read: &str,
    task_run: &Running,
    log: &LogSink,
) -> Option<End> {
    let s = match resolve_store(e, store).await {
        Ok(s) => s,
        Err(m) => return Some(End::failed(sentence(&format!("Failed: {m}")))),
    };
    let filter = ArchiveFilter {
        store: Some(store.uuid),
        status: Some(ArchiveStatus::Valid),
        ..Default::default()
    };
    let archives = match e.catalog().list_archives(&filter).await {
        Ok(a) => a,
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    let total = archives.len();
    let day = e.now() / 86_400;
    let chosen = match subset(archives, read, day) {
        Ok(c) => c,
        Err(m) => return Some(End::failed(sentence(&format!("Failed: {m}")))),
    };
    say(
        log,
        format!(
            "Checking store '{}': reading back {} of its {total} archives{}.",
            store.name,
            chosen.len(),
            if read.is_empty() {
                String::new()
            } else {
                format!(" ({read})")
            }
        ),
    );
    let limits = limits(e, task_run);
    let (mut bytes, mut missing, mut damaged) = (0u64, 0usize, 0usize);
    for a in &chosen {
        let what = format!(
            "Archive {} (taken {})",
            a.uuid,
            bulwark_core::timefmt::format_epoch(a.taken_at)
        );
        let verdict = match verify_blob(s.side(), &a.store_key, &limits).await {
            Ok(v) => v,
            Err(m) => return Some(End::failed(sentence(&format!("Failed: {m}")))),
        };
        match verdict {
            Verdict::Sound(n)
                if matches!(a.format, ArchiveFormat::Sealed | ArchiveFormat::Raw)
                    && n != a.size.max(0) as u64 =>
            {
                damaged += 1;
                say(
                    log,
                    format!(
                        "{what}: damaged: it opens to {n} bytes, and its backup wrote {}.",
                        a.size
                    ),
                );
            }
            Verdict::Sound(n) => bytes += n,
            Verdict::Missing(m) => {
                missing += 1;
                say(log, format!("{what}: missing: {m}"));
            }
            Verdict::Damaged(m) => {
                damaged += 1;
                say(log, format!("{what}: damaged: {m}"));
            }
        }
    }
    let read_back = mib(bytes);
    if missing + damaged == 0 {
        return Some(End {
            status: TaskStatus::Done,
            line: format!(
                "Done: {} archives read back ({read_back}), all sound.",
                chosen.len()
            ),
        });
    }
    Some(End::failed(format!(
        "Failed: of {} archives read back, {damaged} damaged and {missing} missing (see above).",
        chosen.len()
    )))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("500MiB").unwrap(), 500 * 1_048_576);
        assert_eq!(parse_size("1.5 GB").unwrap(), 1_500_000_000);
        assert!(parse_size("lots").is_err());
    }
}
