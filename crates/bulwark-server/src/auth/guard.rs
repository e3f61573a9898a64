//! The middleware in front of every route: who is calling ([`authenticate`]), whether the route's
//! rule lets them ([`super::rules`]), whether a browser is being turned against the daemon
//! (foreign `Origin`, cross-site fetches, cookie state changes without the CSRF token, bodies
//! that are not JSON), whether a target-limited caller may see the object, and the audit scope
//! around every state change.

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use bulwark_catalog::AuditEntry;
use bulwark_catalog::audit;

use super::rules::{Need, rule, scoped_kind};
use super::secret::sha256_hex;
use super::{CSRF_HEADER, Caller, SESSION_COOKIE, SESSION_PREFIX, TOKEN_PREFIX, Via, effective};
use crate::error::ApiError;
use crate::state::AppState;

/// Where Prometheus metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// What the operator must do when no user exists yet.
pub const NO_USER_HINT: &str = "no user exists yet; on the daemon's host, create the first with: bulwark user add NAME --role admin --password-stdin";

/// The middleware: see the module's documentation.
pub async fn guard(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        // Unknown routes: the fallback answers 404.
        return next.run(req).await;
    };
    let method = req.method().clone();
    let Some(need) = rule(&method, &path) else {
        if [Method::GET, Method::POST, Method::PUT, Method::DELETE]
            .iter()
            .any(|m| rule(m, &path).is_some())
        {
            // A known route with another method: the router answers 405.
            return next.run(req).await;
        }
        tracing::error!(%method, %path, "A route has no access rule; refused.");
        return ApiError::forbidden("this route has no access rule").into_response();
    };
    let need = if path == METRICS_PATH && st.metrics_public {
        Need::Public
    } else {
        need
    };
    let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let address = peer(&req);
    if changes && let Err(e) = same_origin(&st, req.headers()) {
        return e.into_response();
    }
    let caller = match authenticate(&st, req.headers()).await {
        Ok(c) => c,
        Err(e) if need == Need::Public => {
            // A public route answers anyway, as to a stranger.
            let _ = e;
            None
        }
        Err(e) => return e.into_response(),
    };
    if need == Need::Public {
        if changes && let Err(e) = json_body(req.headers()) {
            return e.into_response();
        }
        if let Some(c) = caller {
            req.extensions_mut().insert(c);
        }
        return next.run(req).await;
    }
    let Some(caller) = caller else {
        let hint = match st.catalog.count_users().await {
            Ok(0) => NO_USER_HINT.to_string(),
            _ => "log in first: send Authorization: Bearer TOKEN (POST /v1/auth/login or an API token)"
                .to_string(),
        };
        return ApiError::unauthorized(hint).into_response();
    };
    let entry = AuditEntry {
        actor: caller.actor(),
        address,
        action: format!("{method} {path}"),
        object_kind: object_kind(&path).to_string(),
        object_uuid: object_id(&path, req.uri().path()).unwrap_or_default(),
        detail: String::new(),
    };
    let actual = req.uri().path().to_string();
    let headers = req.headers().clone();
    if let Err(e) = check(&st, &caller, need, changes, &path, &actual, &headers).await {
        if changes && e.status() == StatusCode::FORBIDDEN {
            let outcome = format!("refused (403): {}", e.message());
            if let Err(err) = st.catalog.record_audit(&entry, &outcome, st.now()).await {
                tracing::error!(error = %err, "Could not write an audit row.");
            }
        }
        return e.into_response();
    }
    req.extensions_mut().insert(caller);
    if !changes {
        return next.run(req).await;
    }
    let now = st.now();
    let (res, left) = audit::scope(entry, now, next.run(req)).await;
    let Some(entry) = left else { return res };
    // Nothing was written under the scope: record the request with its outcome.
    let (res, outcome) = outcome_of(res).await;
    if let Err(err) = st.catalog.record_audit(&entry, &outcome, now).await {
        tracing::error!(error = %err, "Could not write an audit row.");
    }
    res
}

/// The checks after authentication: CSRF, JSON bodies, the role, the target limit.
async fn check(
    st: &AppState,
    caller: &Caller,
    need: Need,
    changes: bool,
    path: &str,
    actual: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if changes {
        if let Via::Session {
            cookie: true, csrf, ..
        } = &caller.via
        {
            let sent = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                return Err(ApiError::forbidden(
                    "a state change with the session cookie needs the session's X-CSRF-Token header",
                ));
            }
        }
        json_body(headers)?;
    }
    if caller.metrics_only() && path != METRICS_PATH {
        return Err(ApiError::forbidden(format!(
            "{} may only read {METRICS_PATH} (its scope is metrics)",
            caller.actor()
        )));
    }
    if let Need::Role(role) = need
        && caller.role < role
    {
        return Err(ApiError::forbidden(format!(
            "this needs the {role} role; {} has the {} role",
            caller.actor(),
            caller.role
        )));
    }
    if caller.targets.is_some()
        && let Some(kind) = scoped_kind(path)
        && let Some(id) = object_id(path, actual)
        && let Some(target) = st.catalog.target_of(kind, &id).await?
        && !caller.may_use(target)
    {
        // Out of the caller's reach: as if it did not exist.
        return Err(ApiError::not_found(format!("{kind} {id} does not exist")));
    }
    Ok(())
}

/// The peer's address, or `local` for in-process calls.
fn peer(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".to_string())
}

/// The `{uuid}`, `{id}` or `{name}` of the request path, found where the route has it.
fn object_id(route: &str, actual: &str) -> Option<String> {
    route
        .split('/')
        .zip(actual.split('/'))
        .find(|(r, _)| r.starts_with('{'))
        .map(|(_, a)| a.to_string())
}

/// `job` for `/v1/job/{uuid}/run` and `/v1/jobs`; `retention` for `/v1/retention`.
fn object_kind(route: &str) -> &str {
    let seg = route
        .trim_start_matches("/v1/")
        .split('/')
        .next()
        .unwrap_or("");
    match seg {
        "auth" => route
            .split('/')
            .nth(3)
            .map_or("auth", |s| s.trim_end_matches('s')),
        "retention" => "retention",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

/// Refuses state changes that a browser makes for another site: a foreign `Origin`, or
/// `Sec-Fetch-Site` other than `same-origin` (or `none`: typed by the user).
fn same_origin(st: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(ApiError::forbidden(format!(
            "cross-site request refused (Sec-Fetch-Site: {site})"
        )));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("null").trim_end_matches('/');
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let scheme = if st.tls { "https" } else { "http" };
    let own = format!("{scheme}://{host}");
    if origin.eq_ignore_ascii_case(&own)
        || st
            .auth
            .trusted_origins
            .iter()
            .any(|t| t.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "cross-origin request refused: Origin {origin} is not this daemon ({own}); see auth.trusted_origins"
    )))
}

/// A request that carries a body must say it is JSON (an HTML form or a `text/plain` fetch
/// cannot).
fn json_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let has_body = length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return Ok(());
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::unsupported_media(format!(
            "request bodies must be JSON with Content-Type: application/json, not '{ct}'"
        )))
    }
}

/// Finds the caller: a bearer token (API or session), else the session cookie. `Ok(None)` when
/// the request carries no credential; an error when it carries a bad one.
pub async fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::unauthorized("the Authorization header must be 'Bearer TOKEN'")
                })
        })
        .transpose()?;
    if let Some(token) = bearer {
        return if token.starts_with(TOKEN_PREFIX) {
            api_token(st, token).await.map(Some)
        } else if token.starts_with(SESSION_PREFIX) {
            session(st, token, false).await.map(Some)
        } else {
            Err(ApiError::unauthorized("the token is not valid"))
        };
    }
    match cookie(headers, SESSION_COOKIE) {
        Some(token) => session(st, &token, true).await.map(Some),
        None => Ok(None),
    }
}

/// A cookie's value.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

async fn api_token(st: &AppState, token: &str) -> Result<Caller, ApiError> {
    let invalid = || ApiError::unauthorized("the token is not valid");
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    let (id, secret) = rest.split_once('_').ok_or_else(invalid)?;
    let (t, user) = st.catalog.token(id).await?.ok_or_else(invalid)?;
    if !constant_time_eq(sha256_hex(secret).as_bytes(), t.secret_hash.as_bytes()) {
        return Err(invalid());
    }
    let now = st.now();
    if t.revoked_at.is_some() {
        return Err(ApiError::unauthorized("the token was revoked"));
    }
    if t.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::unauthorized("the token has expired"));
    }
    st.catalog.touch_token(&t.id, now).await?;
    let (role, targets) = effective(user.role, &user.targets, t.role, &t.targets);
    Ok(Caller {
        user: user.name,
        user_uuid: user.uuid,
        role,
        targets,
        via: Via::Token {
            id: t.id,
            name: t.name,
            scope: t.scope,
        },
    })
}

async fn session(st: &AppState, token: &str, cookie: bool) -> Result<Caller, ApiError> {
    let hash = sha256_hex(token);
    let s = st
        .catalog
        .session(&hash)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the session is not valid; log in again"))?;
    let now = st.now();
    let idle = i64::try_from(st.auth.session_idle).unwrap_or(i64::MAX);
    let max = i64::try_from(st.auth.session_max).unwrap_or(i64::MAX);
    if s.last_seen.saturating_add(idle) <= now || s.created_at.saturating_add(max) <= now {
        st.catalog.end_session(&hash).await?;
        return Err(ApiError::unauthorized(
            "the session has expired; log in again",
        ));
    }
    st.catalog.touch_session(&hash, now).await?;
    Ok(Caller {
        user: s.user.name,
        user_uuid: s.user.uuid,
        role: s.user.role,
        targets: s.user.targets,
        via: Via::Session {
            hash,
            csrf: s.csrf,
            cookie,
        },
    })
}

/// Compares two secrets' bytes in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The audit outcome of a response: `ok`, or `refused (STATUS): message`. Error bodies are
/// small JSON documents; they are read and put back.
async fn outcome_of(res: Response) -> (Response, String) {
    let status = res.status();
    if status.is_success() {
        return (res, "ok".to_string());
    }
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    let word = if status.is_server_error() {
        "failed"
    } else {
        "refused"
    };
    (
        Response::from_parts(parts, Body::from(bytes)),
        format!("{word} ({}): {message}", status.as_u16()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_and_kinds_come_from_the_route() {
        assert_eq!(
            object_id("/v1/job/{uuid}/run", "/v1/job/abc/run").as_deref(),
            Some("abc")
        );
        assert_eq!(object_id("/v1/jobs", "/v1/jobs"), None);
        assert_eq!(object_kind("/v1/job/{uuid}/run"), "job");
        assert_eq!(object_kind("/v1/jobs"), "job");
        assert_eq!(object_kind("/v1/retention/{uuid}"), "retention");
        assert_eq!(object_kind("/v1/auth/tokens"), "token");
        assert_eq!(object_kind("/v1/auth/token/{id}"), "token");
        assert_eq!(object_kind("/v1/auth/logout"), "logout");
    }

    #[test]
    fn only_json_bodies_pass() {
        let mut h = HeaderMap::new();
        assert!(json_body(&h).is_ok(), "no body");
        h.insert(header::CONTENT_LENGTH, "5".parse().unwrap());
        assert_eq!(
            json_body(&h).unwrap_err().status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            h.insert(header::CONTENT_TYPE, bad.parse().unwrap());
            assert!(json_body(&h).is_err(), "{bad}");
        }
        for good in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
        ] {
            h.insert(header::CONTENT_TYPE, good.parse().unwrap());
            assert!(json_body(&h).is_ok(), "{good}");
        }
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; bulwark_session=bws_x; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("bws_x"));
        assert_eq!(cookie(&h, "c"), None);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
