//! Restore drills: a job's newest good archive restored into a scratch destination, checked by
//! the target plugin's `verify` (or, for a tree, compared byte by byte with the snapshot by the
//! repository plugin), timed (the RTO) and cleaned away.
//!
//! The scratch destination is the job's drill target (a throwaway database or server of the
//! job's plugin, which no job backs up), or, without one, a temporary directory under the
//! staging directory: an fs job restores into it, an sqlite job restores a database file in
//! it. Whatever happens, the scratch destination is emptied at the end (`wipe` of the scratch
//! target, removal of the directory); the job's own target is never touched.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bulwark_catalog::{Archive, ArchiveFormat, Drill, DrillOutcome, Job, Task};
use bulwark_core::state::{ArchiveStatus, TaskStatus};
use bulwark_plugin::Action;
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::{Failure, Limits, Role};
use bulwark_runner::single::run_logged;

use super::work::*;
use super::{Engine, Running};

/// How long cleaning the scratch destination may take.
const CLEANUP: Duration = Duration::from_secs(600);

/// Where a drill restores.
struct Scratch {
    /// The target plugin with the scratch endpoint.
    target: Resolved,
    /// For a tree archive: the directory it is restored into.
    dir: Option<String>,
    /// A directory the drill made, removed at the end.
    temp: Option<PathBuf>,
    /// "scratch target 'x' (postgres)", "a temporary directory".
    what: String,
}

/// What a drill came to.
struct Verdict {
    outcome: DrillOutcome,
    rto: Option<f64>,
    end: End,
}

/// The plugins whose data a drill can restore into a temporary directory.
pub(crate) const TEMPORARY_OK: &[&str] = &["fs", "sqlite"];

/// The scratch endpoint of a temporary drill: the job's own endpoint pointed into `dir`.
fn temporary_endpoint(plugin: &str, endpoint: &str, dir: &Path) -> Result<String, String> {
    let mut ep: serde_json::Map<String, serde_json::Value> = serde_json::from_str(endpoint)
        .map_err(|e| format!("the target's endpoint cannot be read: {e}"))?;
    match plugin {
        "fs" => {
            ep.insert("base_dir".into(), dir.to_string_lossy().into_owned().into());
            ep.remove("include");
            ep.remove("exclude");
        }
        "sqlite" => {
            let file = dir.join("drill.db");
            ep.insert("path".into(), file.to_string_lossy().into_owned().into());
        }
        other => {
            return Err(format!(
                "a drill of a {other} job needs a scratch target (drill_target): a throwaway {other} database or server it may overwrite"
            ));
        }
    }
    Ok(serde_json::Value::Object(ep).to_string())
}

async fn scratch(e: &Engine, task: &Task, job: &Job, archive: &Archive) -> Result<Scratch, String> {
    if let Some(id) = task.target {
        let t = e
            .catalog()
            .get_target(id)
            .await
            .map_err(|err| format!("the catalog: {err}"))?
            .ok_or("the drill's scratch target no longer exists")?;
        if let Some(other) = e
            .catalog()
            .job_backing_up(t.uuid, None)
            .await
            .map_err(|err| format!("the catalog: {err}"))?
        {
            return Err(format!(
                "target '{}' is backed up by job '{other}'; a drill never restores into it",
                t.name
            ));
        }
        let dir = if archive.format == ArchiveFormat::Tree {
            Some(tree_dir(&t).ok_or_else(|| {
                format!(
                    "archive {} is a directory tree; the scratch target '{}' must be an fs target with an absolute base_dir and no patterns",
                    archive.uuid, t.name
                )
            })?)
        } else if archive.plugin != t.plugin {
            return Err(format!(
                "archive {} was made by the '{}' plugin; the scratch target '{}' uses '{}'",
                archive.uuid, archive.plugin, t.name, t.plugin
            ));
        } else {
            None
        };
        let target = resolve(e, &t.plugin, &t.endpoint, Role::Target).await?;
        return Ok(Scratch {
            target,
            dir,
            temp: None,
            what: format!("scratch target '{}' ({})", t.name, t.plugin),
        });
    }
    let plugin = if archive.format == ArchiveFormat::Tree {
        "fs"
    } else {
        archive.plugin.as_str()
    };
    if !TEMPORARY_OK.contains(&plugin) {
        return Err(format!(
            "a drill of a {plugin} job needs a scratch target (drill_target): a throwaway {plugin} database or server it may overwrite"
        ));
    }
    let temp = e.config().staging_dir.join(format!("drill-{}", task.uuid));
    make_private_dir(&temp)
        .map_err(|err| format!("the directory {} cannot be made: {err}", temp.display()))?;
    let mut target = resolve(e, &job.target.plugin, &job.target.endpoint, Role::Target).await?;
    target.endpoint = temporary_endpoint(plugin, &target.endpoint, &temp)?;
    Ok(Scratch {
        target,
        dir: Some(temp.to_string_lossy().into_owned()),
        what: format!("a temporary directory ({})", temp.display()),
        temp: Some(temp),
    })
}

fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

pub(super) async fn drill(e: &Engine, task: &Task, run: &Running, log: &LogSink) -> Option<End> {
    let Some(job_id) = task.job else {
        return Some(End::failed("Failed: the task names no job."));
    };
    let job = match e.catalog().get_job(job_id).await {
        Ok(Some(j)) => j,
        Ok(None) => return Some(End::failed("Failed: its job no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    let archive = match task.archive {
        Some(a) => match e.catalog().get_archive(a).await {
            Ok(Some(a)) => a,
            Ok(None) => return Some(End::failed("Failed: the archive no longer exists.")),
            Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
        },
        None => return Some(End::failed("Failed: the task names no archive.")),
    };
    let verdict = if archive.status != ArchiveStatus::Valid {
        failed_verdict(
            None,
            format!(
                "the archive is {}; its data is no longer in the store",
                archive.status
            ),
        )
    } else {
        match scratch(e, task, &job, &archive).await {
            Ok(sc) => {
                say(
                    log,
                    format!(
                        "Drill of job '{}': restoring archive {} (taken {}) from store '{}' into {}, then verifying it.",
                        job.name,
                        archive.uuid,
                        bulwark_core::timefmt::format_epoch(archive.taken_at),
                        archive.store.name,
                        sc.what
                    ),
                );
                let v = restore_and_verify(e, task, &archive, &sc, run, log).await;
                clean(&sc, log).await;
                v
            }
            Err(m) => failed_verdict(None, m),
        }
    };
    if verdict.end.status != TaskStatus::Canceled && !e.stopping() {
        let record = Drill {
            task: task.uuid,
            job: Some(job.uuid),
            archive: Some(archive.uuid),
            outcome: verdict.outcome,
            rto: verdict.rto,
            detail: verdict.end.line.clone(),
            finished_at: e.now(),
        };
        if let Err(err) = e.catalog().record_drill(&record).await {
            tracing::error!(task = %task.uuid, error = %err, "Cannot record a drill.");
        }
    }
    Some(verdict.end)
}

fn failed_verdict(rto: Option<f64>, why: String) -> Verdict {
    Verdict {
        outcome: DrillOutcome::Failed,
        rto,
        end: End::failed(sentence(&format!("Failed: the drill failed: {why}"))),
    }
}

/// The end of a step that failed: canceled and stopped tasks end as such, the rest fail the
/// drill.
fn step_failed(e: &Engine, rto: Option<f64>, what: &str, failure: &Failure) -> Verdict {
    match failure {
        Failure::Canceled => Verdict {
            outcome: DrillOutcome::Failed,
            rto,
            end: pipeline_end(e, failure),
        },
        other => failed_verdict(rto, format!("{what}: {}", other.said_or_brief())),
    }
}

async fn restore_and_verify(
    e: &Engine,
    task: &Task,
    archive: &Archive,
    sc: &Scratch,
    run: &Running,
    log: &LogSink,
) -> Verdict {
    let store = match resolve_store(e, &archive.store).await {
        Ok(s) => s,
        Err(m) => return failed_verdict(None, m),
    };
    let limits = limits(e, run);
    let clock = Instant::now();
    let key = archive.store_key.as_str();
    let verified = if let Some(dir) = sc
        .dir
        .as_deref()
        .filter(|_| archive.format == ArchiveFormat::Tree)
    {
        let restore = ["restore-tree", "--key", key, "--dir", dir];
        if let Err(f) = run_logged(store.single(Role::Store, &restore), &limits, log).await {
            return step_failed(e, None, "the restore failed", &f);
        }
        let rto = clock.elapsed().as_secs_f64();
        say(
            log,
            format!("Restored in {rto:.3}s; comparing every file with the snapshot."),
        );
        let verify = ["verify-tree", "--key", key, "--dir", dir];
        (
            rto,
            run_logged(store.single(Role::Store, &verify), &limits, log)
                .await
                .map(|_| ()),
        )
    } else {
        let mut s = store;
        if archive.format != ArchiveFormat::Sealed {
            s.key = None;
        } else if s.key.is_none() {
            return failed_verdict(
                None,
                "the archive is sealed but its store has no stream key".into(),
            );
        }
        match stream_steps(e, task, &s, sc, key, &limits, clock, log).await {
            Ok(pair) => pair,
            Err(v) => return v,
        }
    };
    let (rto, check) = verified;
    match check {
        Ok(()) => Verdict {
            outcome: DrillOutcome::Passed,
            rto: Some(rto),
            end: End {
                status: TaskStatus::Done,
                line: format!(
                    "Done: the drill passed: archive {} restored into {} in {rto:.3}s (RTO) and verified.",
                    archive.uuid, sc.what
                ),
            },
        },
        Err(f) if f.unsupported() => Verdict {
            outcome: DrillOutcome::Unverified,
            rto: Some(rto),
            end: End {
                status: TaskStatus::Done,
                line: format!(
                    "Done: archive {} restored into {} in {rto:.3}s (RTO); the {} plugin cannot verify restored data, so the drill proves the restore only.",
                    archive.uuid,
                    sc.what,
                    sc.target.command.name()
                ),
            },
        },
        Err(f) => step_failed(e, Some(rto), "the restored data did not verify", &f),
    }
}

/// A stream archive: retrieved whole into a staging file, restored from it, then verified from
/// it. Returns the RTO and the verify's result.
#[allow(clippy::too_many_arguments)]
async fn stream_steps(
    e: &Engine,
    task: &Task,
    s: &Resolved,
    sc: &Scratch,
    key: &str,
    limits: &Limits,
    clock: Instant,
    log: &LogSink,
) -> Result<(f64, Result<(), Failure>), Verdict> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = e.config().staging_dir.join(format!("{}.drill", task.uuid));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|err| {
            failed_verdict(
                None,
                format!("the staging file {} cannot be made: {err}", path.display()),
            )
        })?;
    let result = async {
        bulwark_runner::staged::retrieve_to(s.side(), key, file, false, limits, log)
            .await
            .map_err(|err| {
                step_failed(e, None, "the archive could not be retrieved", &err.failure)
            })?;
        let open = || {
            std::fs::File::open(&path).map_err(|err| {
                failed_verdict(None, format!("the staging file cannot be read: {err}"))
            })
        };
        bulwark_runner::staged::feed(open()?, sc.target.side(), limits, log)
            .await
            .map_err(|err| step_failed(e, None, "the restore failed", &err.failure))?;
        let rto = clock.elapsed().as_secs_f64();
        say(
            log,
            format!("Restored in {rto:.3}s; verifying the restored data."),
        );
        let check =
            bulwark_runner::staged::feed_to(open()?, sc.target.side(), Action::Verify, limits, log)
                .await
                .map(|_| ())
                .map_err(|err| err.failure);
        Ok((rto, check))
    }
    .await;
    let _ = std::fs::remove_file(&path);
    result
}

/// Empties the scratch destination, whatever the drill came to.
async fn clean(sc: &Scratch, log: &LogSink) {
    let limits = Limits {
        timeout: CLEANUP,
        cancel: tokio_util::sync::CancellationToken::new(),
        progress: Default::default(),
    };
    if let Some(temp) = &sc.temp {
        match std::fs::remove_dir_all(temp) {
            Ok(()) => say(
                log,
                format!("Removed the temporary directory {}.", temp.display()),
            ),
            Err(err) => say(
                log,
                format!(
                    "Could not remove the temporary directory {}: {err}",
                    temp.display()
                ),
            ),
        }
        return;
    }
    match run_logged(sc.target.single(Role::Target, &["wipe"]), &limits, log).await {
        Ok(_) => say(log, format!("Wiped {}.", sc.what)),
        Err(f) if f.unsupported() => say(
            log,
            format!(
                "The {} plugin cannot wipe; {} keeps the restored data.",
                sc.target.command.name(),
                sc.what
            ),
        ),
        Err(f) => say(
            log,
            format!("Could not wipe {}: {}", sc.what, f.said_or_brief()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_drill_points_the_job_endpoint_into_its_directory() {
        let dir = Path::new("/var/lib/bulwark/staging/drill-1");
        let ep = temporary_endpoint("fs", r#"{"base_dir":"/srv/data","exclude":["*.tmp"]}"#, dir)
            .unwrap_or_default();
        assert_eq!(ep, r#"{"base_dir":"/var/lib/bulwark/staging/drill-1"}"#);
        let ep = temporary_endpoint("sqlite", r#"{"path":"/srv/app.db"}"#, dir).unwrap_or_default();
        assert!(ep.contains("drill-1/drill.db"), "{ep}");
        let err = temporary_endpoint("postgres", "{}", dir).unwrap_err();
        assert!(err.contains("needs a scratch target"), "{err}");
    }
}
