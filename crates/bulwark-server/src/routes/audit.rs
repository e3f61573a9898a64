//! `GET /v1/audit`: the audit log, for admins. No route changes or deletes it.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{AuditRecord, ErrorResponse};
use bulwark_catalog::AuditFilter;
use bulwark_core::timefmt::format_epoch;

use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
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
