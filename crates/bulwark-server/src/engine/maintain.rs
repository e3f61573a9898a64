//! Maintenance tasks of stores: `check` verifies a repository (and reads back part of its data
//! when asked) or reads a plugin store's archives back (see `check_blobs`), `prune` removes data
//! no archive uses from a repository. The catalog's claim
//! query runs them only when no backup or restore of the store is running.

use bulwark_catalog::Task;
use bulwark_core::state::{TaskOp, TaskStatus};
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::Role;
use bulwark_runner::single::run_logged;

use super::work::{End, limits, pipeline_end, resolve_store, say};
use super::{Engine, Running};
use crate::store_keys::is_repository;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

pub(super) async fn run(e: &Engine, task: &Task, run: &Running, log: &LogSink) -> Option<End> {
    let Some(store_id) = task.store else {
        return Some(End::failed("Failed: the task names no store."));
    };
    let store = match e.catalog().get_store(store_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Some(End::failed("Failed: the store no longer exists.")),
        Err(err) => return Some(End::failed(format!("Failed: the catalog: {err}"))),
    };
    if !is_repository(&store.plugin) {
        if task.op == TaskOp::Check {
            return super::check_blobs::run(e, &store, &task.options, run, log).await;
        }
        return Some(End::failed(format!(
            "Failed: store '{}' is a plugin store; only repository stores are pruned.",
            store.name
        )));
    }
    let s = match resolve_store(e, &store).await {
        Ok(s) => s,
        Err(m) => return Some(End::failed(super::work::sentence(&format!("Failed: {m}")))),
    };
    let mut args = vec![task.op.as_str()];
    match (task.op, task.options.as_str()) {
        (TaskOp::Check, "") => say(
            log,
            format!(
                "Checking the repository of store '{}' (structure only).",
                store.name
            ),
        ),
        (TaskOp::Check, read) => {
            say(
                log,
                format!(
                    "Checking the repository of store '{}', reading back {read} of its data.",
                    store.name
                ),
            );
            args.extend(["--read", read]);
        }
        _ => say(
            log,
            format!("Pruning the repository of store '{}'.", store.name),
        ),
    }
    let out = match run_logged(s.single(Role::Store, &args), &limits(e, run), log).await {
        Ok(out) => out,
        Err(f) => return Some(pipeline_end(e, &f)),
    };
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
    let line = match task.op {
        TaskOp::Check => {
            let warnings = v["warnings"].as_array().map(Vec::len).unwrap_or(0);
            for w in v["warnings"].as_array().into_iter().flatten() {
                say(log, format!("Warning: {}", w.as_str().unwrap_or_default()));
            }
            format!("Done: the repository is sound ({warnings} warning(s)).")
        }
        _ => {
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            let (before, after) = (n("bytes_before"), n("bytes_after"));
            if let Err(err) = e
                .catalog()
                .set_repo_bytes(
                    store.uuid,
                    i64::try_from(after).unwrap_or(i64::MAX),
                    e.now(),
                )
                .await
            {
                tracing::warn!(error = %err, "Could not record the repository's size.");
            }
            format!(
                "Done: freed {}: pack files {} → {} ({} → {}); {} that no archive used were removed, {} were rewritten without their unused data.",
                mib(before.saturating_sub(after)),
                n("packs_before"),
                n("packs_after"),
                mib(before),
                mib(after),
                n("packs_removed"),
                n("packs_repacked"),
            )
        }
    };
    Some(End {
        status: TaskStatus::Done,
        line,
    })
}
