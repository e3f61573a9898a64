//! `/v1/retention`, `/v1/retention/{uuid}`, their previews and `/v1/retention/sweep`.

use axum::Json;
use axum::extract::{Extension, Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CreateRetention, CreatedResponse, ErrorResponse, OkResponse, PreviewArchive, PreviewQuery,
    RetentionPreview, RetentionResponse, RetentionRules, SweepResponse, UpdateRetention,
};
use bulwark_catalog::{Retention, RetentionFields};
use bulwark_core::ids::{JobId, RetentionId};
use bulwark_core::retention::{Rules, decide};
use bulwark_core::timefmt::format_epoch;

use super::schedules::UnusedQuery;
use super::{check_name, deleted, not_found, updated};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Query, parse_id};
use crate::state::AppState;

/// The longest retention accepted: a hundred years.
pub(super) const MAXIMUM_EXPIRY: i64 = 100 * 365 * 86_400;
/// The largest count a `keep_*` rule takes.
const MAXIMUM_COUNT: u32 = 100_000;
/// The largest `min_good`.
const MAXIMUM_MIN_GOOD: u32 = 1000;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_retention, create_retention))
        .routes(routes!(get_retention, update_retention, delete_retention))
        .routes(routes!(preview_retention))
        .routes(routes!(preview_unsaved))
        .routes(routes!(sweep))
}

/// Checks a body's rules and turns them into the core's.
fn check_rules(st: &AppState, r: &RetentionRules) -> ApiResult<Rules> {
    if let Some(expires) = r.expires {
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
    }
    for (name, n) in [
        ("keep_last", r.keep_last),
        ("keep_hourly", r.keep_hourly),
        ("keep_daily", r.keep_daily),
        ("keep_weekly", r.keep_weekly),
        ("keep_monthly", r.keep_monthly),
        ("keep_yearly", r.keep_yearly),
    ] {
        if let Some(n) = n.filter(|n| *n > MAXIMUM_COUNT) {
            return Err(ApiError::bad_request(format!(
                "{name} must be 0 to {MAXIMUM_COUNT}, not {n}"
            )));
        }
    }
    if let Some(w) = r.keep_within.filter(|w| !(1..=MAXIMUM_EXPIRY).contains(w)) {
        return Err(ApiError::bad_request(format!(
            "keep_within must be 1 to {MAXIMUM_EXPIRY} seconds (100 years), not {w}"
        )));
    }
    if let Some(m) = r.min_good.filter(|m| *m > MAXIMUM_MIN_GOOD) {
        return Err(ApiError::bad_request(format!(
            "min_good must be 0 to {MAXIMUM_MIN_GOOD}, not {m}"
        )));
    }
    let rules = Rules {
        expires: r.expires,
        keep_last: r.keep_last,
        keep_hourly: r.keep_hourly,
        keep_daily: r.keep_daily,
        keep_weekly: r.keep_weekly,
        keep_monthly: r.keep_monthly,
        keep_yearly: r.keep_yearly,
        keep_within: r.keep_within,
        min_good: r.min_good.unwrap_or(1),
    };
    if !rules.keeps_anything() {
        return Err(ApiError::bad_request(
            "a retention policy needs expires or a keep_* rule (keep_last, keep_hourly, \
             keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within); without one \
             every archive would be purged",
        ));
    }
    Ok(rules)
}

fn response(r: Retention) -> RetentionResponse {
    let rules = r.rules.describe();
    let r2 = r.rules;
    RetentionResponse {
        uuid: r.uuid.0,
        name: r.name,
        summary: r.summary,
        expires: r2.expires,
        keep_last: r2.keep_last,
        keep_hourly: r2.keep_hourly,
        keep_daily: r2.keep_daily,
        keep_weekly: r2.keep_weekly,
        keep_monthly: r2.keep_monthly,
        keep_yearly: r2.keep_yearly,
        keep_within: r2.keep_within,
        min_good: r2.min_good,
        rules,
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
    let fields = RetentionFields {
        rules: check_rules(&st, &req.rules())?,
        name: req.name,
        summary: req.summary.unwrap_or_default(),
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
    Ok(Json(response(policy(&st, id).await?)))
}

async fn policy(st: &AppState, id: RetentionId) -> ApiResult<Retention> {
    st.catalog
        .get_retention(id)
        .await?
        .ok_or_else(|| not_found("retention policy", id))
}

/// Replaces a retention policy. The next sweep applies the new rules to every archive of the
/// jobs that use it; preview them first.
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
    let fields = RetentionFields {
        rules: check_rules(&st, &req.rules())?,
        name: req.name,
        summary: req.summary,
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

/// What `rules` would do now to every valid archive of `job`, newest first: the same decision
/// the sweep makes.
pub(crate) async fn preview(
    st: &AppState,
    caller: &Caller,
    job: JobId,
    rules: &Rules,
) -> ApiResult<RetentionPreview> {
    match st.catalog.get_job(job).await? {
        Some(j) if caller.may_use(Some(j.target.uuid)) => {}
        _ => return Err(not_found("job", job)),
    }
    let items: Vec<_> = st
        .catalog
        .retention_members(Some(job), Some(rules))
        .await?
        .into_iter()
        .map(|m| m.item)
        .collect();
    let verdicts = decide(&items, rules, st.clock.now(), st.tz);
    let keep = verdicts.iter().filter(|v| v.keep()).count();
    Ok(RetentionPreview {
        job_uuid: job.0,
        rules: rules.describe(),
        keep,
        purge: verdicts.len() - keep,
        archives: verdicts
            .into_iter()
            .map(|v| PreviewArchive {
                uuid: v.id.0,
                taken_at: format_epoch(v.taken_at),
                action: if v.keep() { "keep" } else { "purge" }.into(),
                kept_by: v.reasons.iter().map(|r| r.as_str().to_string()).collect(),
                expires_at: v.until.map(format_epoch),
            })
            .collect(),
    })
}

/// Shows what a saved policy would keep and purge of a job's archives if the sweep ran now
/// under it (whatever policy the job has).
#[utoipa::path(get, path = "/v1/retention/{uuid}/preview", tag = "retention",
    params(("uuid" = uuid::Uuid, Path, description = "The retention policy"), PreviewQuery),
    responses((status = 200, body = RetentionPreview), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn preview_retention(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(uuid): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> ApiResult<Json<RetentionPreview>> {
    let id: RetentionId = parse_id("retention policy", &uuid)?;
    let rules = policy(&st, id).await?.rules;
    Ok(Json(preview(&st, &caller, JobId(q.job), &rules).await?))
}

/// Shows what a policy not yet saved (the body of a create) would keep and purge of a job's
/// archives.
#[utoipa::path(post, path = "/v1/retention/preview", tag = "retention", params(PreviewQuery),
    request_body = CreateRetention,
    responses((status = 200, body = RetentionPreview), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn preview_unsaved(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PreviewQuery>,
    JsonBody(req): JsonBody<CreateRetention>,
) -> ApiResult<Json<RetentionPreview>> {
    let rules = check_rules(&st, &req.rules())?;
    Ok(Json(preview(&st, &caller, JobId(q.job), &rules).await?))
}

/// Runs the retention sweep now (it also runs every `retention.sweep_interval`): queues a
/// purge of every archive no rule keeps, and retries failed purges.
#[utoipa::path(post, path = "/v1/retention/sweep", tag = "retention",
    responses((status = 200, body = SweepResponse)))]
async fn sweep(State(st): State<AppState>) -> ApiResult<Json<SweepResponse>> {
    let purges = st.engine.sweep_once().await?;
    Ok(Json(SweepResponse { purges }))
}
