//! `/v1/archives`, `/v1/archive/{uuid}` and its restore action.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ArchiveResponse, ErrorResponse, OkResponse, UpdateArchive};
use bulwark_catalog::{Archive, ArchiveFilter, PurgeRequest};
use std::collections::HashMap;

use bulwark_core::ids::ArchiveId;
use bulwark_core::retention::{Verdict, decide_all};
use bulwark_core::state::ArchiveStatus;
use bulwark_core::timefmt::{format_epoch, parse_day};

use super::{not_found, ok, redacted, updated};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Query, parse_id, parse_opt_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_archives))
        .routes(routes!(get_archive, update_archive, delete_archive))
}

/// Filters of the archive list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ArchiveQuery {
    /// Only archives of this target.
    target: Option<String>,
    /// Only archives in this store.
    store: Option<String>,
    /// Only archives taken on or after this day, `YYYYMMDD` (UTC).
    after: Option<String>,
    /// Only archives taken before this day, `YYYYMMDD` (UTC).
    before: Option<String>,
    /// Only archives in this state: `valid`, `purging` or `purged`.
    status: Option<String>,
}

/// What the retention rules say of every valid archive now.
pub(super) async fn verdicts(st: &AppState) -> ApiResult<HashMap<ArchiveId, Verdict<ArchiveId>>> {
    let members = st.catalog.retention_members(None, None).await?;
    Ok(decide_all(&members, st.clock.now(), st.tz)
        .into_iter()
        .map(|v| (v.id, v))
        .collect())
}

fn response(a: Archive, verdicts: &HashMap<ArchiveId, Verdict<ArchiveId>>) -> ArchiveResponse {
    let (expires_at, kept_by) = match verdicts.get(&a.uuid) {
        Some(v) if a.status == ArchiveStatus::Valid => (
            v.until.map(format_epoch),
            v.reasons.iter().map(|r| r.as_str().to_string()).collect(),
        ),
        _ => (Some(format_epoch(a.expires_at)), Vec::new()),
    };
    ArchiveResponse {
        uuid: a.uuid.0,
        store_key: a.store_key,
        taken_at: format_epoch(a.taken_at),
        expires_at,
        kept_by,
        job_uuid: a.job.map(|j| j.0),
        notes: a.notes,
        status: a.status.to_string(),
        size: a.size,
        added: a.added,
        format: a.format.as_str().to_string(),
        plugin: a.plugin.clone(),
        store_uuid: a.store.uuid.0,
        store_name: a.store.name,
        store_plugin: a.store.plugin,
        store_endpoint: redacted(&a.store.endpoint),
        target_uuid: a.target.uuid.0,
        target_name: a.target.name,
        target_plugin: a.target.plugin,
        target_endpoint: redacted(&a.target.endpoint),
        keep: a.keep,
        origin_uuid: a.origin.map(|o| o.0),
    }
}

fn day(name: &str, v: Option<&str>) -> ApiResult<Option<i64>> {
    v.map(|s| parse_day(s).map_err(|e| ApiError::bad_request(format!("{name}: {e}"))))
        .transpose()
}

/// Lists archives, newest first.
#[utoipa::path(get, path = "/v1/archives", tag = "archives", params(ArchiveQuery),
    responses((status = 200, body = [ArchiveResponse]), (status = 400, body = ErrorResponse)))]
async fn list_archives(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Query(q): Query<ArchiveQuery>,
) -> ApiResult<Json<Vec<ArchiveResponse>>> {
    let filter = ArchiveFilter {
        target: parse_opt_id("target", q.target.as_deref())?,
        store: parse_opt_id("store", q.store.as_deref())?,
        after: day("after", q.after.as_deref())?,
        before: day("before", q.before.as_deref())?,
        status: q
            .status
            .as_deref()
            .map(str::parse::<ArchiveStatus>)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("status: {e}")))?,
    };
    let rows = st.catalog.list_archives(&filter).await?;
    let verdicts = verdicts(&st).await?;
    Ok(Json(
        rows.into_iter()
            .map(|a| response(a, &verdicts))
            .filter(|a| caller.may_use(Some(bulwark_core::ids::TargetId(a.target_uuid))))
            .collect(),
    ))
}

/// Shows an archive.
#[utoipa::path(get, path = "/v1/archive/{uuid}", tag = "archives",
    params(("uuid" = uuid::Uuid, Path, description = "The archive")),
    responses((status = 200, body = ArchiveResponse), (status = 404, body = ErrorResponse)))]
async fn get_archive(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<ArchiveResponse>> {
    let id: ArchiveId = parse_id("archive", &uuid)?;
    let a = st
        .catalog
        .get_archive(id)
        .await?
        .ok_or_else(|| not_found("archive", id))?;
    Ok(Json(response(a, &verdicts(&st).await?)))
}

/// Replaces an archive's notes (the only thing about an archive that can change).
#[utoipa::path(put, path = "/v1/archive/{uuid}", tag = "archives", request_body = UpdateArchive,
    params(("uuid" = uuid::Uuid, Path, description = "The archive")),
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_archive(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<UpdateArchive>,
) -> ApiResult<Json<OkResponse>> {
    let id: ArchiveId = parse_id("archive", &uuid)?;
    if req.notes.chars().count() > 10_000 {
        return Err(ApiError::bad_request(
            "notes are longer than 10000 characters",
        ));
    }
    updated(
        "archive",
        id,
        st.catalog
            .annotate_archive(id, &req.notes, req.keep)
            .await?,
    )
}

/// Deletes an archive ahead of its expiry: it becomes `purging` and a purge task removes its data
/// from the store.
#[utoipa::path(delete, path = "/v1/archive/{uuid}", tag = "archives",
    params(("uuid" = uuid::Uuid, Path, description = "The archive")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn delete_archive(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: ArchiveId = parse_id("archive", &uuid)?;
    match st
        .catalog
        .request_archive_purge(id, &caller.actor(), st.now())
        .await?
    {
        PurgeRequest::Queued(task) => {
            tracing::info!(archive = %id, task = %task, "Archive purge requested.");
            st.engine.wake();
            Ok(ok("deleted"))
        }
        PurgeRequest::AlreadyGone(status) => Err(ApiError::conflict(format!(
            "archive {id} is already {status}"
        ))),
        PurgeRequest::NotFound => Err(not_found("archive", id)),
    }
}
