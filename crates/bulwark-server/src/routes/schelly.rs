//! Schelly's scheduler API for one job: `GET /v1/job/{uuid}/schelly/backups` (with `status`
//! and `tag` filters), `POST` to start a backup (202, `running`), and `GET .../backups/{id}`.
//! A Schelly backup is a backup task of the job; its status follows the task and its archive.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ErrorResponse, SchellyBackup};
use bulwark_catalog::{Task, TaskFilter};
use bulwark_core::ids::{ArchiveId, JobId, TaskId};
use bulwark_core::retention::Verdict;
use bulwark_core::state::{ArchiveStatus, TaskOp, TaskStatus};
use bulwark_core::timefmt::format_epoch;

use super::not_found;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_backups, start_backup))
        .routes(routes!(get_backup))
}

/// Filters of Schelly's backup list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SchellyQuery {
    /// Only backups in this state: `running`, `available`, `error` or `deleted`.
    status: Option<String>,
    /// Only backups kept by this rule: `hourly`, `daily`, `weekly`, `monthly`, `yearly`.
    tag: Option<String>,
}

const STATUSES: &[&str] = &["running", "available", "error", "deleted"];
const TAGS: &[&str] = &["minutely", "hourly", "daily", "weekly", "monthly", "yearly"];

async fn backup_of(
    st: &AppState,
    t: Task,
    verdicts: &HashMap<ArchiveId, Verdict<ArchiveId>>,
) -> ApiResult<SchellyBackup> {
    let archive = match t.archive {
        Some(a) => st.catalog.get_archive(a).await?,
        None => None,
    };
    let status = match (t.status, &archive) {
        (TaskStatus::Pending | TaskStatus::Running, _) => "running",
        (TaskStatus::Done, Some(a)) if a.status != ArchiveStatus::Valid => "deleted",
        (TaskStatus::Done, _) => "available",
        _ => "error",
    };
    let tags = match (status, t.archive.and_then(|a| verdicts.get(&a))) {
        ("available", Some(v)) => v
            .reasons
            .iter()
            .filter_map(|r| r.as_str().strip_prefix("keep_"))
            .filter(|w| TAGS.contains(w))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(SchellyBackup {
        id: t.uuid.to_string(),
        status: status.into(),
        start_time: format_epoch(t.started_at.unwrap_or(t.requested_at)),
        end_time: t.stopped_at.map(format_epoch),
        custom_data: t.archive.map(|a| a.to_string()),
        tags,
    })
}

async fn job_of(st: &AppState, caller: &crate::auth::Caller, uuid: &str) -> ApiResult<JobId> {
    let id: JobId = parse_id("job", uuid)?;
    let job = st
        .catalog
        .get_job(id)
        .await?
        .filter(|j| caller.may_use(Some(j.target.uuid)))
        .ok_or_else(|| not_found("job", id))?;
    Ok(job.uuid)
}

/// Schelly's `GET /backups` for this job: its backups, newest first.
#[utoipa::path(get, path = "/v1/job/{uuid}/schelly/backups", tag = "schelly",
    params(("uuid" = uuid::Uuid, Path, description = "The job"), SchellyQuery),
    responses((status = 200, body = [SchellyBackup]), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn list_backups(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
    Query(q): Query<SchellyQuery>,
) -> ApiResult<Json<Vec<SchellyBackup>>> {
    let job = job_of(&st, &caller, &uuid).await?;
    if let Some(s) = q.status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(ApiError::bad_request(format!(
            "status must be one of {}, not '{s}'",
            STATUSES.join(", ")
        )));
    }
    if let Some(t) = q.tag.as_deref().filter(|t| !TAGS.contains(t)) {
        return Err(ApiError::bad_request(format!(
            "tag must be one of {}, not '{t}'",
            TAGS.join(", ")
        )));
    }
    let verdicts = super::archives::verdicts(&st).await?;
    let tasks = st
        .catalog
        .list_tasks(&TaskFilter {
            job: Some(job),
            limit: Some(1000),
            ..TaskFilter::default()
        })
        .await?;
    let mut out = Vec::new();
    for t in tasks.into_iter().filter(|t| t.op == TaskOp::Backup) {
        let b = backup_of(&st, t, &verdicts).await?;
        let wanted = q.status.as_deref().is_none_or(|s| b.status == s)
            && q.tag
                .as_deref()
                .is_none_or(|t| b.tags.iter().any(|x| x == t));
        if wanted {
            out.push(b);
        }
    }
    Ok(Json(out))
}

/// Schelly's `POST /backups` for this job: starts a backup (202, `running`; follow it with
/// `GET .../backups/{id}`).
#[utoipa::path(post, path = "/v1/job/{uuid}/schelly/backups", tag = "schelly",
    params(("uuid" = uuid::Uuid, Path, description = "The job")),
    responses((status = 202, body = SchellyBackup), (status = 404, body = ErrorResponse)))]
async fn start_backup(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
) -> ApiResult<(StatusCode, Json<SchellyBackup>)> {
    let job = job_of(&st, &caller, &uuid).await?;
    let owner = caller.actor();
    let task = st
        .catalog
        .request_backup(job, &owner, st.now())
        .await?
        .ok_or_else(|| not_found("job", job))?;
    st.engine.wake();
    let t = st
        .catalog
        .get_task(task)
        .await?
        .ok_or_else(|| ApiError::internal("the new task is gone"))?;
    let b = backup_of(&st, t, &HashMap::new()).await?;
    Ok((StatusCode::ACCEPTED, Json(b)))
}

/// Schelly's `GET /backups/{id}` for this job.
#[utoipa::path(get, path = "/v1/job/{uuid}/schelly/backups/{id}", tag = "schelly",
    params(("uuid" = uuid::Uuid, Path, description = "The job"),
           ("id" = uuid::Uuid, Path, description = "The backup (a backup task of the job)")),
    responses((status = 200, body = SchellyBackup), (status = 404, body = ErrorResponse)))]
async fn get_backup(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path((uuid, id)): Path<(String, String)>,
) -> ApiResult<Json<SchellyBackup>> {
    let job = job_of(&st, &caller, &uuid).await?;
    let tid: TaskId = parse_id("backup", &id)?;
    let t = st
        .catalog
        .get_task(tid)
        .await?
        .filter(|t| t.job == Some(job) && t.op == TaskOp::Backup)
        .ok_or_else(|| not_found("backup", tid))?;
    let verdicts = super::archives::verdicts(&st).await?;
    Ok(Json(backup_of(&st, t, &verdicts).await?))
}
