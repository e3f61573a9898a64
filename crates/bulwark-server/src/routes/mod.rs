//! The `/v1` routes, one module per resource, gathered into one router whose OpenAPI document is
//! generated from the same handlers (so the document cannot miss a route).

mod agents;
mod archives;
mod audit;
mod auth;
mod copies;
mod drills;
mod files;
mod jobs;
mod meta;
mod notifications;
mod plugins;
mod restore;
mod retention;
mod schedules;
mod schelly;
mod stores;
mod targets;
mod tasks;
mod validate;

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
        description = "Backup and restore for data services: a SHIELD-compatible /v1 API for targets, stores, schedules, retention policies, jobs, archives and tasks. Every route but GET /v1/status, GET /v1/meta/pubkey, POST /v1/auth/login and this document needs Authorization: Bearer TOKEN (a session from /v1/auth/login or an API token) or the session cookie. Errors are {\"error\": \"...\"} with status 400 (bad input), 401 (no or a bad credential), 403 (not allowed), 404 (unknown uuid or route, or out of the caller's targets), 405, 409 (in use, or a conflicting state), 413 (body too large), 415 (body not JSON), 429 (too many failed logins) or 500.",
    ),
    tags(
        (name = "schedules"), (name = "retention"), (name = "targets"), (name = "stores"),
        (name = "jobs"), (name = "archives"), (name = "tasks"), (name = "plugins"), (name = "meta"),
        (name = "auth"), (name = "notifications"),
    )
)]
struct ApiDoc;

/// The largest request body accepted (413 beyond it).
pub const MAX_BODY: usize = 1024 * 1024;

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(schedules::router())
        .merge(retention::router())
        .merge(targets::router())
        .merge(stores::router())
        .merge(jobs::router())
        .merge(drills::router())
        .merge(archives::router())
        .merge(tasks::router())
        .merge(meta::router())
        .merge(plugins::router())
        .merge(auth::router())
        .merge(audit::router())
        .merge(validate::router())
        .merge(notifications::router())
        .merge(files::router())
        .merge(restore::router())
        .merge(agents::router())
        .merge(schelly::router())
}

/// Every `(method, route)` the API serves: the OpenAPI document's operations, the document
/// itself and the index page.
pub fn operations() -> Vec<(axum::http::Method, String)> {
    let (_, doc) = api().split_for_parts();
    let mut ops = vec![
        (axum::http::Method::GET, "/".to_string()),
        (axum::http::Method::GET, "/v1/openapi.json".to_string()),
        (axum::http::Method::GET, "/metrics".to_string()),
    ];
    for (path, item) in doc.paths.paths {
        for (m, op) in [
            (axum::http::Method::GET, &item.get),
            (axum::http::Method::POST, &item.post),
            (axum::http::Method::PUT, &item.put),
            (axum::http::Method::DELETE, &item.delete),
        ] {
            if op.is_some() {
                ops.push((m, path.clone()));
            }
        }
    }
    ops
}

/// Writes the access rules into the document: the bearer scheme, and on every route that needs a
/// login its security requirement and the 401 and 403 answers (from the same table the guard
/// uses, so the document cannot drift from it).
fn document_access(doc: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorResponse")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::DELETE, &mut item.delete),
        ] {
            let Some(op) = op.as_mut() else { continue };
            // Every route can refuse bad input (a malformed UUID in its path, a bad query), and
            // one with a body can refuse its size or type.
            op.responses
                .responses
                .entry("400".into())
                .or_insert_with(|| error("Bad input; nothing was changed").into());
            if op.request_body.is_some() {
                op.responses.responses.insert(
                    "413".into(),
                    error("The request body is larger than 1 MiB").into(),
                );
                op.responses.responses.insert(
                    "415".into(),
                    error("The request body is not application/json").into(),
                );
            }
            if crate::auth::rules::rule(&method, path) == Some(crate::auth::rules::Need::Public) {
                continue;
            }
            op.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
            op.responses.responses.insert(
                "401".into(),
                error("No login, or a token or session that is not valid (any more)").into(),
            );
            op.responses.responses.insert(
                "403".into(),
                error("The caller's role does not allow this").into(),
            );
        }
    }
}

/// The longest retention accepted, in seconds (100 years).
const MAX_EXPIRY: i64 = retention::MAXIMUM_EXPIRY;

/// The document as served: with the limits this daemon's configuration sets (the shortest
/// retention it accepts) and the longest.
fn limits_in_force(doc: &utoipa::openapi::OpenApi, minimum_expiry: i64) -> serde_json::Value {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    for schema in ["CreateRetention", "UpdateRetention"] {
        if let Some(expires) = v
            .pointer_mut(&format!("/components/schemas/{schema}/properties/expires"))
            .and_then(serde_json::Value::as_object_mut)
        {
            expires.insert("minimum".into(), minimum_expiry.into());
            expires.insert("maximum".into(), MAX_EXPIRY.into());
        }
    }
    v
}

/// Builds the whole router: every `/v1` route, `/v1/openapi.json` and `/metrics` behind the
/// access guard, with JSON answers for unknown routes and methods; and the web UI's pages, which
/// read everything through that same guarded router, in process, as the signed-in user.
pub fn router(state: AppState) -> Router {
    let clock = state.clock.clone();
    let api = api_router(state);
    bulwark_ui::router(api.clone(), clock).merge(api)
}

fn api_router(state: AppState) -> Router {
    let (router, mut openapi) = api().split_for_parts();
    document_access(&mut openapi);
    let openapi = std::sync::Arc::new(limits_in_force(&openapi, state.minimum_expiry));
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", axum::routing::get(metrics))
        .fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed("method not allowed on this route; see /v1/openapi.json")
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard::guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(axum::extract::State(st): axum::extract::State<AppState>) -> ApiResult<Response> {
    use axum::response::IntoResponse;
    let text = crate::metrics::render(&st).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
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

/// The owner of a task the caller asks for: the caller, or, for an admin, the `owner` they name.
pub(crate) fn owner(caller: &crate::auth::Caller, value: Option<String>) -> ApiResult<String> {
    match value {
        Some(named) if caller.is_admin() => {
            check_name("owner", &named)?;
            Ok(named)
        }
        _ => Ok(caller.actor()),
    }
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

/// [`accept_endpoint`], then its secret values sealed for the catalog.
pub(crate) fn accept_sealed(
    st: &AppState,
    incoming: bulwark_api::EndpointInput,
    stored: Option<&str>,
) -> ApiResult<String> {
    let plain = accept_endpoint(incoming, stored)?;
    seal(st, &plain)
}

/// Seals an endpoint's secret values.
pub(crate) fn seal(st: &AppState, endpoint: &str) -> ApiResult<String> {
    crate::sealing::seal(&st.vault, endpoint).map_err(ApiError::bad_request)
}

/// Checks a plugin name.
pub(crate) fn check_plugin(name: &str) -> ApiResult<()> {
    bulwark_core::validate::plugin_name(name).map_err(ApiError::bad_request)
}

/// Formats an optional Unix time for the API.
pub(crate) fn time_opt(t: Option<i64>) -> Option<String> {
    t.map(bulwark_core::timefmt::format_epoch)
}
