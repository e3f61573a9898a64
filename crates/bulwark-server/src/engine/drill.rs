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

use bulwark_catalog::{Archive, ArchiveFormat, Drill, DrillOutcome, Job, Target, Task};
use bulwark_core::state::{ArchiveStatus, TaskStatus};
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::{Failure, Role};

use crate::drill_run::{Checked, DrillRun, StepFailed};

use super::work::*;
use super::{Engine, Running};

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

/// The drill's scratch target, when it names one.
async fn scratch_target(e: &Engine, task: &Task) -> Result<Option<Target>, String> {
    let Some(id) = task.target else {
        return Ok(None);
    };
    e.catalog()
        .get_target(id)
        .await
        .map_err(|err| format!("the catalog: {err}"))?
        .ok_or_else(|| "the drill's scratch target no longer exists".to_string())
        .map(Some)
}

/// The scratch target and its agent, when the scratch target is reached through one.
async fn on_agent(
    e: &Engine,
    task: &Task,
    archive: &Archive,
) -> Result<Option<(Target, Box<bulwark_catalog::Agent>)>, String> {
    let Some(t) = scratch_target(e, task).await? else {
        return Ok(None);
    };
    match super::placement::place(e, &t).await {
        Ok(super::placement::Place::Here) => Ok(None),
        Ok(super::placement::Place::Agent(a)) => {
            usable(e, &t, archive).await?;
            Ok(Some((t, a)))
        }
        Err(line) => Err(line
            .trim_start_matches("Failed: ")
            .trim_end_matches('.')
            .to_string()),
    }
}

/// A drill whose scratch target is on an agent: the agent restores, verifies and wipes.
#[allow(clippy::too_many_arguments)]
async fn remote_drill(
    e: &Engine,
    task: &Task,
    run: &Running,
    log: &LogSink,
    job: &Job,
    archive: &Archive,
    t: &Target,
    agent: &bulwark_catalog::Agent,
) -> Verdict {
    let what = format!(
        "scratch target '{}' ({}) on agent '{}'",
        t.name, t.plugin, agent.name
    );
    say(
        log,
        format!(
            "Drill of job '{}': restoring archive {} (taken {}) from store '{}' into {what}, then verifying it.",
            job.name,
            archive.uuid,
            bulwark_core::timefmt::format_epoch(archive.taken_at),
            archive.store.name,
        ),
    );
    match super::remote::drill(e, task, run, log, archive, t, agent).await {
        Ok(crate::agent_host::wire::Event::Drilled { rto, check, reason }) => {
            match (check.as_str(), reason) {
                ("passed", _) => verdict(e, archive, &what, &t.plugin, rto, Checked::Passed),
                ("unsupported", _) => {
                    verdict(e, archive, &what, &t.plugin, rto, Checked::Unsupported)
                }
                (_, reason) => failed_verdict(
                    Some(rto),
                    format!(
                        "the restored data did not verify: {}",
                        reason.unwrap_or_default()
                    ),
                ),
            }
        }
        Ok(other) => failed_verdict(None, format!("agent '{}' ended with {other:?}", agent.name)),
        Err(end) => {
            let end = end.unwrap_or_else(|| End::failed("Failed: the drill failed."));
            Verdict {
                outcome: DrillOutcome::Failed,
                rto: None,
                end,
            }
        }
    }
}

/// Whether `t` may take the archive as a drill's scratch target: no job backs it up, and it
/// can hold the archive. Returns the directory a tree goes into.
async fn usable(e: &Engine, t: &Target, archive: &Archive) -> Result<Option<String>, String> {
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
    if archive.format == ArchiveFormat::Tree {
        tree_dir(t).map(Some).ok_or_else(|| {
            format!(
                "archive {} is a directory tree; the scratch target '{}' must be an fs target with an absolute base_dir and no patterns",
                archive.uuid, t.name
            )
        })
    } else if archive.plugin != t.plugin {
        Err(format!(
            "archive {} was made by the '{}' plugin; the scratch target '{}' uses '{}'",
            archive.uuid, archive.plugin, t.name, t.plugin
        ))
    } else {
        Ok(None)
    }
}

async fn scratch(e: &Engine, task: &Task, job: &Job, archive: &Archive) -> Result<Scratch, String> {
    if let Some(t) = scratch_target(e, task).await? {
        let dir = usable(e, &t, archive).await?;
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
        match on_agent(e, task, &archive).await {
            Ok(Some((t, agent))) => {
                remote_drill(e, task, run, log, &job, &archive, &t, &agent).await
            }
            Err(m) => failed_verdict(None, m),
            Ok(None) => match scratch(e, task, &job, &archive).await {
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
            },
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
    let mut store = match resolve_store(e, &archive.store).await {
        Ok(s) => s,
        Err(m) => return failed_verdict(None, m),
    };
    if archive.format != ArchiveFormat::Sealed {
        store.key = None;
    } else if store.key.is_none() {
        return failed_verdict(
            None,
            "the archive is sealed but its store has no stream key".into(),
        );
    }
    let limits = limits(e, run);
    let r = DrillRun {
        key: &archive.store_key,
        format: archive.format,
        dir: sc.dir.as_deref(),
        staging: e.config().staging_dir.join(format!("{}.drill", task.uuid)),
        limits: &limits,
        log,
    };
    match crate::drill_run::restore_and_check(&store, &sc.target, &r).await {
        Ok((rto, check)) => verdict(e, archive, &sc.what, sc.target.command.name(), rto, check),
        Err(StepFailed { what, failure }) => step_failed(e, None, what, &failure),
    }
}

/// What a drill that restored in `rto` seconds came to.
fn verdict(
    e: &Engine,
    archive: &Archive,
    what: &str,
    plugin: &str,
    rto: f64,
    check: Checked,
) -> Verdict {
    match check {
        Checked::Passed => Verdict {
            outcome: DrillOutcome::Passed,
            rto: Some(rto),
            end: End {
                status: TaskStatus::Done,
                line: format!(
                    "Done: the drill passed: archive {} restored into {what} in {rto:.3}s (RTO) and verified.",
                    archive.uuid
                ),
            },
        },
        Checked::Unsupported => Verdict {
            outcome: DrillOutcome::Unverified,
            rto: Some(rto),
            end: End {
                status: TaskStatus::Done,
                line: format!(
                    "Done: archive {} restored into {what} in {rto:.3}s (RTO); the {plugin} plugin cannot verify restored data, so the drill proves the restore only.",
                    archive.uuid
                ),
            },
        },
        Checked::Failed(f) => step_failed(e, Some(rto), "the restored data did not verify", &f),
    }
}

/// Empties the scratch destination, whatever the drill came to.
async fn clean(sc: &Scratch, log: &LogSink) {
    let Some(temp) = &sc.temp else {
        return crate::drill_run::wipe(&sc.target, &sc.what, log).await;
    };
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
