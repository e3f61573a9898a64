//! `/v1/stores` and `/v1/store/{uuid}`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CheckRequest, CreateStore, CreatedResponse, ErrorResponse, MaintenanceResult, OkResponse,
    ScheduledResponse, StoreResponse, UpdateStore,
};
use bulwark_catalog::{Store, StoreFields, Task};
use bulwark_core::ids::StoreId;
use bulwark_core::state::TaskOp;
use bulwark_core::timefmt::format_epoch;

use super::targets::PluginQuery;
use super::{accept_endpoint, check_name, check_plugin, deleted, not_found, redacted, updated};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, OptionalJson, Query, parse_flag, parse_id};
use crate::state::AppState;
use crate::store_keys::{init_repository, is_repository, keeps_its_own_data, new_secret};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stores, create_store))
        .routes(routes!(get_store, update_store, delete_store))
        .routes(routes!(check_store))
        .routes(routes!(prune_store))
}

fn result(t: Option<Task>) -> Option<MaintenanceResult> {
    t.map(|t| MaintenanceResult {
        task_uuid: t.uuid.0,
        status: t.status.to_string(),
        stopped_at: t.stopped_at.map(format_epoch),
        summary: t.log.lines().last().unwrap_or_default().to_string(),
    })
}

async fn response(st: &AppState, s: Store) -> ApiResult<StoreResponse> {
    let repo = is_repository(&s.plugin);
    let last_check = result(st.catalog.last_maintenance(s.uuid, TaskOp::Check).await?);
    let u = st.catalog.store_usage(s.uuid, st.now()).await?;
    let usage = bulwark_api::StoreUsage {
        archives: u.archives,
        size: u.size,
        stored: u.stored,
        added_day: u.added_day,
        added_week: u.added_week,
        measured_at: u.measured_at.map(bulwark_core::timefmt::format_epoch),
    };
    let (last_prune, prune_schedule) = if repo {
        (
            result(st.catalog.last_maintenance(s.uuid, TaskOp::Prune).await?),
            if s.prune_schedule.is_empty() {
                st.prune_schedule.to_string()
            } else {
                s.prune_schedule.clone()
            },
        )
    } else {
        (None, String::new())
    };
    Ok(StoreResponse {
        uuid: s.uuid.0,
        endpoint: redacted(&s.endpoint),
        encrypted: s.secret.is_some(),
        name: s.name,
        summary: s.summary,
        plugin: s.plugin,
        prune_schedule,
        last_check,
        last_prune,
        usage,
    })
}

/// A prune schedule as given: canonical, or empty for the daemon's default.
fn prune_schedule(plugin: &str, given: Option<String>) -> ApiResult<Option<String>> {
    match given {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(Some(String::new())),
        Some(s) => {
            if !is_repository(plugin) {
                return Err(ApiError::bad_request(
                    "prune_schedule: only repository stores are pruned",
                ));
            }
            let spec = s
                .parse::<bulwark_core::timespec::Schedule>()
                .map_err(|e| ApiError::bad_request(format!("prune_schedule: {e}")))?;
            Ok(Some(spec.to_string()))
        }
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
    let mut out = Vec::with_capacity(rows.len());
    for s in rows {
        out.push(response(&st, s).await?);
    }
    Ok(Json(out))
}

/// Creates a store. A repository store's repository is created here (or, when one is already at
/// the endpoint, must open with the password this store would get: it will not), with a random
/// password the daemon keeps sealed; any other store gets a random key its streams are sealed
/// with. A repository that cannot be created fails the request and nothing is stored.
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
        prune_schedule: prune_schedule(&req.plugin, req.prune_schedule)?.unwrap_or_default(),
        name: req.name,
        summary: req.summary.unwrap_or_default(),
        plugin: req.plugin,
    };
    let warning =
        super::validate::at_creation(&st, &fields.plugin, &fields.endpoint, req.validate).await?;
    let secret = new_secret(&fields.plugin);
    if is_repository(&fields.plugin) {
        init_repository(&st.bulwark_exe, &fields.endpoint, &secret)
            .await
            .map_err(ApiError::bad_request)?;
    }
    let fields = StoreFields {
        endpoint: super::seal(&st, &fields.endpoint)?,
        ..fields
    };
    let id = st
        .catalog
        .create_store(
            &fields,
            (!keeps_its_own_data(&fields.plugin))
                .then(|| st.vault.seal(&secret))
                .as_deref(),
        )
        .await?;
    tracing::info!(store = %id, plugin = %fields.plugin, "Store created.");
    Ok(Json(CreatedResponse {
        ok: "created".into(),
        uuid: id.0,
        warning,
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
    Ok(Json(response(&st, s).await?))
}

/// Replaces a store. Endpoint values sent as `<redacted>` keep the stored secret. A store cannot
/// change between the repository plugin and another: its secret and its archives' format
/// belong to one kind.
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
    if is_repository(&old.plugin) != is_repository(&req.plugin) {
        return Err(ApiError::bad_request(format!(
            "plugin: a store cannot change between '{}' and another plugin; create a new store",
            bulwark_repo::NAME
        )));
    }
    let fields = StoreFields {
        endpoint: super::accept_sealed(&st, req.endpoint, Some(&old.endpoint))?,
        prune_schedule: prune_schedule(&req.plugin, req.prune_schedule)?
            .unwrap_or(old.prune_schedule),
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

async fn maintenance(
    st: &AppState,
    caller: &crate::auth::Caller,
    uuid: &str,
    op: TaskOp,
    options: String,
) -> ApiResult<Json<ScheduledResponse>> {
    let id: StoreId = parse_id("store", uuid)?;
    let store = st
        .catalog
        .get_store(id)
        .await?
        .ok_or_else(|| not_found("store", id))?;
    if !is_repository(&store.plugin) && op == TaskOp::Prune {
        return Err(ApiError::bad_request(format!(
            "store '{}' is a plugin store; only repository stores are pruned (a plugin store's archives are removed as they expire)",
            store.name
        )));
    }
    let task = st
        .catalog
        .request_maintenance(id, op, &options, &caller.actor(), st.now())
        .await?;
    tracing::info!(store = %id, task = %task, op = %op, "Maintenance requested.");
    st.engine.wake();
    Ok(Json(ScheduledResponse {
        ok: "scheduled".into(),
        task_uuid: task.0,
    }))
}

/// Queues a check of a repository store: its structure, and with `read_data` part or all of
/// its data read back and verified. The task's status and log are the result.
#[utoipa::path(post, path = "/v1/store/{uuid}/check", tag = "stores",
    request_body(content = Option<CheckRequest>, description = "Optional"),
    params(("uuid" = uuid::Uuid, Path, description = "The store")),
    responses((status = 200, body = ScheduledResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn check_store(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
    OptionalJson(req): OptionalJson<CheckRequest>,
) -> ApiResult<Json<ScheduledResponse>> {
    let read = req.read_data.unwrap_or_default().trim().to_string();
    if !read.is_empty() {
        bulwark_repo::repo::parse_subset(&read)
            .map_err(|e| ApiError::bad_request(format!("read_data: {e}")))?;
    }
    maintenance(&st, &caller, &uuid, TaskOp::Check, read).await
}

/// Queues a prune of a repository store: data no archive uses any more is removed. It runs
/// when no backup or restore of the store is running.
#[utoipa::path(post, path = "/v1/store/{uuid}/prune", tag = "stores",
    params(("uuid" = uuid::Uuid, Path, description = "The store")),
    responses((status = 200, body = ScheduledResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn prune_store(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<ScheduledResponse>> {
    maintenance(&st, &caller, &uuid, TaskOp::Prune, String::new()).await
}
