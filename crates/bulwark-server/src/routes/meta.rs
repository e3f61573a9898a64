//! `/v1/meta/pubkey`, `/v1/status` and the index page.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{CatalogStatus, StatusResponse};
use bulwark_core::timefmt::format_epoch;

use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pubkey))
        .routes(routes!(status))
}

/// The daemon's public key in OpenSSH format, for agents to authorize.
#[utoipa::path(get, path = "/v1/meta/pubkey", tag = "meta",
    responses((status = 200, content_type = "text/plain", body = String, example = "ssh-ed25519 AAAAC3Nza... bulwark-core")))]
async fn pubkey(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", st.agents.key().to_openssh()),
    )
}

/// Whether the daemon and its catalog are healthy: 200 when they are, 503 otherwise. Without a
/// login the answer holds `health` alone.
#[utoipa::path(get, path = "/v1/status", tag = "meta",
    responses((status = 200, body = StatusResponse), (status = 503, body = StatusResponse)))]
async fn status(
    State(st): State<AppState>,
    caller: Option<axum::extract::Extension<crate::auth::Caller>>,
) -> impl IntoResponse {
    let (ok, error) = match st.catalog.health().await {
        Ok(()) => (true, None),
        Err(e) => (false, Some(e.to_string())),
    };
    let schema_version = if ok {
        st.catalog.schema_version().await.ok()
    } else {
        None
    };
    let now = st.clock.now();
    let health = if ok { "ok" } else { "degraded" }.to_string();
    // A stranger learns whether the daemon is healthy, and nothing else.
    let body = if caller.is_none() {
        StatusResponse {
            health,
            version: None,
            started_at: None,
            uptime_seconds: None,
            timezone: None,
            mode: None,
            catalog: None,
            warnings: Vec::new(),
            jobs: None,
            attention: Vec::new(),
        }
    } else {
        StatusResponse {
            health,
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            started_at: Some(format_epoch(st.started_at.timestamp())),
            uptime_seconds: Some(u64::try_from((now - st.started_at).num_seconds()).unwrap_or(0)),
            timezone: Some(st.tz.name().to_string()),
            mode: Some(st.mode.as_str().to_string()),
            catalog: Some(CatalogStatus {
                kind: "sqlite".into(),
                ok,
                schema_version,
                error,
            }),
            warnings: st.warnings.to_vec(),
            jobs: None,
            attention: Vec::new(),
        }
    };
    let mut body = body;
    if let Some(axum::extract::Extension(caller)) = &caller
        && ok
    {
        let mut counts = std::collections::BTreeMap::new();
        for h in bulwark_core::health::Health::ALL {
            counts.insert(h.to_string(), 0u64);
        }
        if let Ok(jobs) = st.catalog.list_jobs(&Default::default()).await {
            for j in jobs
                .into_iter()
                .filter(|j| caller.may_use(Some(j.target.uuid)))
            {
                let name = j.name.clone();
                if let Ok(r) = super::jobs::response(&st, j).await {
                    *counts.entry(r.health.clone()).or_default() += 1;
                    if matches!(r.health.as_str(), "late" | "failing" | "never") {
                        body.attention.push(format!("{name}: {}", r.health));
                    }
                }
            }
        }
        body.jobs = Some(counts);
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
