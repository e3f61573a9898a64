//! The `/v1` routes, one module per resource, gathered into one router whose OpenAPI document is
//! generated from the same handlers (so the document cannot miss a route).

mod archives;
mod jobs;
mod meta;
mod plugins;
mod retention;
mod schedules;
mod stores;
mod targets;
mod tasks;

use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use bulwark_api::OkResponse;
use bulwark_catalog::{Deleted, Updated};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bulwark API",
        description = "Backup and restore for data services. Seed 003's /v1 API: targets, stores, schedules, retention policies, jobs, archives and tasks. Errors are {\"error\": \"...\"} with status 400 (bad input), 404 (unknown uuid or route), 405, 409 (in use, or a conflicting state) or 500.",
    ),
    tags(
        (name = "schedules"), (name = "retention"), (name = "targets"), (name = "stores"),
        (name = "jobs"), (name = "archives"), (name = "tasks"), (name = "plugins"), (name = "meta"),
    )
)]
struct ApiDoc;

/// Builds the whole router: every `/v1` route, `/v1/openapi.json`, and JSON answers for unknown
/// routes and methods.
pub fn router(state: AppState) -> Router {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(schedules::router())
        .merge(retention::router())
        .merge(targets::router())
        .merge(stores::router())
        .merge(jobs::router())
        .merge(archives::router())
        .merge(tasks::router())
        .merge(meta::router())
        .merge(plugins::router())
        .split_for_parts();
    let openapi = std::sync::Arc::new(openapi);
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/", axum::routing::get(meta::index))
        .fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed("method not allowed on this route; see /v1/openapi.json")
        })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    if status >= 500 {
        tracing::warn!(%method, %path, status, "Request failed.");
    } else {
        tracing::debug!(%method, %path, status, "Request served.");
    }
    res
}

/// `{"ok": word}`
pub(crate) fn ok(word: &str) -> Json<OkResponse> {
    Json(OkResponse {
        ok: word.to_string(),
    })
}

/// Maps an update's outcome to `{"ok": "updated"}` or 404.
pub(crate) fn updated(
    what: &str,
    id: impl std::fmt::Display,
    u: Updated,
) -> ApiResult<Json<OkResponse>> {
    changed("updated", what, id, u)
}

/// Maps an update's outcome to `{"ok": word}` or 404.
pub(crate) fn changed(
    word: &str,
    what: &str,
    id: impl std::fmt::Display,
    u: Updated,
) -> ApiResult<Json<OkResponse>> {
    match u {
        Updated::Updated => Ok(ok(word)),
        Updated::NotFound => Err(not_found(what, id)),
    }
}

/// Maps a delete's outcome to `{"ok": "deleted"}`, 404 or 409.
pub(crate) fn deleted(
    what: &str,
    id: impl std::fmt::Display,
    d: Deleted,
) -> ApiResult<Json<OkResponse>> {
    match d {
        Deleted::Deleted => Ok(ok("deleted")),
        Deleted::NotFound => Err(not_found(what, id)),
        Deleted::InUse(by) => Err(ApiError::conflict(format!(
            "{what} {id} is still used by {by}; remove those first"
        ))),
    }
}

/// 404 for a record.
pub(crate) fn not_found(what: &str, id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(format!("{what} {id} does not exist"))
}

/// Checks a human-friendly name field.
pub(crate) fn check_name(field: &str, value: &str) -> ApiResult<()> {
    bulwark_core::validate::name(field, value).map_err(ApiError::bad_request)
}

/// Checks an `owner`: defaults to `anon`, must be a sensible name.
pub(crate) fn owner(value: Option<String>) -> ApiResult<String> {
    let owner = value.unwrap_or_else(|| "anon".to_string());
    check_name("owner", &owner)?;
    Ok(owner)
}

/// A stored endpoint with its secrets hidden.
pub(crate) fn redacted(endpoint: &str) -> String {
    bulwark_core::redact::redact_endpoint(endpoint, &[])
}

/// Validates an incoming endpoint and puts stored secrets back where it says `<redacted>`.
/// `stored` is the endpoint being replaced, if any.
pub(crate) fn accept_endpoint(
    incoming: bulwark_api::EndpointInput,
    stored: Option<&str>,
) -> ApiResult<String> {
    let mut map =
        bulwark_core::validate::endpoint(&incoming.into_text()).map_err(ApiError::bad_request)?;
    let old = stored
        .and_then(|s| bulwark_core::validate::endpoint(s).ok())
        .unwrap_or_default();
    bulwark_core::redact::restore_secrets(&mut map, &old).map_err(ApiError::bad_request)?;
    Ok(serde_json::Value::Object(map).to_string())
}

/// Checks a plugin name.
pub(crate) fn check_plugin(name: &str) -> ApiResult<()> {
    bulwark_core::validate::plugin_name(name).map_err(ApiError::bad_request)
}

/// Formats an optional Unix time for the API.
pub(crate) fn time_opt(t: Option<i64>) -> Option<String> {
    t.map(bulwark_core::timefmt::format_epoch)
}
