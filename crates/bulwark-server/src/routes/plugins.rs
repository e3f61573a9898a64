//! `/v1/plugins` and `/v1/plugin/{name}`: what is installed.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ErrorResponse, PluginResponse, ValidateRequest, ValidateResponse};

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::plugins::{describe, discover};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plugins))
        .routes(routes!(get_plugin))
        .routes(routes!(validate_endpoint))
}

/// Checks an endpoint with the plugin's `validate` (our extension of the protocol) without
/// touching data. A plugin without `validate` answers `valid: null`.
#[utoipa::path(post, path = "/v1/plugin/{name}/validate", tag = "plugins",
    request_body = ValidateRequest,
    params(("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, body = ValidateResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn validate_endpoint(
    State(st): State<AppState>,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<ValidateRequest>,
) -> ApiResult<Json<ValidateResponse>> {
    let endpoint = super::accept_endpoint(req.endpoint, None)?;
    super::validate::run(&st, &name, &endpoint)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("plugin {name} is not installed")))
}

/// Lists installed plugins: built-ins, then those in the plugin directories, each with what its
/// `info` says (or why `info` failed).
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses((status = 200, body = [PluginResponse])))]
async fn list_plugins(State(st): State<AppState>) -> Json<Vec<PluginResponse>> {
    let mut out = Vec::new();
    for p in discover(&st.plugin_dirs, &st.bulwark_exe) {
        out.push(describe(&p).await);
    }
    Json(out)
}

/// Shows one installed plugin.
#[utoipa::path(get, path = "/v1/plugin/{name}", tag = "plugins",
    params(("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, body = PluginResponse), (status = 404, body = ErrorResponse)))]
async fn get_plugin(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<PluginResponse>> {
    let found = discover(&st.plugin_dirs, &st.bulwark_exe)
        .into_iter()
        .find(|p| p.command.name() == name)
        .ok_or_else(|| ApiError::not_found(format!("plugin {name} is not installed")))?;
    Ok(Json(describe(&found).await))
}
