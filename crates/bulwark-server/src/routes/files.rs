//! `GET /v1/archive/{uuid}/files` (a directory of an archive, paged) and
//! `GET /v1/archive/{uuid}/files/content` (one file's bytes, streamed): for archives in a
//! repository store.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ArchiveFiles, ErrorResponse, FileEntry};
use bulwark_core::ids::ArchiveId;
use bulwark_core::state::ArchiveStatus;

use super::not_found;
use crate::engine::browse::BrowseError;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Query, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_files))
        .routes(routes!(file_content))
}

/// `?path=P&offset=N&limit=M`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct FilesQuery {
    /// The directory, from the archive's root (default: the root).
    path: Option<String>,
    /// Entries to skip (default 0).
    #[param(minimum = 0)]
    offset: Option<u64>,
    /// Entries to answer, 1 to 10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u64>,
}

/// `?path=P`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ContentQuery {
    /// The file, from the archive's root.
    path: String,
}

fn browse_error(e: BrowseError) -> ApiError {
    match e {
        BrowseError::Refused(m) => ApiError::bad_request(m),
        BrowseError::Failed(m) => ApiError::internal(format!("the archive cannot be read: {m}")),
    }
}

async fn valid_archive(st: &AppState, uuid: &str) -> ApiResult<bulwark_catalog::Archive> {
    let id: ArchiveId = parse_id("archive", uuid)?;
    let a = st
        .catalog
        .get_archive(id)
        .await?
        .ok_or_else(|| not_found("archive", id))?;
    if a.status != ArchiveStatus::Valid {
        return Err(ApiError::conflict(format!(
            "archive {id} is {}; its data is no longer in the store",
            a.status
        )));
    }
    Ok(a)
}

/// Lists a directory of an archive in a repository store (a tree archive's directories; a
/// stream archive holds one file).
#[utoipa::path(get, path = "/v1/archive/{uuid}/files", tag = "archives", params(
        ("uuid" = uuid::Uuid, Path, description = "The archive"), FilesQuery),
    responses((status = 200, body = ArchiveFiles), (status = 400, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse),
        (status = 500, body = ErrorResponse)))]
async fn list_files(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    Query(q): Query<FilesQuery>,
) -> ApiResult<Json<ArchiveFiles>> {
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to 10000, not {limit}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    let a = valid_archive(&st, &uuid).await?;
    let path = q.path.unwrap_or_default();
    let all = st
        .engine
        .list_files(&a, &path)
        .await
        .map_err(browse_error)?;
    let total = all.len() as u64;
    let entries = all
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .filter_map(|v| serde_json::from_value::<FileEntry>(v).ok())
        .collect();
    Ok(Json(ArchiveFiles {
        path: path.trim_matches('/').to_string(),
        total,
        offset,
        entries,
    }))
}

/// One file of an archive in a repository store, streamed as it is read from the store.
#[utoipa::path(get, path = "/v1/archive/{uuid}/files/content", tag = "archives", params(
        ("uuid" = uuid::Uuid, Path, description = "The archive"), ContentQuery),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream", body = String),
        (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse), (status = 500, body = ErrorResponse)))]
async fn file_content(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    Query(q): Query<ContentQuery>,
) -> ApiResult<Response> {
    let a = valid_archive(&st, &uuid).await?;
    let (out, guard, size) = st
        .engine
        .open_file(&a, &q.path)
        .await
        .map_err(browse_error)?;
    let name = q
        .path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .replace(['"', '\\', '\r', '\n'], "_");
    // The plugin lives as long as the body: a client that goes away kills it.
    let stream = tokio_util::io::ReaderStream::with_capacity(out, 256 * 1024);
    let stream = futures_util::StreamExt::map(stream, move |chunk| {
        let _alive = &guard;
        chunk
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
