//! Restore drills of a job: `POST /v1/job/{uuid}/drill`, the checks of a job's drill settings,
//! and what a job shows of its drills.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ErrorResponse, LastDrill, RunJob, ScheduledResponse};
use bulwark_catalog::{DrillRequest, Job};
use bulwark_core::ids::{JobId, ScheduleId, TargetId};
use bulwark_core::timefmt::format_epoch;

use super::{not_found, owner};
use crate::error::{ApiError, ApiResult};
use crate::extract::{OptionalJson, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(drill_job))
}

/// Refuses drill settings that could not work or could hurt: a drill target that is the job's
/// own target, of another plugin, or backed up by a job; no drill target where a temporary
/// directory cannot stand in; and a job whose target is some job's drill target.
pub(super) async fn check_drill(
    st: &AppState,
    job: Option<JobId>,
    target: TargetId,
    schedule: Option<ScheduleId>,
    drill_target: Option<TargetId>,
) -> ApiResult<()> {
    let Some(own) = st.catalog.get_target(target).await? else {
        // The catalog names the missing target.
        return Ok(());
    };
    if let Some(other) = st.catalog.job_drilling_into(target, job).await? {
        return Err(ApiError::bad_request(format!(
            "target '{}' is the drill target of job '{other}': drills overwrite and wipe it, so no job may back it up",
            own.name
        )));
    }
    match drill_target {
        Some(dt) if dt == target => Err(ApiError::bad_request(
            "drill_target must not be the job's own target: a drill overwrites and wipes its drill target",
        )),
        Some(dt) => {
            let Some(d) = st.catalog.get_target(dt).await? else {
                return Err(ApiError::bad_request(format!("no drill target {dt}")));
            };
            if d.plugin != own.plugin {
                return Err(ApiError::bad_request(format!(
                    "drill_target '{}' uses the '{}' plugin; the job's target '{}' uses '{}': a drill restores into a target of the same plugin",
                    d.name, d.plugin, own.name, own.plugin
                )));
            }
            if let Some(other) = st.catalog.job_backing_up(dt, job).await? {
                return Err(ApiError::bad_request(format!(
                    "target '{}' is backed up by job '{other}'; a drill target must be a scratch target no job backs up, as drills overwrite and wipe it",
                    d.name
                )));
            }
            Ok(())
        }
        None if schedule.is_some() && !drill_in_temp(&own) => Err(ApiError::bad_request(format!(
            "a drill of a {} job needs drill_target: a scratch {} target (a throwaway database or server) that drills may overwrite and wipe",
            own.plugin, own.plugin
        ))),
        None => Ok(()),
    }
}

/// Whether a drill of this target's archives can restore into a temporary directory.
fn drill_in_temp(t: &bulwark_catalog::Target) -> bool {
    crate::engine::DRILL_IN_TEMPORARY_DIR.contains(&t.plugin.as_str())
}

/// The drill fields of a job's answer.
pub(super) struct DrillFields {
    pub(super) schedule_uuid: Option<uuid::Uuid>,
    pub(super) schedule: Option<String>,
    pub(super) target_uuid: Option<uuid::Uuid>,
    pub(super) target_name: Option<String>,
    pub(super) next: Option<String>,
    pub(super) last_verified: Option<String>,
    pub(super) rto: Option<f64>,
    pub(super) last: Option<LastDrill>,
}

/// What a job's answer says of its drills.
pub(super) async fn fields(st: &AppState, j: &Job) -> ApiResult<DrillFields> {
    let drills = st.catalog.job_drills(j.uuid).await?;
    let next = match (&j.drill_schedule, j.paused) {
        (Some(s), false) => s
            .timespec
            .parse::<bulwark_core::timespec::Schedule>()
            .ok()
            .and_then(|spec| {
                let from = j
                    .drill_fired_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .unwrap_or_else(|| st.clock.now());
                spec.next_after(from, st.tz)
            })
            .map(|t| format_epoch(t.timestamp())),
        _ => None,
    };
    Ok(DrillFields {
        schedule_uuid: j.drill_schedule.as_ref().map(|s| s.uuid.0),
        schedule: j.drill_schedule.as_ref().map(|s| s.timespec.clone()),
        target_uuid: j.drill_target.as_ref().map(|t| t.uuid.0),
        target_name: j.drill_target.as_ref().map(|t| t.name.clone()),
        next,
        last_verified: drills
            .last_passed
            .as_ref()
            .map(|d| format_epoch(d.finished_at)),
        rto: drills.last_passed.as_ref().and_then(|d| d.rto),
        last: drills.last.map(|d| LastDrill {
            at: format_epoch(d.finished_at),
            task_uuid: d.task.0,
            archive_uuid: d.archive.map(|a| a.0),
            outcome: d.outcome.as_str().to_string(),
            rto: d.rto,
            detail: d.detail,
        }),
    })
}

/// Queues a restore drill of the job now: its newest good archive restored into its drill
/// target (or a temporary directory), verified, timed and wiped.
#[utoipa::path(post, path = "/v1/job/{uuid}/drill", tag = "jobs", request_body(content = Option<RunJob>, description = "Optional"),
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 200, body = ScheduledResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn drill_job(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
    OptionalJson(req): OptionalJson<RunJob>,
) -> ApiResult<Json<ScheduledResponse>> {
    let id: JobId = parse_id("job", &uuid)?;
    let owner = owner(&caller, req.owner)?;
    let job = st
        .catalog
        .get_job(id)
        .await?
        .ok_or_else(|| not_found("job", id))?;
    if job.drill_target.is_none() && !drill_in_temp(&job.target) {
        return Err(ApiError::bad_request(format!(
            "job '{}' has no drill target: a drill of a {} job restores into a scratch {} target (set drill_target on the job)",
            job.name, job.target.plugin, job.target.plugin
        )));
    }
    match st.catalog.request_drill(id, &owner, st.now()).await? {
        DrillRequest::Queued(task) => {
            tracing::info!(job = %id, task = %task, %owner, "Drill requested.");
            st.engine.wake();
            Ok(Json(ScheduledResponse {
                ok: "scheduled".into(),
                task_uuid: task.0,
            }))
        }
        DrillRequest::NotFound => Err(not_found("job", id)),
        DrillRequest::NoArchive => Err(ApiError::conflict(format!(
            "job '{}' has no good archive to drill yet; run a backup first",
            job.name
        ))),
    }
}
