//! `/v1/retention` and `/v1/retention/{uuid}`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CreateRetention, CreatedResponse, ErrorResponse, OkResponse, RetentionResponse, UpdateRetention,
};
use bulwark_catalog::{Retention, RetentionFields};
use bulwark_core::ids::RetentionId;

use super::schedules::UnusedQuery;
use super::{check_name, deleted, not_found, updated};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Query, parse_id};
use crate::state::AppState;

/// The longest retention accepted: a hundred years.
pub(super) const MAXIMUM_EXPIRY: i64 = 100 * 365 * 86_400;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_retention, create_retention))
        .routes(routes!(get_retention, update_retention, delete_retention))
}

fn check_expires(st: &AppState, expires: i64) -> ApiResult<()> {
    if expires < st.minimum_expiry {
        return Err(ApiError::bad_request(format!(
            "expires must be at least {} seconds, not {expires}",
            st.minimum_expiry
        )));
    }
    if expires > MAXIMUM_EXPIRY {
        return Err(ApiError::bad_request(format!(
            "expires must be at most {MAXIMUM_EXPIRY} seconds (100 years), not {expires}"
        )));
    }
    Ok(())
}

fn response(r: Retention) -> RetentionResponse {
    RetentionResponse {
        uuid: r.uuid.0,
        name: r.name,
        summary: r.summary,
        expires: r.expiry,
    }
}

/// Lists retention policies.
#[utoipa::path(get, path = "/v1/retention", tag = "retention", params(UnusedQuery),
    responses((status = 200, body = [RetentionResponse]), (status = 400, body = ErrorResponse)))]
async fn list_retention(
    State(st): State<AppState>,
    Query(q): Query<UnusedQuery>,
) -> ApiResult<Json<Vec<RetentionResponse>>> {
    let rows = st.catalog.list_retention(q.unused()?).await?;
    Ok(Json(rows.into_iter().map(response).collect()))
}

/// Creates a retention policy.
#[utoipa::path(post, path = "/v1/retention", tag = "retention", request_body = CreateRetention,
    responses((status = 200, body = CreatedResponse), (status = 400, body = ErrorResponse)))]
async fn create_retention(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<CreateRetention>,
) -> ApiResult<Json<CreatedResponse>> {
    check_name("name", &req.name)?;
    check_expires(&st, req.expires)?;
    let fields = RetentionFields {
        name: req.name,
        summary: req.summary.unwrap_or_default(),
        expiry: req.expires,
    };
    let id = st.catalog.create_retention(&fields).await?;
    Ok(Json(CreatedResponse {
        ok: "created".into(),
        uuid: id.0,
        warning: None,
    }))
}

/// Shows a retention policy.
#[utoipa::path(get, path = "/v1/retention/{uuid}", tag = "retention",
    params(("uuid" = uuid::Uuid, Path, description = "The retention policy")),
    responses((status = 200, body = RetentionResponse), (status = 404, body = ErrorResponse)))]
async fn get_retention(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<RetentionResponse>> {
    let id: RetentionId = parse_id("retention policy", &uuid)?;
    let r = st
        .catalog
        .get_retention(id)
        .await?
        .ok_or_else(|| not_found("retention policy", id))?;
    Ok(Json(response(r)))
}

/// Replaces a retention policy. Archives already taken keep the expiry they were given.
#[utoipa::path(put, path = "/v1/retention/{uuid}", tag = "retention", request_body = UpdateRetention,
    params(("uuid" = uuid::Uuid, Path, description = "The retention policy")),
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_retention(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<UpdateRetention>,
) -> ApiResult<Json<OkResponse>> {
    let id: RetentionId = parse_id("retention policy", &uuid)?;
    check_name("name", &req.name)?;
    check_expires(&st, req.expires)?;
    let fields = RetentionFields {
        name: req.name,
        summary: req.summary,
        expiry: req.expires,
    };
    updated(
        "retention policy",
        id,
        st.catalog.update_retention(id, &fields).await?,
    )
}

/// Deletes a retention policy no job uses.
#[utoipa::path(delete, path = "/v1/retention/{uuid}", tag = "retention",
    params(("uuid" = uuid::Uuid, Path, description = "The retention policy")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn delete_retention(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: RetentionId = parse_id("retention policy", &uuid)?;
    deleted(
        "retention policy",
        id,
        st.catalog.delete_retention(id).await?,
    )
}
