//! `/v1/archives`, `/v1/archive/{uuid}` and its restore action.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    ArchiveResponse, ErrorResponse, OkResponse, RestoreAnswer, RestoreArchive, ScheduledResponse,
    UpdateArchive,
};
use bulwark_catalog::{Archive, ArchiveFilter, PurgeRequest, RestoreRequest};
use bulwark_core::ids::ArchiveId;
use bulwark_core::state::ArchiveStatus;
use bulwark_core::timefmt::{format_epoch, parse_day};

use super::{not_found, ok, owner, redacted, updated};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, OptionalJson, Query, parse_id, parse_opt_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_archives))
        .routes(routes!(get_archive, update_archive, delete_archive))
        .routes(routes!(restore_archive))
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

fn response(a: Archive) -> ArchiveResponse {
    ArchiveResponse {
        uuid: a.uuid.0,
        store_key: a.store_key,
        taken_at: format_epoch(a.taken_at),
        expires_at: format_epoch(a.expires_at),
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
    Ok(Json(
        rows.into_iter()
            .map(response)
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
    Ok(Json(response(a)))
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
        st.catalog.annotate_archive(id, &req.notes).await?,
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

/// Refuses a restore that cannot work, before any task exists: a stream into a target of
/// another plugin than the one that made it, or a tree into anything but a plain fs target.
fn restorable_into(a: &bulwark_catalog::Archive, dest: &bulwark_catalog::Target) -> ApiResult<()> {
    if a.format == bulwark_catalog::ArchiveFormat::Tree {
        if crate::engine::tree_dir(dest).is_none() {
            return Err(ApiError::bad_request(format!(
                "archive {} is a directory tree; target '{}' ({}) cannot take it: a tree restores only into an fs target with an absolute base_dir and no include or exclude patterns",
                a.uuid, dest.name, dest.plugin
            )));
        }
        return Ok(());
    }
    if a.plugin != dest.plugin {
        return Err(ApiError::bad_request(format!(
            "archive {} was made by the '{}' plugin; target '{}' uses '{}', which cannot restore it (restore into a {} target)",
            a.uuid, a.plugin, dest.name, dest.plugin, a.plugin
        )));
    }
    Ok(())
}

/// What restoring `a` into `dest` would do.
fn preview(
    st: &AppState,
    a: &bulwark_catalog::Archive,
    dest: &bulwark_catalog::Target,
) -> bulwark_api::RestorePreview {
    let effect = match crate::engine::tree_dir(dest) {
        Some(dir) if a.format == bulwark_catalog::ArchiveFormat::Tree => format!(
            "every file of the archive replaces the one at its place under {dir} (each whole, in one step, once the whole archive has been read back intact); files under {dir} that are not in the archive are left alone"
        ),
        _ if dest.plugin == "fs" => "the archive's files are written over those under the target's base_dir once the whole archive has been read back intact; files that are not in the archive are left alone".to_string(),
        _ => format!(
            "the '{}' plugin restores the archive's data into target '{}', replacing what it holds there (for a database: the databases or keys in the archive), once the whole archive has been read back intact",
            dest.plugin, dest.name
        ),
    };
    bulwark_api::RestorePreview {
        dry_run: true,
        archive_uuid: a.uuid.0,
        taken_at: format_epoch(a.taken_at),
        age: (st.now() - a.taken_at).max(0),
        size: a.size,
        format: a.format.as_str().to_string(),
        plugin: a.plugin.clone(),
        target_uuid: dest.uuid.0,
        target_name: dest.name.clone(),
        target_plugin: dest.plugin.clone(),
        target_endpoint: super::redacted(&dest.endpoint),
        in_place: dest.uuid == a.target.uuid,
        effect,
    }
}

/// Queues a restore of the archive into its own target or the one named; with `"dry_run":
/// true`, answers what it would do and queues nothing.
#[utoipa::path(post, path = "/v1/archive/{uuid}/restore", tag = "archives",
    request_body(content = Option<RestoreArchive>, description = "Optional"),
    params(("uuid" = uuid::Uuid, Path, description = "The archive")),
    responses((status = 200, body = RestoreAnswer), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn restore_archive(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
    OptionalJson(req): OptionalJson<RestoreArchive>,
) -> ApiResult<Json<RestoreAnswer>> {
    let id: ArchiveId = parse_id("archive", &uuid)?;
    let owner = owner(&caller, req.owner)?;
    let target: Option<bulwark_core::ids::TargetId> = req.target.map(Into::into);
    // A restore writes to its destination: the caller needs the right on that target too.
    if let Some(dest) = target
        && !caller.may_use(Some(dest))
    {
        return Err(not_found("target", dest));
    }
    let archive = st
        .catalog
        .get_archive(id)
        .await?
        .ok_or_else(|| not_found("archive", id))?;
    let dest = match target {
        Some(t) => st
            .catalog
            .get_target(t)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("target {t} does not exist")))?,
        None => archive.target.clone(),
    };
    restorable_into(&archive, &dest)?;
    if req.dry_run == Some(true) {
        if archive.status != bulwark_core::state::ArchiveStatus::Valid {
            return Err(ApiError::conflict(format!(
                "archive {id} is {}; its data is no longer in the store",
                archive.status
            )));
        }
        return Ok(Json(RestoreAnswer::Preview(preview(&st, &archive, &dest))));
    }
    match st
        .catalog
        .request_restore(id, target, &owner, st.now())
        .await?
    {
        RestoreRequest::Queued(task) => {
            tracing::info!(archive = %id, task = %task, %owner, "Restore requested.");
            st.engine.wake();
            Ok(Json(RestoreAnswer::Scheduled(ScheduledResponse {
                ok: "scheduled".into(),
                task_uuid: task.0,
            })))
        }
        RestoreRequest::NotRestorable(status) => Err(ApiError::conflict(format!(
            "archive {id} is {status}; its data is no longer in the store"
        ))),
        RestoreRequest::NotFound => Err(not_found("archive", id)),
    }
}
