//! Restores and purges: an archive's data back into a target, or out of its store.

use bulwark_api::StepWhen;
use bulwark_catalog::{ArchiveFormat, Task};
use bulwark_core::state::{ArchiveStatus, TaskStatus};
use bulwark_plugin::Action;
use bulwark_runner::LogSink;

use super::work::*;
use crate::restore_run::{Outcome::*, RestoreRun, execute};

use super::{Engine, Running};

/// What a restore task is asked, beyond its archive and target (the task's `options`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RestoreOptions {
    /// Only these paths (tree archives).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// A directory on the daemon's host instead of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_dir: Option<String>,
}

impl RestoreOptions {
    /// As the task stores it: empty when there is nothing to say.
    pub fn to_task(&self) -> String {
        if *self == RestoreOptions::default() {
            String::new()
        } else {
            serde_json::to_string(self).unwrap_or_default()
        }
    }

    /// From a task's `options`.
    pub fn from_task(text: &str) -> RestoreOptions {
        serde_json::from_str(text).unwrap_or_default()
    }
}

pub(super) async fn restore(e: &Engine, task: &Task, run: &Running, log: &LogSink) -> Option<End> {
    let (Some(archive_id), Some(target_id)) = (task.archive, task.target) else {
        return Some(End::failed("Failed: the task names no archive or target."));
    };
    let opts = RestoreOptions::from_task(&task.options);
    let archive = match e.catalog().get_archive(archive_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Some(End::failed("Failed: the archive no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    if archive.status != ArchiveStatus::Valid {
        return Some(End::failed(format!(
            "Failed: the archive is {}; its data is no longer in the store.",
            archive.status
        )));
    }
    let target = match e.catalog().get_target(target_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Some(End::failed("Failed: the target no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    if opts.to_dir.is_none() {
        match super::placement::place(e, &target).await {
            Ok(super::placement::Place::Here) => {}
            Ok(super::placement::Place::Agent(agent)) => {
                return super::remote::restore(e, task, run, log, &archive, &target, &opts, &agent)
                    .await;
            }
            Err(line) => return Some(End::failed(line)),
        }
    }
    let store = &archive.store;
    let into = match &opts.to_dir {
        Some(d) => format!("directory {d}"),
        None => format!("target '{}' ({})", target.name, target.plugin),
    };
    let only = if opts.paths.is_empty() {
        String::new()
    } else {
        format!(", only {}", opts.paths.join(", "))
    };
    say(
        log,
        format!(
            "Restoring archive {} (key {}) from store '{}' ({}) into {into}{only}.",
            archive.uuid, archive.store_key, store.name, store.plugin
        ),
    );
    let (t, mut s) = if opts.to_dir.is_some() {
        match resolve_store(e, store).await {
            Ok(s) => (None, s),
            Err(m) => return Some(End::failed(sentence(&format!("Failed: {m}")))),
        }
    } else {
        match resolve_pair(e, &target, store).await {
            Ok((t, s)) => (Some(t), s),
            Err(end) => return Some(end),
        }
    };
    if archive.format == ArchiveFormat::Sealed && s.key.is_none() {
        return Some(End::failed(
            "Failed: the archive is sealed but its store has no stream key.",
        ));
    }
    if archive.format != ArchiveFormat::Sealed {
        // A stream kept as the target wrote it is handed back as it is.
        s.key = None;
    }
    if let Some(d) = &opts.to_dir
        && let Err(err) = make_dir(d)
    {
        return Some(End::failed(format!(
            "Failed: the directory {d} cannot be made: {err}."
        )));
    }
    let clock = std::time::Instant::now();
    let name = snapshot_filename(&archive.target.name);
    let job = RestoreRun {
        key: &archive.store_key,
        format: archive.format,
        dir: opts.to_dir.clone().or_else(|| tree_dir(&target)),
        paths: &opts.paths,
        to_file: opts.to_dir.as_deref().map(|d| (d, name.as_str())),
        staging: e
            .config()
            .staging_dir
            .join(format!("{}.restore", task.uuid)),
        limits: limits(e, run),
        log,
    };
    // The steps of the job that backs up this very target, around a restore into it.
    let owner = match (&t, archive.job) {
        (Some(_), Some(j)) => e
            .catalog()
            .get_job(j)
            .await
            .ok()
            .flatten()
            .filter(|j| j.target.uuid == target.uuid),
        _ => None,
    };
    let steps = owner.as_ref().map(crate::steps::of).unwrap_or_default();
    let step_env = match (&owner, &t) {
        (Some(o), Some(t)) => Some(crate::steps::StepEnv {
            vars: super::hooks::vars(o, task, Some(archive.uuid)),
            target: t,
        }),
        _ => None,
    };
    let mut outcome = crate::steps::Outcome::default();
    if let Some(env) = &step_env {
        match super::hooks::before(e, &steps, StepWhen::BeforeRestore, env, run, log).await {
            Ok(o) => outcome = o,
            Err(end) => return Some(end),
        }
    }
    let result = match execute(&s, t.as_ref(), &job).await {
        Ok(n) => Ok(n),
        Err(Refused(line)) => Err(Err(line)),
        Err(Broke(err)) => Err(Ok(err)),
    };
    if let Some(env) = &step_env {
        let status = match &result {
            Err(Ok(err)) => crate::steps::status_of(Some(&err.failure)),
            Err(Err(_)) => "failed",
            Ok(_) => "ok",
        };
        let after =
            super::hooks::after(&steps, StepWhen::AfterRestore, status, env, run, log).await;
        outcome = outcome.and(after);
    }
    Some(match result {
        Ok(bytes) => {
            let done = format!(
                "restored {bytes} bytes into {into} {}",
                rate(bytes, clock.elapsed())
            );
            match outcome.failure() {
                None => End {
                    status: TaskStatus::Done,
                    line: format!("Done: {done}."),
                },
                Some(why) => End::failed(sentence(&format!(
                    "Failed: {why}; the restore itself worked: {done}"
                ))),
            }
        }
        Err(Err(line)) => End::failed(line),
        Err(Ok(err)) => pipeline_end(e, &err.failure),
    })
}

/// Makes a directory to restore into (only its owner may read it).
fn make_dir(dir: &str) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Empties the staging directory (what a stopped daemon left), making it if missing.
pub(super) fn prepare_staging(dir: &std::path::Path) {
    use std::os::unix::fs::DirBuilderExt;
    let _ = std::fs::remove_dir_all(dir);
    if let Err(err) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        tracing::error!(dir = %dir.display(), error = %err, "Cannot make the restore staging directory; restores of streams will fail.");
    }
}

pub(super) async fn purge(e: &Engine, task: &Task, log: &LogSink) -> Option<End> {
    let Some(archive_id) = task.archive else {
        return Some(End::failed("Failed: the task names no archive."));
    };
    let archive = match e.catalog().get_archive(archive_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return Some(End::failed("Failed: the archive no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    if archive.status == ArchiveStatus::Purged {
        return Some(End {
            status: TaskStatus::Done,
            line: "The archive was already purged.".into(),
        });
    }
    let store = &archive.store;
    say(
        log,
        format!(
            "Purging archive {} (key {}) from store '{}' ({}).",
            archive.uuid, archive.store_key, store.name, store.plugin
        ),
    );
    let retry = format!(
        "; the archive stays 'purging' and the purge is tried again in {}s",
        e.config().purge_retry.as_secs()
    );
    let s = match resolve_store(e, store).await {
        Ok(r) => r,
        Err(m) => return Some(End::failed(sentence(&format!("Failed: {m}{retry}")))),
    };
    match store_call(s.side(), Action::Purge, &archive.store_key).await {
        Ok(()) => {
            let line = "Done: the archive's data was removed from the store.";
            if let Err(err) = e
                .catalog()
                .complete_purge(task.uuid, archive.uuid, line, e.now())
                .await
            {
                return Some(End::failed(format!("Failed: the catalog: {err}")));
            }
            None
        }
        Err(m) => Some(End::failed(sentence(&format!("Failed: {m}{retry}")))),
    }
}
