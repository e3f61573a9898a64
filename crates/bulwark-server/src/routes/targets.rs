//! `/v1/targets` and `/v1/target/{uuid}`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CreateTarget, CreatedResponse, ErrorResponse, OkResponse, TargetResponse, UpdateTarget,
};
use bulwark_catalog::{Target, TargetFields};
use bulwark_core::ids::TargetId;

use super::{check_name, check_plugin, deleted, not_found, redacted, updated};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Query, parse_flag, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_targets, create_target))
        .routes(routes!(get_target, update_target, delete_target))
}

/// `?plugin=NAME&unused=t|f`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct PluginQuery {
    /// Only those of this plugin.
    pub(super) plugin: Option<String>,
    /// `t`: only those no job and no archive with data uses; `f`: only those in use.
    pub(super) unused: Option<String>,
}

fn check_agent(agent: &str) -> ApiResult<()> {
    bulwark_core::validate::agent_address(agent).map_err(ApiError::bad_request)
}

fn response(t: Target) -> TargetResponse {
    TargetResponse {
        uuid: t.uuid.0,
        endpoint: redacted(&t.endpoint),
        name: t.name,
        summary: t.summary,
        plugin: t.plugin,
        agent: t.agent,
    }
}

/// Lists targets.
#[utoipa::path(get, path = "/v1/targets", tag = "targets", params(PluginQuery),
    responses((status = 200, body = [TargetResponse]), (status = 400, body = ErrorResponse)))]
async fn list_targets(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Query(q): Query<PluginQuery>,
) -> ApiResult<Json<Vec<TargetResponse>>> {
    let unused = parse_flag("unused", q.unused.as_deref())?;
    let rows = st.catalog.list_targets(q.plugin.as_deref(), unused).await?;
    Ok(Json(
        rows.into_iter()
            .filter(|t| caller.may_use(Some(t.uuid)))
            .map(response)
            .collect(),
    ))
}

/// Creates a target, after its plugin's `validate` (unless `"validate": false`): an endpoint the
/// plugin calls invalid is refused; what may be temporary comes back as `warning`.
#[utoipa::path(post, path = "/v1/targets", tag = "targets", request_body = CreateTarget,
    responses((status = 200, body = CreatedResponse), (status = 400, body = ErrorResponse)))]
async fn create_target(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<CreateTarget>,
) -> ApiResult<Json<CreatedResponse>> {
    check_name("name", &req.name)?;
    check_plugin(&req.plugin)?;
    check_agent(&req.agent)?;
    let plain = super::accept_endpoint(req.endpoint, None)?;
    let warning = super::validate::at_creation(&st, &req.plugin, &plain, req.validate).await?;
    let fields = TargetFields {
        endpoint: super::seal(&st, &plain)?,
        name: req.name,
        summary: req.summary.unwrap_or_default(),
        plugin: req.plugin,
        agent: req.agent,
    };
    let id = st.catalog.create_target(&fields).await?;
    Ok(Json(CreatedResponse {
        ok: "created".into(),
        uuid: id.0,
        warning,
    }))
}

/// Shows a target.
#[utoipa::path(get, path = "/v1/target/{uuid}", tag = "targets",
    params(("uuid" = uuid::Uuid, Path, description = "The target")),
    responses((status = 200, body = TargetResponse), (status = 404, body = ErrorResponse)))]
async fn get_target(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<TargetResponse>> {
    let id: TargetId = parse_id("target", &uuid)?;
    let t = st
        .catalog
        .get_target(id)
        .await?
        .ok_or_else(|| not_found("target", id))?;
    Ok(Json(response(t)))
}

/// Replaces a target. Endpoint values sent as `<redacted>` keep the stored secret.
#[utoipa::path(put, path = "/v1/target/{uuid}", tag = "targets", request_body = UpdateTarget,
    params(("uuid" = uuid::Uuid, Path, description = "The target")),
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_target(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<UpdateTarget>,
) -> ApiResult<Json<OkResponse>> {
    let id: TargetId = parse_id("target", &uuid)?;
    check_name("name", &req.name)?;
    check_plugin(&req.plugin)?;
    check_agent(&req.agent)?;
    let old = st
        .catalog
        .get_target(id)
        .await?
        .ok_or_else(|| not_found("target", id))?;
    let fields = TargetFields {
        endpoint: super::accept_sealed(&st, req.endpoint, Some(&old.endpoint))?,
        name: req.name,
        summary: req.summary,
        plugin: req.plugin,
        agent: req.agent,
    };
    updated("target", id, st.catalog.update_target(id, &fields).await?)
}

/// Deletes a target that no job and no archive with data uses.
#[utoipa::path(delete, path = "/v1/target/{uuid}", tag = "targets",
    params(("uuid" = uuid::Uuid, Path, description = "The target")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn delete_target(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: TargetId = parse_id("target", &uuid)?;
    deleted("target", id, st.catalog.delete_target(id).await?)
}
