//! `/v1/notifications`, `/v1/notification/{uuid}` (and its test send) and
//! `/v1/notifications/deliveries`: admins only, since a channel sends the daemon's news out.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use bulwark_api::{
    ChannelCreated, ChannelRequest, ChannelResponse, DeliveryResponse, ErrorResponse, OkResponse,
};
use bulwark_catalog::{Channel, ChannelFields, Delivery, DeliveryFilter};
use bulwark_core::ids::JobId;
use bulwark_core::timefmt::format_epoch;

use super::{check_name, deleted, not_found, redacted, time_opt, updated};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Query};
use crate::notify::{Event, parse_settings};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel, update_channel, delete_channel))
        .routes(routes!(test_channel))
        .routes(routes!(list_deliveries))
}

fn parse_uuid(what: &str, s: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| ApiError::bad_request(format!("'{s}' is not a {what} UUID")))
}

fn response(c: Channel) -> ChannelResponse {
    ChannelResponse {
        uuid: c.uuid,
        name: c.name,
        kind: c.kind,
        config: serde_json::from_str(&redacted(&c.config)).unwrap_or(Value::Null),
        events: c.events,
        jobs: c.jobs.into_iter().map(|j| j.0).collect(),
        enabled: c.enabled,
        created_at: format_epoch(c.created_at),
    }
}

fn delivery(d: Delivery) -> DeliveryResponse {
    let pending = d.status == "pending";
    DeliveryResponse {
        uuid: d.uuid,
        channel_uuid: d.channel,
        channel_name: d.channel_name,
        event: d.event,
        status: d.status,
        attempts: d.attempts,
        error: d.last_error,
        job_uuid: d.job.map(|j| j.0),
        task_uuid: d.task.map(|t| t.0),
        created_at: format_epoch(d.created_at),
        next_attempt_at: if pending { time_opt(d.next_at) } else { None },
        sent_at: time_opt(d.sent_at),
        payload: serde_json::from_str(&d.payload).unwrap_or(Value::Null),
    }
}

/// Checks a request and makes the fields to store: secrets restored from `stored` where the
/// request says `<redacted>`, settings checked for the kind, then sealed. Returns the fields and
/// the signing secret made for a new webhook that had none.
async fn fields(
    st: &AppState,
    req: ChannelRequest,
    stored: Option<&Channel>,
) -> ApiResult<(ChannelFields, Option<String>)> {
    check_name("name", &req.name)?;
    let mut config = req.config;
    let mut made = None;
    if req.kind == "webhook" && stored.is_none() && !config.contains_key("secret") {
        let secret = crate::auth::secret::random_text(24);
        config.insert("secret".into(), Value::String(secret.clone()));
        made = Some(secret);
    }
    let old: Map<String, Value> = match stored {
        Some(c) => crate::sealing::open(&st.vault, &c.config)
            .ok()
            .and_then(|plain| serde_json::from_str(&plain).ok())
            .unwrap_or_default(),
        None => Map::new(),
    };
    bulwark_core::redact::restore_secrets(&mut config, &old).map_err(ApiError::bad_request)?;
    parse_settings(&req.kind, &config).map_err(ApiError::bad_request)?;
    let events = match req.events {
        None => Event::defaults(),
        Some(list) => {
            if list.is_empty() {
                return Err(ApiError::bad_request(
                    "events is empty: name at least one, or disable the channel",
                ));
            }
            for e in &list {
                if Event::parse(e).is_none() {
                    let known: Vec<&str> = Event::CHOOSABLE.iter().map(|e| e.as_str()).collect();
                    return Err(ApiError::bad_request(format!(
                        "unknown event '{e}'; the events are {}",
                        known.join(", ")
                    )));
                }
            }
            let mut list = list;
            list.sort();
            list.dedup();
            list
        }
    };
    let mut jobs = Vec::new();
    for j in req.jobs.unwrap_or_default() {
        let id = JobId(j);
        if st.catalog.get_job(id).await?.is_none() {
            return Err(ApiError::bad_request(format!("job {id} does not exist")));
        }
        if !jobs.contains(&id) {
            jobs.push(id);
        }
    }
    let plain = Value::Object(config).to_string();
    Ok((
        ChannelFields {
            name: req.name,
            kind: req.kind,
            config: crate::sealing::seal(&st.vault, &plain).map_err(ApiError::bad_request)?,
            events,
            jobs,
            enabled: req.enabled.unwrap_or(true),
        },
        made,
    ))
}

/// Lists notification channels.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications",
    responses((status = 200, body = [ChannelResponse])))]
async fn list_channels(State(st): State<AppState>) -> ApiResult<Json<Vec<ChannelResponse>>> {
    let rows = st.catalog.list_channels().await?;
    Ok(Json(rows.into_iter().map(response).collect()))
}

/// Makes a notification channel. A webhook without a `secret` gets one, returned only here.
#[utoipa::path(post, path = "/v1/notifications", tag = "notifications", request_body = ChannelRequest,
    responses((status = 200, body = ChannelCreated), (status = 400, body = ErrorResponse),
        (status = 409, body = ErrorResponse)))]
async fn create_channel(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<ChannelRequest>,
) -> ApiResult<Json<ChannelCreated>> {
    let (f, secret) = fields(&st, req, None).await?;
    let uuid = st.catalog.create_channel(&f, st.now()).await?;
    Ok(Json(ChannelCreated {
        ok: "created".into(),
        uuid,
        secret,
    }))
}

async fn channel(st: &AppState, uuid: &str) -> ApiResult<Channel> {
    let id = parse_uuid("notification channel", uuid)?;
    st.catalog
        .get_channel(id)
        .await?
        .ok_or_else(|| not_found("notification channel", id))
}

/// Shows a notification channel.
#[utoipa::path(get, path = "/v1/notification/{uuid}", tag = "notifications",
    params(("uuid" = uuid::Uuid, Path, description = "The channel")),
    responses((status = 200, body = ChannelResponse), (status = 404, body = ErrorResponse)))]
async fn get_channel(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<ChannelResponse>> {
    Ok(Json(response(channel(&st, &uuid).await?)))
}

/// Replaces a notification channel; settings sent as `<redacted>` keep the stored secret.
#[utoipa::path(put, path = "/v1/notification/{uuid}", tag = "notifications", request_body = ChannelRequest,
    params(("uuid" = uuid::Uuid, Path, description = "The channel")),
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn update_channel(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<ChannelRequest>,
) -> ApiResult<Json<OkResponse>> {
    let old = channel(&st, &uuid).await?;
    if req.kind != old.kind {
        return Err(ApiError::bad_request(format!(
            "a channel's kind cannot change (it is {}); make a new channel",
            old.kind
        )));
    }
    if req.kind == "webhook" && !req.config.contains_key("secret") {
        return Err(ApiError::bad_request(format!(
            "a webhook keeps a secret: send \"secret\": \"{}\" to keep the stored one",
            bulwark_core::redact::REDACTED
        )));
    }
    let (f, _) = fields(&st, req, Some(&old)).await?;
    updated(
        "notification channel",
        old.uuid,
        st.catalog.update_channel(old.uuid, &f).await?,
    )
}

/// Deletes a notification channel and its deliveries.
#[utoipa::path(delete, path = "/v1/notification/{uuid}", tag = "notifications",
    params(("uuid" = uuid::Uuid, Path, description = "The channel")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse)))]
async fn delete_channel(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id = parse_uuid("notification channel", &uuid)?;
    deleted(
        "notification channel",
        id,
        st.catalog.delete_channel(id).await?,
    )
}

/// Sends a test event to a channel now, once (even a disabled one), and answers the delivery:
/// `sent`, or `failed` with the reason.
#[utoipa::path(post, path = "/v1/notification/{uuid}/test", tag = "notifications",
    params(("uuid" = uuid::Uuid, Path, description = "The channel")),
    responses((status = 200, body = DeliveryResponse), (status = 404, body = ErrorResponse)))]
async fn test_channel(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<DeliveryResponse>> {
    let c = channel(&st, &uuid).await?;
    let d = st
        .engine
        .notifier()
        .test(&c, &caller.actor())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(delivery(d)))
}

/// Filters of the delivery list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    /// Only those of this channel (its UUID).
    channel: Option<Uuid>,
    /// Only those `pending`, `sent` or `failed`.
    #[param(pattern = "^(pending|sent|failed)$")]
    status: Option<String>,
    /// Only those of this event.
    event: Option<String>,
    /// At most this many, newest first (default 100, at most 10000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

/// Lists deliveries, newest first.
#[utoipa::path(get, path = "/v1/notifications/deliveries", tag = "notifications", params(DeliveryQuery),
    responses((status = 200, body = [DeliveryResponse]), (status = 400, body = ErrorResponse)))]
async fn list_deliveries(
    State(st): State<AppState>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Vec<DeliveryResponse>>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to 10000, not {limit}"
        )));
    }
    if let Some(s) = &q.status
        && !matches!(s.as_str(), "pending" | "sent" | "failed")
    {
        return Err(ApiError::bad_request(format!(
            "status must be pending, sent or failed, not '{s}'"
        )));
    }
    let filter = DeliveryFilter {
        channel: q.channel,
        status: q.status,
        event: q.event,
        limit,
    };
    let rows = st.catalog.list_deliveries(&filter).await?;
    Ok(Json(rows.into_iter().map(delivery).collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_made_secret_is_long_enough_for_a_webhook() {
        let s = crate::auth::secret::random_text(24);
        assert!(s.len() >= crate::notify::webhook::MIN_SECRET, "{s}");
    }
}
