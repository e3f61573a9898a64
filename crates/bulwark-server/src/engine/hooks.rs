//! A job's steps around its backups and restores on the daemon's host (see [`crate::steps`];
//! on an agent, the agent runs them the same way).

use bulwark_api::{Step, StepWhen};
use bulwark_catalog::{Job, Task};
use bulwark_core::ids::ArchiveId;
use bulwark_runner::LogSink;
use bulwark_runner::pipeline::Failure;

use super::work::{End, pipeline_end, sentence};
use super::{Engine, Running};
use crate::steps::{Outcome, StepEnv};

/// The task's context for its steps.
pub(crate) fn vars(job: &Job, task: &Task, archive: Option<ArchiveId>) -> Vec<(String, String)> {
    let mut v = vec![
        ("BULWARK_JOB".to_string(), job.uuid.to_string()),
        ("BULWARK_JOB_NAME".to_string(), job.name.clone()),
        ("BULWARK_TARGET".to_string(), job.target.uuid.to_string()),
        ("BULWARK_TARGET_NAME".to_string(), job.target.name.clone()),
        ("BULWARK_TASK".to_string(), task.uuid.to_string()),
    ];
    if let Some(a) = archive {
        v.push(("BULWARK_ARCHIVE".to_string(), a.to_string()));
    }
    v
}

/// Runs the before-steps of `when`. When one breaks the run, the `always` after-steps run and
/// the task's end is returned.
pub(super) async fn before(
    e: &Engine,
    steps: &[Step],
    when: StepWhen,
    env: &StepEnv<'_>,
    run: &Running,
    log: &LogSink,
) -> Result<Outcome, End> {
    crate::steps::before(steps, when, env, &run.cancel, log)
        .await
        .map_err(|(why, canceled)| {
            if canceled {
                pipeline_end(e, &Failure::Canceled)
            } else {
                let what = if when == StepWhen::BeforeBackup {
                    "no backup was made"
                } else {
                    "the target was not touched"
                };
                End::failed(sentence(&format!("Failed: {why}; {what}")))
            }
        })
}

/// Runs the after-steps of `when` for a run that stands as `status` says (`ok`, `failed`,
/// `canceled`: see [`crate::steps::status_of`]).
pub(super) async fn after(
    steps: &[Step],
    when: StepWhen,
    status: &str,
    env: &StepEnv<'_>,
    run: &Running,
    log: &LogSink,
) -> Outcome {
    crate::steps::run(steps, when, status, env, &run.cancel, log).await
}
