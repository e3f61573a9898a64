//! `POST /v1/archive/{uuid}/restore`: into the archive's own target, another target, or a
//! directory on the daemon's host; all of it or some paths; or only a preview.

use std::path::{Component, Path as FsPath};

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ErrorResponse, RestoreAnswer, RestoreArchive, ScheduledResponse};
use bulwark_catalog::{Archive, ArchiveFormat, RestoreRequest, Target};
use bulwark_core::ids::ArchiveId;
use bulwark_core::state::ArchiveStatus;
use bulwark_core::timefmt::format_epoch;

use super::{not_found, owner};
use crate::engine::RestoreOptions;
use crate::error::{ApiError, ApiResult};
use crate::extract::{OptionalJson, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(restore_archive))
}

/// Refuses a restore that cannot work, before any task exists: a stream into a target of
/// another plugin than the one that made it, or a tree into anything but a plain fs target.
fn restorable_into(a: &Archive, dest: &Target) -> ApiResult<()> {
    if a.format == ArchiveFormat::Tree {
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

/// Checks a directory to restore into: absolute, plain, outside the data directory, and
/// missing or empty.
fn check_dir(st: &AppState, dir: &str) -> ApiResult<()> {
    let p = FsPath::new(dir);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(ApiError::bad_request(format!(
            "to_dir must be an absolute path without '..', not '{dir}'"
        )));
    }
    let data = st
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| st.data_dir.to_path_buf());
    let resolved = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if resolved.starts_with(&data) || data.starts_with(&resolved) {
        return Err(ApiError::bad_request(format!(
            "to_dir {dir} holds or is inside the daemon's data directory"
        )));
    }
    match std::fs::read_dir(p).map(|mut entries| entries.next().is_none()) {
        Ok(false) => Err(ApiError::bad_request(format!(
            "to_dir {dir} is not empty; name a new or empty directory"
        ))),
        Ok(true) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ApiError::bad_request(format!("to_dir {dir}: {e}"))),
    }
}

/// What restoring `a` into `dest` (or `opts.to_dir`) would do.
fn preview(
    st: &AppState,
    a: &Archive,
    dest: &Target,
    opts: &RestoreOptions,
) -> bulwark_api::RestorePreview {
    let only = if opts.paths.is_empty() {
        String::new()
    } else {
        format!(" (only {})", opts.paths.join(", "))
    };
    let effect = match (&opts.to_dir, crate::engine::tree_dir(dest)) {
        (Some(dir), _) if a.format == ArchiveFormat::Tree => {
            format!("the archive's files{only} are written into the new directory {dir}")
        }
        (Some(dir), _) => format!("the archive's stream is written as one file into the new directory {dir}"),
        (None, Some(dir)) if a.format == ArchiveFormat::Tree => format!(
            "every file of the archive{only} replaces the one at its place under {dir} (each whole, in one step, once the whole archive has been read back intact); files under {dir} that are not in the archive are left alone"
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
        in_place: opts.to_dir.is_none() && dest.uuid == a.target.uuid,
        to_dir: opts.to_dir.clone(),
        paths: opts.paths.clone(),
        effect,
    }
}

/// Queues a restore of the archive: into its own target, the `target` named, or a directory
/// `to_dir` on the daemon's host (admins); of `paths` only (tree archives). With `"dry_run":
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
    let opts = RestoreOptions {
        paths: req.paths.unwrap_or_default(),
        to_dir: req.to_dir,
    };
    for p in &opts.paths {
        bulwark_repo::browse::relative(p).map_err(ApiError::bad_request)?;
    }
    if !opts.paths.is_empty() && archive.format != ArchiveFormat::Tree {
        return Err(ApiError::bad_request(format!(
            "archive {id} is a {} archive: paths pick files of a tree archive only",
            archive.format.as_str()
        )));
    }
    let dest = match (&opts.to_dir, target) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("give target or to_dir, not both"));
        }
        (Some(dir), None) => {
            if !caller.is_admin() {
                return Err(ApiError::forbidden(
                    "restoring into a directory of the daemon's host needs the admin role",
                ));
            }
            check_dir(&st, dir)?;
            archive.target.clone()
        }
        (None, Some(t)) => st
            .catalog
            .get_target(t)
            .await?
            .ok_or_else(|| ApiError::bad_request(format!("target {t} does not exist")))?,
        (None, None) => archive.target.clone(),
    };
    if opts.to_dir.is_none() {
        restorable_into(&archive, &dest)?;
    }
    if req.dry_run == Some(true) {
        if archive.status != ArchiveStatus::Valid {
            return Err(ApiError::conflict(format!(
                "archive {id} is {}; its data is no longer in the store",
                archive.status
            )));
        }
        let p = preview(&st, &archive, &dest, &opts);
        return Ok(Json(RestoreAnswer::Preview(Box::new(p))));
    }
    let task_target = if opts.to_dir.is_some() { None } else { target };
    match st
        .catalog
        .request_restore(id, task_target, &owner, &opts.to_task(), st.now())
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
