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

/// How long `validate` may take.
const VALIDATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
    let found = discover(&st.plugin_dirs, &st.bulwark_exe)
        .into_iter()
        .find(|p| p.command.name() == name)
        .ok_or_else(|| ApiError::not_found(format!("plugin {name} is not installed")))?;
    let endpoint = super::accept_endpoint(req.endpoint, None)?;
    let secrets = bulwark_runner::secret_values(&endpoint, &[]);
    let call = bulwark_runner::Call {
        action: bulwark_plugin::Action::Validate,
        endpoint: &endpoint,
        key: None,
        timeout: VALIDATE_TIMEOUT,
        secrets: &secrets,
        env: &[],
    };
    let out = bulwark_runner::run_collect(&found.command, &call, Vec::new(), 64 * 1024)
        .await
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    let mut output = out.stderr.text.clone();
    let stdout =
        bulwark_core::redact::hide_secrets(&String::from_utf8_lossy(&out.stdout), &secrets);
    output.push_str(&stdout);
    Ok(Json(ValidateResponse {
        valid: match out.code {
            Some(0) => Some(true),
            Some(2) => None,
            _ => Some(false),
        },
        exit: out.describe_exit(),
        output,
    }))
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
