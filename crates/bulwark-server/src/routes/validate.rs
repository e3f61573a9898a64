//! Checking endpoints with the plugin's `validate` (our extension of the protocol): on demand
//! for any endpoint (`POST /v1/plugin/{name}/validate`) or a stored target or store
//! (`POST /v1/target/{uuid}/validate`, `POST /v1/store/{uuid}/validate`), and when a target or
//! store is created.
//!
//! At creation, what the plugin calls an invalid endpoint (exits 10, 12 and 13: not an object, a
//! required key missing, a key of the wrong kind) refuses the request; what may be temporary (an
//! unreachable host, a wrong password, a plugin not installed on this host) is made anyway with a
//! warning.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ErrorResponse, ValidateResponse};
use bulwark_core::ids::{StoreId, TargetId};

use super::not_found;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_id;
use crate::plugins::discover;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(validate_target))
        .routes(routes!(validate_store))
}

/// How long `validate` may take.
const VALIDATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `plugin`'s `validate` on a plain endpoint; `None` when the plugin is not installed.
pub(crate) async fn run(
    st: &AppState,
    plugin: &str,
    endpoint: &str,
) -> ApiResult<Option<ValidateResponse>> {
    let Some(found) = discover(&st.plugin_dirs, &st.bulwark_exe)
        .into_iter()
        .find(|p| p.command.name() == plugin)
    else {
        return Ok(None);
    };
    let secrets = bulwark_runner::secret_values(endpoint, &[]);
    // A plugin that reads its endpoint from the environment gets it there.
    let command = match found.command {
        bulwark_runner::PluginCommand::External { name, path, .. } => {
            let endpoint_env =
                crate::plugins::external_info(&bulwark_runner::PluginCommand::External {
                    name: name.clone(),
                    path: path.clone(),
                    endpoint_env: false,
                })
                .await
                .is_ok_and(|i| i.features.endpoint_in_env());
            bulwark_runner::PluginCommand::External {
                name,
                path,
                endpoint_env,
            }
        }
        builtin => builtin,
    };
    let call = bulwark_runner::Call {
        action: bulwark_plugin::Action::Validate,
        endpoint,
        key: None,
        timeout: VALIDATE_TIMEOUT,
        secrets: &secrets,
        env: &[],
    };
    let out = bulwark_runner::run_collect(&command, &call, Vec::new(), 64 * 1024)
        .await
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    let mut output = out.stderr.text.clone();
    output.push_str(&bulwark_core::redact::hide_secrets(
        &String::from_utf8_lossy(&out.stdout),
        &secrets,
    ));
    Ok(Some(ValidateResponse {
        valid: match out.code {
            Some(0) => Some(true),
            Some(2) => None,
            _ => Some(false),
        },
        exit: out.describe_exit(),
        output: output.trim_end().to_string(),
    }))
}

/// The check of a new target's or store's endpoint: `Err` (400) when the plugin calls it
/// invalid, a warning when something may be temporarily wrong, nothing when it is fine.
pub(crate) async fn at_creation(
    st: &AppState,
    plugin: &str,
    endpoint: &str,
    wanted: Option<bool>,
) -> ApiResult<Option<String>> {
    if wanted == Some(false) {
        return Ok(None);
    }
    let Some(v) = run(st, plugin, endpoint).await? else {
        return Ok(Some(format!(
            "plugin {plugin} is not installed on this host; the endpoint was not checked"
        )));
    };
    // The plugin's own words, without its name in front of each line.
    let own = format!("{plugin}: ");
    let said = v
        .output
        .lines()
        .map(|l| l.strip_prefix(&own).unwrap_or(l).trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    let said = if said.is_empty() {
        v.exit.clone()
    } else {
        said
    };
    match v
        .exit
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<i32>().ok())
    {
        Some(0 | 2) => Ok(None),
        Some(10 | 12 | 13) => Err(ApiError::bad_request(format!(
            "the {plugin} plugin says the endpoint is invalid: {said}; nothing was created"
        ))),
        _ => Ok(Some(format!(
            "the {plugin} plugin could not use the endpoint now: {said}"
        ))),
    }
}

/// Checks a target's stored endpoint with its plugin's `validate`, without touching data.
#[utoipa::path(post, path = "/v1/target/{uuid}/validate", tag = "targets",
    params(("uuid" = uuid::Uuid, Path, description = "The target")),
    responses((status = 200, body = ValidateResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn validate_target(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<ValidateResponse>> {
    let id: TargetId = parse_id("target", &uuid)?;
    let t = st
        .catalog
        .get_target(id)
        .await?
        .ok_or_else(|| not_found("target", id))?;
    stored(&st, &t.plugin, &t.endpoint).await
}

/// Checks a store's stored endpoint with its plugin's `validate`, without touching data.
#[utoipa::path(post, path = "/v1/store/{uuid}/validate", tag = "stores",
    params(("uuid" = uuid::Uuid, Path, description = "The store")),
    responses((status = 200, body = ValidateResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn validate_store(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<ValidateResponse>> {
    let id: StoreId = parse_id("store", &uuid)?;
    let s = st
        .catalog
        .get_store(id)
        .await?
        .ok_or_else(|| not_found("store", id))?;
    stored(&st, &s.plugin, &s.endpoint).await
}

async fn stored(st: &AppState, plugin: &str, sealed: &str) -> ApiResult<Json<ValidateResponse>> {
    let plain = crate::sealing::open(&st.vault, sealed).map_err(ApiError::conflict)?;
    run(st, plugin, &plain)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::conflict(format!("plugin {plugin} is not installed on this host")))
}
