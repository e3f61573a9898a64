//! `GET /v1/audit`: the audit log, for admins (no route changes or deletes it); and `GET
//! /v1/users`, who may log in (users are made and changed on the daemon's host with `bulwark
//! user`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{AuditRecord, ErrorResponse, UserInfo};
use bulwark_catalog::AuditFilter;
use bulwark_core::timefmt::format_epoch;

use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(list_users))
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Only what this user did (themselves or through their tokens).
    user: Option<String>,
    /// Only what concerned this object (a uuid or token id).
    object: Option<String>,
    /// Only rows on or after this UTC day, `YYYYMMDD`.
    after: Option<String>,
    /// Only rows before this UTC day, `YYYYMMDD`.
    before: Option<String>,
    /// At most this many rows, newest first (default 1000, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

fn day(name: &str, s: Option<&str>) -> ApiResult<Option<i64>> {
    s.map(|s| {
        chrono::NaiveDate::parse_from_str(s, "%Y%m%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp())
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a day YYYYMMDD, not '{s}'"))
            })
    })
    .transpose()
}

/// Lists the audit log, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "auth", params(AuditQuery),
    responses((status = 200, body = [AuditRecord]), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn list_audit(
    State(st): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to 10000, not {limit}"
        )));
    }
    let filter = AuditFilter {
        actor: q.user,
        object: q.object,
        since: day("after", q.after.as_deref())?,
        until: day("before", q.before.as_deref())?,
        limit,
    };
    let rows = st.catalog.list_audit(&filter).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditRecord {
                id: r.id,
                at: format_epoch(r.at),
                actor: r.entry.actor,
                address: r.entry.address,
                action: r.entry.action,
                object_kind: r.entry.object_kind,
                object: r.entry.object_uuid,
                outcome: r.outcome,
                detail: r.entry.detail,
            })
            .collect(),
    ))
}

/// Lists the users who may log in, by name (admins only; users are made, changed and removed
/// on the daemon's host with `bulwark user`).
#[utoipa::path(get, path = "/v1/users", tag = "auth",
    responses((status = 200, body = [UserInfo]), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn list_users(State(st): State<AppState>) -> ApiResult<Json<Vec<UserInfo>>> {
    let users = st.catalog.list_users().await?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| UserInfo {
                name: u.name,
                role: u.role.to_string(),
                targets: u
                    .targets
                    .map(|t| t.into_iter().map(|t| t.to_string()).collect()),
                created_at: format_epoch(u.created_at),
                locked_until: u.locked_until.map(format_epoch),
            })
            .collect(),
    ))
}
