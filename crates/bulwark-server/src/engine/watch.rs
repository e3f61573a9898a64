//! File-change triggers (hen-backup's): a job of an `fs` target on the daemon's host with a
//! `watch` runs when files under its directory change, once they have been quiet for `settle`
//! seconds, and at most once per `min_interval` seconds, in addition to its schedule.
//!
//! Changes made by editors' temporary files (`.x.swp`, `x~`, `.#x`, `#x#`, `*.tmp`, vim's
//! `4913`) are not changes; nor are those a restore into the target makes (a burst that a
//! restore of the target overlapped is dropped). A burst that comes while a backup of the job is
//! pending or running waits for it to end. Only the daemon's own host is watched: a target on
//! an agent is not (its changes would have to cross the link).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use bulwark_catalog::{Job, JobFilter};
use bulwark_core::ids::JobId;

use super::Engine;

/// How often the watched jobs are compared with the catalog.
const RECONCILE: Duration = Duration::from_secs(5);
/// How often bursts are looked at.
const TICK: Duration = Duration::from_millis(250);
/// The owner of the backups a change starts.
pub const OWNER: &str = "watch";

/// The burst of changes not yet backed up.
#[derive(Debug, Default)]
struct Burst {
    /// The last change (monotonic), if any is pending.
    last: Option<Instant>,
    /// When the first change of the burst came (the daemon's clock).
    since: Option<i64>,
}

struct Watched {
    dir: PathBuf,
    settle: Duration,
    min_interval: Duration,
    burst: Arc<Mutex<Burst>>,
    _watcher: RecommendedWatcher,
}

/// True for the names editors give their temporary files.
pub(crate) fn temporary(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.ends_with('~')
        || name.ends_with(".tmp")
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name.starts_with(".goutputstream-")
        || name == "4913"
}

/// The job's watched directory and timings, when it has a watch and runs here.
fn wanted(job: &Job) -> Option<(PathBuf, Duration, Duration)> {
    let settle = job.watch_settle.filter(|s| *s > 0)?;
    if job.target.plugin != "fs" {
        return None;
    }
    let dir = super::work::tree_dir(&job.target)
        .or_else(|| {
            serde_json::from_str::<serde_json::Value>(&job.target.endpoint)
                .ok()?
                .get("base_dir")?
                .as_str()
                .map(str::to_string)
        })
        .map(PathBuf::from)?;
    let min = job.watch_min_interval.unwrap_or(0).max(0);
    Some((
        dir,
        Duration::from_secs(u64::try_from(settle).unwrap_or(0)),
        Duration::from_secs(u64::try_from(min).unwrap_or(0)),
    ))
}

fn watch(e: &Engine, dir: &Path) -> ::notify::Result<(RecommendedWatcher, Arc<Mutex<Burst>>)> {
    let burst = Arc::new(Mutex::new(Burst::default()));
    let (b, clock) = (burst.clone(), e.inner.clock.clone());
    let mut w = ::notify::recommended_watcher(move |res: ::notify::Result<::notify::Event>| {
        let Ok(ev) = res else { return };
        let changed = matches!(
            ev.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
        );
        if !changed || ev.paths.iter().all(|p| temporary(p)) {
            return;
        }
        let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        b.last = Some(Instant::now());
        b.since.get_or_insert_with(|| clock.now().timestamp());
    })?;
    w.watch(dir, RecursiveMode::Recursive)?;
    Ok((w, burst))
}

pub(super) async fn run(e: Engine) {
    let mut watched: HashMap<JobId, Watched> = HashMap::new();
    let mut fired: HashMap<JobId, Instant> = HashMap::new();
    let mut reconcile_at = Instant::now();
    loop {
        if Instant::now() >= reconcile_at {
            reconcile(&e, &mut watched).await;
            reconcile_at = Instant::now() + RECONCILE;
        }
        for (id, w) in &watched {
            let (last, since) = {
                let b = w
                    .burst
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (b.last, b.since)
            };
            let (Some(last), Some(since)) = (last, since) else {
                continue;
            };
            let rested = last.elapsed() >= w.settle;
            let spaced = fired.get(id).is_none_or(|t| t.elapsed() >= w.min_interval);
            if !(rested && spaced) {
                continue;
            }
            match fire(&e, *id, since).await {
                Ok(Some(done)) => {
                    *w.burst
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Burst::default();
                    if done {
                        fired.insert(*id, Instant::now());
                    }
                }
                // A backup of the job is on its way: the burst waits for it.
                Ok(None) => {}
                Err(err) => {
                    tracing::error!(job = %id, error = %err, "Cannot start a backup on a change.")
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            () = e.inner.stop.cancelled() => break,
        }
    }
}

/// Backs the job up for a burst that began at `since`: `Some(true)` when a backup was queued,
/// `Some(false)` when the burst came from a restore (dropped), `None` while a backup of the job
/// is pending or running.
async fn fire(
    e: &Engine,
    job: JobId,
    since: i64,
) -> Result<Option<bool>, bulwark_catalog::CatalogError> {
    let c = e.catalog();
    if c.active_backup(job).await?.is_some() {
        return Ok(None);
    }
    let Some(j) = c.get_job(job).await? else {
        return Ok(Some(false));
    };
    if c.restore_touched(j.target.uuid, since - 2).await? {
        tracing::info!(job = %job, "Files changed by a restore into the job's target; no backup.");
        return Ok(Some(false));
    }
    let task = c.request_backup(job, OWNER, e.now()).await?;
    tracing::info!(job = %job, task = ?task, "Files changed under the job's directory; backup queued.");
    e.wake();
    Ok(Some(true))
}

async fn reconcile(e: &Engine, watched: &mut HashMap<JobId, Watched>) {
    let jobs = match e
        .catalog()
        .list_jobs(&JobFilter {
            paused: Some(false),
            ..JobFilter::default()
        })
        .await
    {
        Ok(j) => j,
        Err(err) => {
            tracing::error!(error = %err, "Cannot read the jobs to watch.");
            return;
        }
    };
    let mut keep = Vec::new();
    for job in &jobs {
        let Some((dir, settle, min_interval)) = wanted(job) else {
            continue;
        };
        // Only the daemon's own host is watched.
        if !matches!(
            super::placement::place(e, &job.target).await,
            Ok(super::placement::Place::Here)
        ) {
            continue;
        }
        keep.push(job.uuid);
        if let Some(w) = watched.get_mut(&job.uuid)
            && w.dir == dir
        {
            w.settle = settle;
            w.min_interval = min_interval;
            continue;
        }
        match watch(e, &dir) {
            Ok((watcher, burst)) => {
                tracing::info!(job = %job.uuid, dir = %dir.display(), "Watching for changes.");
                watched.insert(
                    job.uuid,
                    Watched {
                        dir,
                        settle,
                        min_interval,
                        burst,
                        _watcher: watcher,
                    },
                );
            }
            Err(err) => {
                watched.remove(&job.uuid);
                tracing::warn!(job = %job.uuid, dir = %dir.display(), error = %err, "Cannot watch the job's directory; trying again later.");
            }
        }
    }
    watched.retain(|id, _| keep.contains(id));
}

#[cfg(test)]
mod tests {
    use super::temporary;
    use std::path::Path;

    #[test]
    fn editors_temporary_files_are_not_changes() {
        for t in [
            ".notes.txt.swp",
            "notes.txt~",
            ".#notes.txt",
            "#notes.txt#",
            "x.tmp",
            "4913",
        ] {
            assert!(temporary(Path::new("/srv/d").join(t).as_path()), "{t}");
        }
        for f in ["notes.txt", "db.sqlite", "swp", "a#b"] {
            assert!(!temporary(Path::new("/srv/d").join(f).as_path()), "{f}");
        }
    }
}
