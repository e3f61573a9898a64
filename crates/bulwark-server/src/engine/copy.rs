//! Copies: a job's new archive taken into each further store the job names, as an archive of
//! its own there that knows its origin.
//!
//! - Repository to repository: the repository plugin copies the snapshot itself (only the
//!   blobs the destination lacks, re-encrypted with its keys), tree or stream alike.
//! - Otherwise the archive's stream goes from the source's `retrieve` to the destination's
//!   `store`: a sealed blob is opened with the source's key and sealed again with the
//!   destination's (the compressed frame inside passes untouched); a stream into a repository
//!   becomes a stream snapshot there.
//!
//! A failed copy leaves nothing in the destination (its upload is abandoned, as a backup's is)
//! and never touches the origin. It is tried again after the copy's `retry_delay`, twice as
//! long each time, `retries` times; only when no retry follows is `copy_failed` announced.
//! Copies run on the daemon's host, so both stores must be reachable from there.

use bulwark_catalog::{Archive, ArchiveFormat, JobCopy, NewArchive, Task};
use bulwark_core::ids::ArchiveId;
use bulwark_core::state::{ArchiveStatus, TaskStatus};
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::{self, Failure, Limits, Role, Side};
use bulwark_runner::single::{Single, run_logged};

use super::work::{
    End, Resolved, cleanup_backup, limits, pipeline_end, rate, resolve_store, say, sentence,
    snapshot_filename,
};
use super::{Engine, Running};
use crate::store_keys::is_repository;

/// The archive to copy, where to, and the copy's settings, or why the task cannot run.
struct Plan {
    origin: Archive,
    dest: bulwark_catalog::Store,
    job: bulwark_catalog::Job,
    copy: JobCopy,
}

async fn plan(e: &Engine, task: &Task) -> Result<Plan, End> {
    let fail = |m: &str| End::failed(sentence(&format!("Failed: {m}")));
    let (Some(origin), Some(dest), Some(job)) = (task.archive, task.store, task.job) else {
        return Err(fail("the task names no archive, store or job"));
    };
    let catalog = |err: bulwark_catalog::CatalogError| fail(&format!("the catalog: {err}"));
    let origin = e
        .catalog()
        .get_archive(origin)
        .await
        .map_err(catalog)?
        .ok_or_else(|| fail(&format!("archive {origin} no longer exists")))?;
    if origin.status != ArchiveStatus::Valid {
        return Err(fail(&format!(
            "archive {} is {}; its data is no longer there to copy",
            origin.uuid, origin.status
        )));
    }
    let job = e
        .catalog()
        .get_job(job)
        .await
        .map_err(catalog)?
        .ok_or_else(|| fail("its job no longer exists"))?;
    let copy = job
        .copies
        .iter()
        .find(|c| c.store.uuid == dest)
        .cloned()
        .ok_or_else(|| {
            fail(&format!(
                "job '{}' no longer copies into store {dest}",
                job.name
            ))
        })?;
    Ok(Plan {
        origin,
        dest: copy.store.clone(),
        job,
        copy,
    })
}

/// Runs a copy task; `None` when the copy is recorded (with the task's end).
pub(super) async fn copy(e: &Engine, task: &Task, run: &Running, log: &LogSink) -> Option<End> {
    let p = match plan(e, task).await {
        Ok(p) => p,
        Err(end) => return Some(end),
    };
    let (origin, dest) = (&p.origin, &p.dest);
    say(
        log,
        format!(
            "Copying archive {} ({}, {} bytes, taken from target '{}') from store '{}' ({}) into store '{}' ({}).",
            origin.uuid,
            origin.format.as_str(),
            origin.size,
            origin.target.name,
            origin.store.name,
            origin.store.plugin,
            dest.name,
            dest.plugin
        ),
    );
    let failed = |m: String| Some(End::failed(sentence(&format!("Failed: {m}"))));
    let src = match resolve_store(e, &origin.store).await {
        Ok(s) => s,
        Err(m) => return failed(m),
    };
    let mut dst = match resolve_store(e, dest).await {
        Ok(s) => s,
        Err(m) => return failed(m),
    };
    let upload = task.uuid.to_string();
    let made = ArchiveId::new_random();
    let tags = format!(
        "job={},target={},archive={made}",
        p.job.uuid, origin.target.uuid
    );
    let bandwidth = p.job.bandwidth.and_then(|b| u64::try_from(b).ok());
    let paced = Limits {
        bandwidth,
        ..limits(e, run)
    };
    let clock = std::time::Instant::now();
    let (src_repo, dst_repo) = (
        is_repository(&origin.store.plugin),
        is_repository(&dest.plugin),
    );
    let format = match (src_repo, dst_repo) {
        (_, true) if origin.format == ArchiveFormat::Tree => ArchiveFormat::Tree,
        (_, true) => ArchiveFormat::Stream,
        (_, false) if origin.format == ArchiveFormat::Tree => {
            return failed(format!(
                "archive {} is a directory tree snapshot, which only another repository store can take, and store '{}' is a {} store",
                origin.uuid, dest.name, dest.plugin
            ));
        }
        (_, false) if dst.key.is_some() => ArchiveFormat::Sealed,
        (_, false) => ArchiveFormat::Raw,
    };
    let result = if src_repo && dst_repo {
        say(
            log,
            "Both are repositories: only the blobs the destination lacks are sent.",
        );
        repo_copy(
            &src,
            &dst,
            &origin.store_key,
            &tags,
            &upload,
            bandwidth,
            &paced,
            log,
        )
        .await
    } else {
        if dst_repo {
            for (k, v) in [
                (
                    bulwark_repo::cli::FILENAME_ENV,
                    snapshot_filename(&origin.target.name),
                ),
                (bulwark_repo::cli::TAGS_ENV, tags.clone()),
            ] {
                dst.env.push((k.to_string(), v));
            }
        }
        let key = match origin.format {
            ArchiveFormat::Sealed => match src.key.as_ref() {
                Some(k) => Some(k),
                None => {
                    return failed(format!(
                        "archive {} is sealed and store '{}' has no key to open it",
                        origin.uuid, origin.store.name
                    ));
                }
            },
            _ => None,
        };
        let source = Side { key, ..src.side() };
        pipeline::copy(source, &origin.store_key, dst.side(), &upload, &paced, log).await
    };
    match result {
        Ok(done) => {
            let added = done.stored.added.or(done.stored.archive_size);
            let taken_at = origin.taken_at;
            let archive = NewArchive {
                uuid: Some(made),
                format,
                added: added.map(|a| i64::try_from(a).unwrap_or(i64::MAX)),
                target: origin.target.uuid,
                store: dest.uuid,
                store_key: done.stored.key.clone(),
                taken_at,
                expires_at: taken_at.saturating_add(p.copy.retention.rules.expires.unwrap_or(0)),
                job: Some(p.job.uuid),
                notes: String::new(),
                size: origin.size,
                origin: Some(origin.uuid),
            };
            let added = match added {
                Some(a) => format!(" ({a} bytes added to the store)"),
                None => String::new(),
            };
            let line = format!(
                "Done: copied archive {} into store '{}' as archive {made} under key {}{added} {}; kept by retention policy '{}' ({}).",
                origin.uuid,
                dest.name,
                done.stored.key,
                rate(done.bytes, clock.elapsed()),
                p.copy.retention.name,
                p.copy.retention.rules.describe()
            );
            match e
                .catalog()
                .complete_copy(task.uuid, &archive, &line, e.now())
                .await
            {
                Ok(_) => {
                    tracing::info!(task = %task.uuid, archive = %made, origin = %origin.uuid, "Copy done.");
                    None
                }
                Err(err) => {
                    say(log, format!("Recording the copy failed: {err}"));
                    cleanup_backup(dst.side(), Some(&done.stored.key), &upload, log).await;
                    failed(format!("the copy could not be recorded: {err}"))
                }
            }
        }
        Err(err) => {
            let key = err.stored.as_ref().map(|o| o.key.as_str());
            cleanup_backup(dst.side(), key, &upload, log).await;
            say(
                log,
                format!(
                    "Archive {} in store '{}' is untouched.",
                    origin.uuid, origin.store.name
                ),
            );
            Some(pipeline_end(e, &err.failure))
        }
    }
}

/// Copies a snapshot between two repository stores through the source's plugin.
#[allow(clippy::too_many_arguments)]
async fn repo_copy(
    src: &Resolved,
    dst: &Resolved,
    key: &str,
    tags: &str,
    upload: &str,
    bandwidth: Option<u64>,
    limits: &Limits,
    log: &LogSink,
) -> Result<pipeline::Backup, pipeline::PipelineError> {
    use bulwark_repo::cli::{BANDWIDTH_ENV, PASSWORD_ENV, TAGS_ENV};
    use bulwark_repo::copy::{DEST_ENDPOINT_ENV, DEST_PASSWORD_ENV};
    let fail = |reason: String| pipeline::PipelineError {
        failure: Failure::Plugin {
            role: Role::Store,
            name: src.command.name().to_string(),
            reason,
            said: String::new(),
        },
        stored: None,
    };
    let password = dst
        .env
        .iter()
        .find(|(k, _)| k == PASSWORD_ENV)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| fail("the destination store has no repository password".into()))?;
    let mut env = src.env.clone();
    env.extend([
        (DEST_ENDPOINT_ENV.to_string(), dst.endpoint.clone()),
        (DEST_PASSWORD_ENV.to_string(), password),
        (TAGS_ENV.to_string(), tags.to_string()),
        (bulwark_plugin::UPLOAD_ENV.to_string(), upload.to_string()),
    ]);
    if let Some(b) = bandwidth {
        env.push((BANDWIDTH_ENV.to_string(), b.to_string()));
    }
    let mut secrets = src.secrets.clone();
    secrets.extend(dst.secrets.iter().cloned());
    let args = ["copy", "--key", key];
    let call = Single {
        env: &env,
        secrets: &secrets,
        ..src.single(Role::Store, &args)
    };
    let out = run_logged(call, limits, log)
        .await
        .map_err(|failure| pipeline::PipelineError {
            failure,
            stored: None,
        })?;
    let stored = bulwark_plugin::StoreOutput::parse(&out).map_err(fail)?;
    Ok(pipeline::Backup {
        bytes: stored.archive_size.unwrap_or(0),
        stored,
    })
}

/// After a copy ended unsuccessfully: queues the next try when the copy wants one. Returns the
/// sentence that says so, for the end of the task's log.
pub(super) async fn after_failure(e: &Engine, task: &Task, status: TaskStatus) -> Option<String> {
    if status != TaskStatus::Failed {
        return None;
    }
    let job = e.catalog().get_job(task.job?).await.ok()??;
    let copy = job
        .copies
        .iter()
        .find(|c| Some(c.store.uuid) == task.store)?;
    let origin = e.catalog().get_archive(task.archive?).await.ok()??;
    if origin.status != ArchiveStatus::Valid || task.attempt >= copy.retries {
        return None;
    }
    let wait = super::retries::delay(copy.retry_delay, task.attempt);
    let now = e.now();
    match e.catalog().retry_copy(task, now + wait, now).await {
        Ok(Some(id)) => {
            tracing::info!(task = %task.uuid, retry = %id, wait, "Copy retry queued.");
            Some(format!(
                "Retry {} of {} in {wait}s.",
                task.attempt + 1,
                copy.retries
            ))
        }
        Ok(None) => None,
        Err(err) => {
            tracing::error!(task = %task.uuid, error = %err, "Cannot queue a copy's retry.");
            None
        }
    }
}
