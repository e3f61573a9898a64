//! `/v1/schedules` and `/v1/schedule/{uuid}`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CreateSchedule, CreatedResponse, ErrorResponse, OkResponse, ScheduleResponse, UpdateSchedule,
};
use bulwark_catalog::{Schedule, ScheduleFields};
use bulwark_core::ids::ScheduleId;
use bulwark_core::timespec::Schedule as Spec;

use super::{check_name, deleted, not_found, updated};
use crate::config::Mode;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Query, parse_flag, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(get_schedule, update_schedule, delete_schedule))
        .routes(routes!(check_schedule))
}

/// `?when=PHRASE`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct CheckQuery {
    /// A schedule phrase, as `when` takes it.
    #[param(min_length = 1, max_length = 500)]
    when: String,
}

/// Reads a schedule phrase without saving anything: its canonical form and its next five runs
/// (UTC), or a 400 that says what is wrong with it. Forms use it to check a phrase as it is
/// typed.
#[utoipa::path(get, path = "/v1/schedules/check", tag = "schedules", params(CheckQuery),
    responses((status = 200, body = bulwark_api::ScheduleCheck), (status = 400, body = ErrorResponse)))]
async fn check_schedule(
    State(st): State<AppState>,
    Query(q): Query<CheckQuery>,
) -> ApiResult<Json<bulwark_api::ScheduleCheck>> {
    let spec: Spec = q
        .when
        .parse()
        .map_err(|e| ApiError::bad_request(format!("when: {e}")))?;
    Ok(Json(bulwark_api::ScheduleCheck {
        when: spec.to_string(),
        next_runs: next_runs(&st, Some(&spec)),
    }))
}

/// The next five runs of `spec` from now (UTC).
fn next_runs(st: &AppState, spec: Option<&Spec>) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = st.clock.now();
    while let Some(spec) = spec
        && out.len() < 5
    {
        let Some(t) = spec.next_after(at, st.tz) else {
            break;
        };
        out.push(bulwark_core::timefmt::format_epoch(t.timestamp()));
        at = t;
    }
    out
}

/// `?unused=t|f`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct UnusedQuery {
    /// `t`: only those no job uses; `f`: only those in use.
    unused: Option<String>,
}

impl UnusedQuery {
    pub(super) fn unused(&self) -> ApiResult<Option<bool>> {
        parse_flag("unused", self.unused.as_deref())
    }
}

fn parse_when(when: &str) -> ApiResult<String> {
    let spec: Spec = when
        .parse()
        .map_err(|e| ApiError::bad_request(format!("when: {e}")))?;
    Ok(spec.to_string())
}

fn response(st: &AppState, s: Schedule) -> ScheduleResponse {
    let spec = match st.mode {
        Mode::Dev => "every minute".parse::<Spec>().ok(),
        Mode::Normal => s.timespec.parse::<Spec>().ok(),
    };
    let next_runs = next_runs(st, spec.as_ref());
    ScheduleResponse {
        uuid: s.uuid.0,
        name: s.name,
        summary: s.summary,
        when: s.text,
        canonical: s.timespec,
        next_run: next_runs.first().cloned(),
        next_runs,
    }
}

/// Lists schedules.
#[utoipa::path(get, path = "/v1/schedules", tag = "schedules", params(UnusedQuery),
    responses((status = 200, body = [ScheduleResponse]), (status = 400, body = ErrorResponse)))]
async fn list_schedules(
    State(st): State<AppState>,
    Query(q): Query<UnusedQuery>,
) -> ApiResult<Json<Vec<ScheduleResponse>>> {
    let rows = st.catalog.list_schedules(q.unused()?).await?;
    Ok(Json(rows.into_iter().map(|s| response(&st, s)).collect()))
}

/// Creates a schedule.
#[utoipa::path(post, path = "/v1/schedules", tag = "schedules", request_body = CreateSchedule,
    responses((status = 200, body = CreatedResponse), (status = 400, body = ErrorResponse)))]
async fn create_schedule(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<CreateSchedule>,
) -> ApiResult<Json<CreatedResponse>> {
    check_name("name", &req.name)?;
    let fields = ScheduleFields {
        timespec: parse_when(&req.when)?,
        text: req.when.trim().to_string(),
        name: req.name,
        summary: req.summary.unwrap_or_default(),
    };
    let id = st.catalog.create_schedule(&fields).await?;
    Ok(Json(CreatedResponse {
        ok: "created".into(),
        uuid: id.0,
        warning: None,
    }))
}

/// Shows a schedule.
#[utoipa::path(get, path = "/v1/schedule/{uuid}", tag = "schedules",
    params(("uuid" = uuid::Uuid, Path, description = "The schedule")),
    responses((status = 200, body = ScheduleResponse), (status = 404, body = ErrorResponse)))]
async fn get_schedule(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<ScheduleResponse>> {
    let id: ScheduleId = parse_id("schedule", &uuid)?;
    let s = st
        .catalog
        .get_schedule(id)
        .await?
        .ok_or_else(|| not_found("schedule", id))?;
    Ok(Json(response(&st, s)))
}

/// Replaces a schedule's name, summary and timespec.
#[utoipa::path(put, path = "/v1/schedule/{uuid}", tag = "schedules", request_body = UpdateSchedule,
    params(("uuid" = uuid::Uuid, Path, description = "The schedule")),
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn update_schedule(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<UpdateSchedule>,
) -> ApiResult<Json<OkResponse>> {
    let id: ScheduleId = parse_id("schedule", &uuid)?;
    check_name("name", &req.name)?;
    let fields = ScheduleFields {
        timespec: parse_when(&req.when)?,
        text: req.when.trim().to_string(),
        name: req.name,
        summary: req.summary,
    };
    updated(
        "schedule",
        id,
        st.catalog.update_schedule(id, &fields).await?,
    )
}

/// Deletes a schedule no job uses.
#[utoipa::path(delete, path = "/v1/schedule/{uuid}", tag = "schedules",
    params(("uuid" = uuid::Uuid, Path, description = "The schedule")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn delete_schedule(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: ScheduleId = parse_id("schedule", &uuid)?;
    deleted("schedule", id, st.catalog.delete_schedule(id).await?)
}
