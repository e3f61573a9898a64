//! Restores and purges: an archive's data back into a target, or out of its store.

use bulwark_catalog::{ArchiveFormat, Task};
use bulwark_core::state::{ArchiveStatus, TaskStatus};
use bulwark_plugin::Action;
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::{self, Role};
use bulwark_runner::single::run_logged;

use super::work::*;

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
    if opts.to_dir.is_none()
        && let Err(line) = super::placement::on_this_host(e, &target).await
    {
        return Some(End::failed(line));
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
    let result = if archive.format == ArchiveFormat::Tree {
        let dir = match (&opts.to_dir, tree_dir(&target)) {
            (Some(d), _) => d.clone(),
            (None, Some(d)) => d,
            (None, None) => {
                return Some(End::failed(format!(
                    "Failed: archive {} is a directory tree; it can only be restored into an fs target without include or exclude patterns.",
                    archive.uuid
                )));
            }
        };
        say(log, format!("Restoring the tree into {dir}."));
        let mut args = vec!["restore-tree", "--key", &archive.store_key, "--dir", &dir];
        for p in &opts.paths {
            args.extend(["--path", p.as_str()]);
        }
        match run_logged(s.single(Role::Store, &args), &limits(e, run), log).await {
            Ok(out) => Ok(serde_json::from_slice::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v["bytes"].as_u64())
                .unwrap_or(0)),
            Err(failure) => Err(pipeline::PipelineError {
                failure,
                stored: None,
            }),
        }
    } else {
        let name = snapshot_filename(&archive.target.name);
        staged_restore(
            e,
            task,
            &s,
            t.as_ref(),
            &archive.store_key,
            opts.to_dir.as_deref().map(|d| (d, name.as_str())),
            run,
            log,
        )
        .await
    };
    Some(match result {
        Ok(bytes) => End {
            status: TaskStatus::Done,
            line: format!(
                "Done: restored {bytes} bytes into {into} {}.",
                rate(bytes, clock.elapsed())
            ),
        },
        Err(err) => pipeline_end(e, &err.failure),
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

/// A stream restore in two steps (see [`bulwark_runner::staged`]): the archive is retrieved
/// whole into the staging directory, checked on the way; only then does the target get it.
/// With `to_file` (a directory and a name) the stream lands there instead of in a target.
#[allow(clippy::too_many_arguments)]
async fn staged_restore(
    e: &Engine,
    task: &Task,
    s: &Resolved,
    t: Option<&Resolved>,
    key: &str,
    to_file: Option<(&str, &str)>,
    run: &Running,
    log: &LogSink,
) -> Result<u64, pipeline::PipelineError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = e
        .config()
        .staging_dir
        .join(format!("{}.restore", task.uuid));
    let internal = |m: String| pipeline::PipelineError {
        failure: pipeline::Failure::Plugin {
            role: Role::Store,
            name: "staging".into(),
            reason: m,
            said: String::new(),
        },
        stored: None,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|err| {
            internal(format!(
                "the staging file {} cannot be made: {err}",
                path.display()
            ))
        })?;
    say(
        log,
        "Retrieving the whole archive first; the target is not touched until all of it has come out of the store intact.",
    );
    let limits = limits(e, run);
    let result = match bulwark_runner::staged::retrieve_to(
        s.side(),
        key,
        file,
        to_file.is_some(),
        &limits,
        log,
    )
    .await
    {
        Ok(n) => match (to_file, t) {
            (Some((dir, name)), _) => {
                let done = std::path::Path::new(dir).join(name);
                std::fs::rename(&path, &done)
                    .map(|()| n)
                    .map_err(|err| internal(format!("{} cannot be made: {err}", done.display())))
            }
            (None, Some(t)) => {
                say(
                    log,
                    format!("Retrieved {n} bytes intact; now restoring them into the target."),
                );
                match std::fs::File::open(&path) {
                    Ok(f) => bulwark_runner::staged::feed(f, t.side(), &limits, log).await,
                    Err(err) => Err(internal(format!("the staging file cannot be read: {err}"))),
                }
            }
            (None, None) => Err(internal("no target to restore into".into())),
        },
        Err(err) => {
            say(log, "The target was not touched.");
            Err(err)
        }
    };
    let _ = std::fs::remove_file(&path);
    result
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
