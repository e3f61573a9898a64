//! `/v1/jobs`, `/v1/job/{uuid}` and its pause, unpause and run actions.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CreateJob, CreatedResponse, ErrorResponse, JobResponse, JobUpdated, LastRun, LastSuccess,
    OkResponse, RunJob, ScheduledResponse, SkippedRun, UpdateJob,
};
use bulwark_core::timefmt::format_epoch;

use bulwark_catalog::{Job, JobFields, JobFilter, RetryFields};
use bulwark_core::ids::JobId;

use super::{changed, check_name, deleted, not_found, owner, redacted, updated};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, OptionalJson, Query, parse_flag, parse_id, parse_opt_id};
use crate::state::AppState;

/// A job's priority when none is given.
pub const DEFAULT_PRIORITY: i64 = 50;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job, update_job, delete_job))
        .routes(routes!(pause_job))
        .routes(routes!(unpause_job))
        .routes(routes!(run_job))
}

/// Filters of the job list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct JobQuery {
    /// Only jobs of this target.
    target: Option<String>,
    /// Only jobs into this store.
    store: Option<String>,
    /// Only jobs on this schedule.
    schedule: Option<String>,
    /// Only jobs with this retention policy.
    retention: Option<String>,
    /// `t`: only paused jobs; `f`: only unpaused ones.
    paused: Option<String>,
    /// Only jobs of this health: `ok`, `late`, `failing`, `never` or `paused`.
    #[param(pattern = "^(ok|late|failing|never|paused)$")]
    health: Option<String>,
}

fn check_priority(p: i64) -> ApiResult<()> {
    if (0..=100).contains(&p) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "priority must be 0 (highest) to 100, not {p}"
        )))
    }
}

/// Checks a body's retries, retry delay and grace time.
fn check_retry(
    retries: Option<i64>,
    retry_delay: Option<i64>,
    grace: Option<i64>,
) -> ApiResult<RetryFields> {
    let retries = retries.unwrap_or(0);
    if !(0..=100).contains(&retries) {
        return Err(ApiError::bad_request(format!(
            "retries must be 0 to 100, not {retries}"
        )));
    }
    let retry_delay = retry_delay.unwrap_or(60);
    if !(1..=86_400).contains(&retry_delay) {
        return Err(ApiError::bad_request(format!(
            "retry_delay must be 1 to 86400 seconds, not {retry_delay}"
        )));
    }
    if let Some(g) = grace.filter(|g| !(0..=3_153_600_000).contains(g)) {
        return Err(ApiError::bad_request(format!(
            "grace must be 0 to 3153600000 seconds (100 years), not {g}"
        )));
    }
    Ok(RetryFields {
        retries,
        retry_delay,
        grace,
    })
}

fn check_rpo(rpo: Option<i64>) -> ApiResult<()> {
    match rpo {
        Some(r) if !(60..=3_153_600_000).contains(&r) => Err(ApiError::bad_request(format!(
            "rpo must be 60 seconds to 100 years (3153600000), not {r}"
        ))),
        _ => Ok(()),
    }
}

/// A job as the API shows it, with its health: its last runs, its RPO and its next run.
pub(crate) async fn response(st: &AppState, j: Job) -> ApiResult<JobResponse> {
    let runs = st.catalog.job_runs(j.uuid).await?;
    let drill = super::drills::fields(st, &j).await?;
    let (skipped_runs, last_skipped) = st.catalog.skipped_runs(j.uuid).await?;
    let a = crate::jobhealth::assess(&j, &runs, st.clock.now(), st.tz, st.mode);
    let (effective_rpo, health) = (a.effective_rpo, a.health);
    let next_run = a.next_run.map(|t| format_epoch(t.timestamp()));
    let steps = crate::steps::of(&j);
    Ok(JobResponse {
        uuid: j.uuid.0,
        name: j.name,
        summary: j.summary,
        priority: j.priority,
        paused: j.paused,
        retention_name: j.retention.name,
        retention_uuid: j.retention.uuid.0,
        expiry: j.retention.rules.expires,
        retention_rules: j.retention.rules.describe(),
        schedule_name: j.schedule.name,
        schedule_uuid: j.schedule.uuid.0,
        schedule: j.schedule.timespec,
        store_uuid: j.store.uuid.0,
        store_name: j.store.name,
        store_plugin: j.store.plugin,
        store_endpoint: redacted(&j.store.endpoint),
        target_uuid: j.target.uuid.0,
        target_name: j.target.name,
        target_plugin: j.target.plugin,
        target_endpoint: redacted(&j.target.endpoint),
        agent: j.target.agent,
        rpo: j.rpo,
        effective_rpo,
        health: health.to_string(),
        last_run: runs.last_run.map(|(task, status, at)| LastRun {
            at: format_epoch(at),
            task_uuid: task.0,
            status: status.to_string(),
        }),
        last_success: runs.last_success.map(|(at, archive)| LastSuccess {
            at: format_epoch(at),
            archive_uuid: archive.0,
        }),
        next_run,
        drill_schedule_uuid: drill.schedule_uuid,
        drill_schedule: drill.schedule,
        drill_target_uuid: drill.target_uuid,
        drill_target_name: drill.target_name,
        next_drill: drill.next,
        last_verified: drill.last_verified,
        rto: drill.rto,
        last_drill: drill.last,
        retries: j.retry.retries,
        retry_delay: j.retry.retry_delay,
        grace: j.retry.grace,
        steps,
        bandwidth: j.bandwidth,
        watch: j.watch_settle.map(|settle| bulwark_api::Watch {
            settle,
            min_interval: j.watch_min_interval.unwrap_or(0),
        }),
        copies: j
            .copies
            .iter()
            .map(|c| bulwark_api::JobCopyResponse {
                store_uuid: c.store.uuid.0,
                store_name: c.store.name.clone(),
                store_plugin: c.store.plugin.clone(),
                retention_uuid: c.retention.uuid.0,
                retention_name: c.retention.name.clone(),
                retention_rules: c.retention.rules.describe(),
                retries: c.retries,
                retry_delay: c.retry_delay,
            })
            .collect(),
        retry_attempt: j.retry_attempt,
        next_retry: j.retry_at.map(format_epoch),
        skipped_runs,
        last_skipped: last_skipped.map(|s| SkippedRun {
            at: format_epoch(s.at),
            reason: s.reason,
            task_uuid: s.task.map(|t| t.0),
        }),
    })
}

/// Lists jobs.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = [JobResponse]), (status = 400, body = ErrorResponse)))]
async fn list_jobs(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Query(q): Query<JobQuery>,
) -> ApiResult<Json<Vec<JobResponse>>> {
    let filter = JobFilter {
        target: parse_opt_id("target", q.target.as_deref())?,
        store: parse_opt_id("store", q.store.as_deref())?,
        schedule: parse_opt_id("schedule", q.schedule.as_deref())?,
        retention: parse_opt_id("retention policy", q.retention.as_deref())?,
        paused: parse_flag("paused", q.paused.as_deref())?,
    };
    let wanted = q
        .health
        .as_deref()
        .map(|h| {
            bulwark_core::health::Health::parse(h).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "health must be ok, late, failing, retrying, never or paused, not '{h}'"
                ))
            })
        })
        .transpose()?;
    let rows = st.catalog.list_jobs(&filter).await?;
    let mut out = Vec::new();
    for j in rows
        .into_iter()
        .filter(|j| caller.may_use(Some(j.target.uuid)))
    {
        let r = response(&st, j).await?;
        if wanted.is_none_or(|w| r.health == w.as_str()) {
            out.push(r);
        }
    }
    Ok(Json(out))
}

/// A job's file-change trigger as the catalog keeps it: (settle, min_interval); `old` is kept
/// when none is given (an update).
fn check_watch(
    given: Option<bulwark_api::Watch>,
    old: Option<(Option<i64>, Option<i64>)>,
) -> ApiResult<(Option<i64>, Option<i64>)> {
    let Some(w) = given else {
        return Ok(old.unwrap_or((None, None)));
    };
    if !(0..=86_400).contains(&w.settle) {
        return Err(ApiError::bad_request(
            "watch.settle must be 0 (off) to 86400 seconds",
        ));
    }
    if !(0..=30 * 86_400).contains(&w.min_interval) {
        return Err(ApiError::bad_request(
            "watch.min_interval must be 0 to 2592000 seconds",
        ));
    }
    Ok(if w.settle == 0 {
        (None, None)
    } else {
        (Some(w.settle), Some(w.min_interval))
    })
}

/// Checks a job's steps and writes them as the catalog keeps them.
fn steps_json(steps: &[bulwark_api::Step]) -> ApiResult<String> {
    bulwark_api::check_steps(steps).map_err(ApiError::bad_request)?;
    serde_json::to_string(steps).map_err(|e| ApiError::internal(e.to_string()))
}

/// Creates a job.
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = CreateJob,
    responses((status = 200, body = CreatedResponse), (status = 400, body = ErrorResponse)))]
async fn create_job(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<CreateJob>,
) -> ApiResult<Json<CreatedResponse>> {
    check_name("name", &req.name)?;
    let priority = req.priority.unwrap_or(DEFAULT_PRIORITY);
    check_priority(priority)?;
    check_rpo(req.rpo)?;
    let (drill_schedule, drill_target) = (
        req.drill_schedule.map(Into::into),
        req.drill_target.map(Into::into),
    );
    super::drills::check_drill(&st, None, req.target.into(), drill_schedule, drill_target).await?;
    let steps = steps_json(req.steps.as_deref().unwrap_or_default())?;
    let bandwidth = match &req.bandwidth {
        Some(b) => bulwark_api::parse_bandwidth(b).map_err(ApiError::bad_request)?,
        None => None,
    };
    let watch = check_watch(req.watch, None)?;
    let copies = super::copies::check(
        &st,
        req.store.into(),
        req.target.into(),
        req.copies.as_deref().unwrap_or_default(),
    )
    .await?;
    let fields = JobFields {
        copies,
        watch_settle: watch.0,
        watch_min_interval: watch.1,
        bandwidth,
        retry: check_retry(req.retries, req.retry_delay, req.grace)?,
        rpo: req.rpo,
        drill_schedule,
        drill_target,
        steps,
        name: req.name,
        summary: req.summary.unwrap_or_default(),
        priority,
        target: req.target.into(),
        store: req.store.into(),
        schedule: req.schedule.into(),
        retention: req.retention.into(),
    };
    let id = st.catalog.create_job(&fields, req.paused).await?;
    Ok(Json(CreatedResponse {
        ok: "created".into(),
        uuid: id.0,
        warning: None,
    }))
}

/// Shows a job.
#[utoipa::path(get, path = "/v1/job/{uuid}", tag = "jobs",
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 200, body = JobResponse), (status = 404, body = ErrorResponse)))]
async fn get_job(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<JobResponse>> {
    let id: JobId = parse_id("job", &uuid)?;
    let j = st
        .catalog
        .get_job(id)
        .await?
        .ok_or_else(|| not_found("job", id))?;
    Ok(Json(response(&st, j).await?))
}

/// Replaces a job's fields; `paused` is changed only through pause and unpause.
#[utoipa::path(put, path = "/v1/job/{uuid}", tag = "jobs", request_body = UpdateJob,
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 200, body = JobUpdated), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_job(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<UpdateJob>,
) -> ApiResult<Json<JobUpdated>> {
    let id: JobId = parse_id("job", &uuid)?;
    if req.paused.is_some() {
        return Err(ApiError::bad_request(format!(
            "paused cannot be changed by an update; use POST /v1/job/{id}/pause or /v1/job/{id}/unpause"
        )));
    }
    check_name("name", &req.name)?;
    let old = st
        .catalog
        .get_job(id)
        .await?
        .ok_or_else(|| not_found("job", id))?;
    let priority = req.priority.unwrap_or(old.priority);
    check_priority(priority)?;
    check_rpo(req.rpo)?;
    let (drill_schedule, drill_target) = (
        req.drill_schedule.map(Into::into),
        req.drill_target.map(Into::into),
    );
    super::drills::check_drill(
        &st,
        Some(id),
        req.target.into(),
        drill_schedule,
        drill_target,
    )
    .await?;
    let steps = match &req.steps {
        Some(s) => steps_json(s)?,
        None => old.steps.clone(),
    };
    let bandwidth = match &req.bandwidth {
        Some(b) => bulwark_api::parse_bandwidth(b).map_err(ApiError::bad_request)?,
        None => old.bandwidth,
    };
    let watch = check_watch(req.watch, Some((old.watch_settle, old.watch_min_interval)))?;
    let copies = match &req.copies {
        Some(c) => c.clone(),
        None => super::copies::as_given(&old.copies),
    };
    let copies = super::copies::check(&st, req.store.into(), req.target.into(), &copies).await?;
    let fields = JobFields {
        copies,
        watch_settle: watch.0,
        watch_min_interval: watch.1,
        bandwidth,
        retry: check_retry(req.retries, req.retry_delay, req.grace)?,
        rpo: req.rpo,
        drill_schedule,
        drill_target,
        steps,
        name: req.name,
        summary: req.summary,
        priority,
        target: req.target.into(),
        store: req.store.into(),
        schedule: req.schedule.into(),
        retention: req.retention.into(),
    };
    let policy_changed = fields.retention != old.retention.uuid;
    let Json(OkResponse { ok }) = updated("job", id, st.catalog.update_job(id, &fields).await?)?;
    let mut answer = JobUpdated {
        ok,
        would_purge: None,
        warning: None,
    };
    if policy_changed && let Some(new) = st.catalog.get_retention(fields.retention).await? {
        let p = super::retention::preview(&st, &caller, id, &new.rules).await?;
        let purge: Vec<_> = p
            .archives
            .iter()
            .filter(|a| a.action == "purge")
            .map(|a| a.uuid)
            .collect();
        if !purge.is_empty() {
            answer.warning = Some(format!(
                "under retention policy '{}' ({}) the next sweep purges {} of the job's {} archives",
                new.name,
                p.rules,
                purge.len(),
                p.archives.len()
            ));
        }
        answer.would_purge = Some(purge);
    }
    Ok(Json(answer))
}

/// Deletes a job that has no pending or running task.
#[utoipa::path(delete, path = "/v1/job/{uuid}", tag = "jobs",
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn delete_job(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: JobId = parse_id("job", &uuid)?;
    deleted("job", id, st.catalog.delete_job(id).await?)
}

async fn set_paused(st: &AppState, uuid: &str, paused: bool) -> ApiResult<Json<OkResponse>> {
    let id: JobId = parse_id("job", uuid)?;
    let word = if paused { "paused" } else { "unpaused" };
    changed(
        word,
        "job",
        id,
        st.catalog.set_job_paused(id, paused, st.now()).await?,
    )
}

/// Pauses a job: its schedule no longer runs it.
#[utoipa::path(post, path = "/v1/job/{uuid}/pause", tag = "jobs",
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse)))]
async fn pause_job(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    set_paused(&st, &uuid, true).await
}

/// Unpauses a job.
#[utoipa::path(post, path = "/v1/job/{uuid}/unpause", tag = "jobs",
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse)))]
async fn unpause_job(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    set_paused(&st, &uuid, false).await
}

/// Queues an ad hoc backup of the job, paused or not.
#[utoipa::path(post, path = "/v1/job/{uuid}/run", tag = "jobs", request_body(content = Option<RunJob>, description = "Optional"),
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 200, body = ScheduledResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn run_job(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
    OptionalJson(req): OptionalJson<RunJob>,
) -> ApiResult<Json<ScheduledResponse>> {
    let id: JobId = parse_id("job", &uuid)?;
    let owner = owner(&caller, req.owner)?;
    let task = st
        .catalog
        .request_backup(id, &owner, st.now())
        .await?
        .ok_or_else(|| not_found("job", id))?;
    tracing::info!(job = %id, task = %task, %owner, "Backup requested.");
    st.engine.wake();
    Ok(Json(ScheduledResponse {
        ok: "scheduled".into(),
        task_uuid: task.0,
    }))
}
