//! `/v1/stores` and `/v1/store/{uuid}`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CreateStore, CreatedResponse, ErrorResponse, OkResponse, StoreResponse, UpdateStore,
};
use bulwark_catalog::{Store, StoreFields};
use bulwark_core::ids::StoreId;

use super::targets::PluginQuery;
use super::{accept_endpoint, check_name, check_plugin, deleted, not_found, redacted, updated};
use crate::error::ApiResult;
use crate::extract::{JsonBody, Query, parse_flag, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stores, create_store))
        .routes(routes!(get_store, update_store, delete_store))
}

fn response(s: Store) -> StoreResponse {
    StoreResponse {
        uuid: s.uuid.0,
        endpoint: redacted(&s.endpoint),
        name: s.name,
        summary: s.summary,
        plugin: s.plugin,
    }
}

/// Lists stores.
#[utoipa::path(get, path = "/v1/stores", tag = "stores", params(PluginQuery),
    responses((status = 200, body = [StoreResponse]), (status = 400, body = ErrorResponse)))]
async fn list_stores(
    State(st): State<AppState>,
    Query(q): Query<PluginQuery>,
) -> ApiResult<Json<Vec<StoreResponse>>> {
    let unused = parse_flag("unused", q.unused.as_deref())?;
    let rows = st.catalog.list_stores(q.plugin.as_deref(), unused).await?;
    Ok(Json(rows.into_iter().map(response).collect()))
}

/// Creates a store.
#[utoipa::path(post, path = "/v1/stores", tag = "stores", request_body = CreateStore,
    responses((status = 200, body = CreatedResponse), (status = 400, body = ErrorResponse)))]
async fn create_store(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<CreateStore>,
) -> ApiResult<Json<CreatedResponse>> {
    check_name("name", &req.name)?;
    check_plugin(&req.plugin)?;
    let fields = StoreFields {
        endpoint: accept_endpoint(req.endpoint, None)?,
        name: req.name,
        summary: req.summary.unwrap_or_default(),
        plugin: req.plugin,
    };
    let id = st.catalog.create_store(&fields).await?;
    Ok(Json(CreatedResponse {
        ok: "created".into(),
        uuid: id.0,
    }))
}

/// Shows a store.
#[utoipa::path(get, path = "/v1/store/{uuid}", tag = "stores",
    params(("uuid" = uuid::Uuid, Path, description = "The store")),
    responses((status = 200, body = StoreResponse), (status = 404, body = ErrorResponse)))]
async fn get_store(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<StoreResponse>> {
    let id: StoreId = parse_id("store", &uuid)?;
    let s = st
        .catalog
        .get_store(id)
        .await?
        .ok_or_else(|| not_found("store", id))?;
    Ok(Json(response(s)))
}

/// Replaces a store. Endpoint values sent as `<redacted>` keep the stored secret.
#[utoipa::path(put, path = "/v1/store/{uuid}", tag = "stores", request_body = UpdateStore,
    params(("uuid" = uuid::Uuid, Path, description = "The store")),
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_store(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<UpdateStore>,
) -> ApiResult<Json<OkResponse>> {
    let id: StoreId = parse_id("store", &uuid)?;
    check_name("name", &req.name)?;
    check_plugin(&req.plugin)?;
    let old = st
        .catalog
        .get_store(id)
        .await?
        .ok_or_else(|| not_found("store", id))?;
    let fields = StoreFields {
        endpoint: accept_endpoint(req.endpoint, Some(&old.endpoint))?,
        name: req.name,
        summary: req.summary,
        plugin: req.plugin,
    };
    updated("store", id, st.catalog.update_store(id, &fields).await?)
}

/// Deletes a store that no job and no archive with data uses.
#[utoipa::path(delete, path = "/v1/store/{uuid}", tag = "stores",
    params(("uuid" = uuid::Uuid, Path, description = "The store")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn delete_store(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: StoreId = parse_id("store", &uuid)?;
    deleted("store", id, st.catalog.delete_store(id).await?)
}
