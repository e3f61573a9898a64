//! `/v1/auth`: logging in and out, who am I, and API tokens.

use axum::Json;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    CreateToken, ErrorResponse, LoginRequest, LoginResponse, OkResponse, TokenCreated, TokenInfo,
    WhoAmI,
};
use bulwark_catalog::{AuditEntry, Token};
use bulwark_core::ids::TargetId;
use bulwark_core::role::Role;

use super::{ok, time_opt};
use crate::auth::secret::{dummy_hash, random_id, random_text, sha256_hex, verify_password};
use crate::auth::{Caller, SESSION_COOKIE, SESSION_PREFIX, TOKEN_PREFIX, Via};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(whoami))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// The peer's address for the audit log and the per-address limit.
fn address(info: Option<&ConnectInfo<std::net::SocketAddr>>) -> String {
    info.map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".to_string())
}

/// Logs in with a user name and password: a session token in the answer, and for browsers an
/// `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS). Failed logins are counted per
/// user and per address; too many lock the user for a while (429).
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 429, body = ErrorResponse)))]
async fn login(
    State(st): State<AppState>,
    info: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    let addr = address(info.as_ref().map(|e| &e.0));
    let now = st.now();
    let cfg = &st.auth;
    let window_start = now - i64::try_from(cfg.lockout_window).unwrap_or(i64::MAX);
    let entry = AuditEntry {
        actor: req.username.chars().take(100).collect(),
        address: addr.clone(),
        action: "login".into(),
        object_kind: "user".into(),
        ..Default::default()
    };
    let user_key = format!("user:{}", req.username);
    let addr_key = format!("addr:{addr}");
    let refuse = |why: String| async {
        st.catalog
            .record_failed_login(
                &[],
                None,
                &entry,
                &format!("refused (429): {why}"),
                now,
                window_start,
            )
            .await?;
        Err::<Response, ApiError>(ApiError::too_many(why))
    };
    if st.catalog.count_failures(&addr_key, window_start).await? >= i64::from(cfg.address_failures)
    {
        return refuse(format!(
            "too many failed logins from {addr}; try again later"
        ))
        .await;
    }
    let user = st.catalog.user_by_name(&req.username).await?;
    let locked = match &user {
        Some(u) => u.locked_until.is_some_and(|t| t > now),
        None => {
            st.catalog.count_failures(&user_key, window_start).await?
                >= i64::from(cfg.lockout_failures)
        }
    };
    if locked {
        return refuse(format!(
            "user {} is locked after too many failed logins; try again later",
            req.username
        ))
        .await;
    }
    let hash = user
        .as_ref()
        .map_or_else(|| dummy_hash().to_string(), |u| u.password_hash.clone());
    let password = req.password.clone();
    let good = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| good) else {
        let failures = st.catalog.count_failures(&user_key, window_start).await? + 1;
        let lock = (failures >= i64::from(cfg.lockout_failures)).then(|| {
            (
                req.username.as_str(),
                now + i64::try_from(cfg.lockout_duration).unwrap_or(i64::MAX),
            )
        });
        let outcome = if lock.is_some() {
            format!("refused (401): wrong user name or password; failure {failures}, user locked")
        } else {
            format!("refused (401): wrong user name or password; failure {failures}")
        };
        st.catalog
            .record_failed_login(
                &[user_key, addr_key],
                lock,
                &entry,
                &outcome,
                now,
                window_start,
            )
            .await?;
        return Err(ApiError::unauthorized("wrong user name or password"));
    };
    let token = format!("{SESSION_PREFIX}{}", random_text(32));
    let csrf = random_text(24);
    let entry = AuditEntry {
        object_uuid: user.uuid.clone(),
        ..entry
    };
    st.catalog
        .create_session(&user, &sha256_hex(&token), &csrf, &entry, now)
        .await?;
    let idle = i64::try_from(cfg.session_idle).unwrap_or(i64::MAX);
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        cfg.session_max,
        if st.tls { "; Secure" } else { "" }
    );
    let mut res = Json(LoginResponse {
        token,
        csrf,
        user: user.name,
        role: user.role.to_string(),
        idle_timeout: idle,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// Ends the caller's session (a token is not ended: revoke it instead) and clears the cookie.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 200, body = OkResponse), (status = 401, body = ErrorResponse),
        (status = 409, body = ErrorResponse, description = "The caller used an API token, which is revoked instead")))]
async fn logout(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    let Via::Session { hash, .. } = &caller.via else {
        return Err(ApiError::conflict(
            "an API token is not a session; revoke it with DELETE /v1/auth/token/{id}",
        ));
    };
    st.catalog.end_session(hash).await?;
    let mut res = ok("logged out").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("bulwark_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(res)
}

/// Who the caller is, with which role and target limit.
#[utoipa::path(get, path = "/v1/auth/whoami", tag = "auth",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorResponse)))]
async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    let (via, token_id, csrf) = match &caller.via {
        Via::Session { csrf, .. } => ("session", None, Some(csrf.clone())),
        Via::Token { id, .. } => ("token", Some(id.clone()), None),
    };
    Json(WhoAmI {
        user: caller.user.clone(),
        role: caller.role.to_string(),
        targets: ids_text(&caller.targets),
        via: via.into(),
        token_id,
        csrf,
    })
}

fn ids_text(t: &Option<Vec<TargetId>>) -> Option<Vec<String>> {
    t.as_ref()
        .map(|v| v.iter().map(ToString::to_string).collect())
}

fn info(t: &Token, now: i64) -> TokenInfo {
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    };
    TokenInfo {
        id: t.id.clone(),
        name: t.name.clone(),
        user: t.user_name.clone(),
        role: t.role.to_string(),
        targets: ids_text(&t.targets),
        scope: t.scope.clone(),
        status: status.into(),
        created_at: bulwark_core::timefmt::format_epoch(t.created_at),
        expires_at: time_opt(t.expires_at),
        revoked_at: time_opt(t.revoked_at),
        last_used_at: time_opt(t.last_used_at),
    }
}

/// The caller's API tokens (an admin's answer lists everyone's). Never their secrets.
#[utoipa::path(get, path = "/v1/auth/tokens", tag = "auth",
    responses((status = 200, body = [TokenInfo]), (status = 401, body = ErrorResponse)))]
async fn list_tokens(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let owner = (!caller.is_admin()).then_some(caller.user_uuid.as_str());
    let now = st.now();
    let list = st.catalog.list_tokens(owner).await?;
    Ok(Json(list.iter().map(|t| info(t, now)).collect()))
}

/// Makes an API token for the caller, shown this once. Its role and target limit may not go
/// beyond the caller's.
#[utoipa::path(post, path = "/v1/auth/tokens", tag = "auth", request_body = CreateToken,
    responses((status = 200, body = TokenCreated), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
async fn create_token(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<CreateToken>,
) -> ApiResult<Json<TokenCreated>> {
    super::check_name("name", &req.name)?;
    let role = match req.role.as_deref() {
        None => caller.role,
        Some(r) => r.parse::<Role>().map_err(ApiError::bad_request)?,
    };
    if role > caller.role {
        return Err(ApiError::forbidden(format!(
            "a token cannot have more rights than its maker: {} has the {} role, not {role}",
            caller.actor(),
            caller.role
        )));
    }
    let targets = match &req.targets {
        None => caller.targets.clone(),
        Some(refs) => {
            let mut ids = Vec::new();
            for r in refs {
                let id = st
                    .catalog
                    .target_by_ref(r)
                    .await?
                    .filter(|id| caller.may_use(Some(*id)))
                    .ok_or_else(|| ApiError::bad_request(format!("target {r} does not exist")))?;
                ids.push(id);
            }
            Some(ids)
        }
    };
    let now = st.now();
    let expires_at = match req.expires_in {
        None => Some(now + i64::try_from(st.auth.token_expiry).unwrap_or(i64::MAX / 2)),
        Some(0) => None,
        Some(s) if (1..=10 * 366 * 86_400).contains(&s) => Some(now + s),
        Some(s) => {
            return Err(ApiError::bad_request(format!(
                "expires_in must be 0 (never) or 1 to {} seconds, not {s}",
                10 * 366 * 86_400
            )));
        }
    };
    if let Some(scope) = &req.scope
        && scope != "metrics"
    {
        return Err(ApiError::bad_request(format!(
            "scope must be metrics (or absent for every route the role allows), not '{scope}'"
        )));
    }
    let id = random_id();
    let secret = random_text(32);
    let token = Token {
        id: id.clone(),
        name: req.name,
        user_uuid: caller.user_uuid.clone(),
        user_name: caller.user.clone(),
        role,
        targets,
        secret_hash: sha256_hex(&secret),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
        scope: req.scope,
    };
    st.catalog.create_token(&token).await?;
    Ok(Json(TokenCreated {
        token: format!("{TOKEN_PREFIX}{id}_{secret}"),
        info: info(&token, now),
    }))
}

/// Revokes a token at once: the caller's own, or anyone's for an admin.
#[utoipa::path(delete, path = "/v1/auth/token/{id}", tag = "auth",
    params(("id" = String, Path, description = "The token's id")),
    responses((status = 200, body = OkResponse), (status = 401, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn revoke_token(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let gone = || ApiError::not_found(format!("token {id} does not exist"));
    let (t, _) = st.catalog.token(&id).await?.ok_or_else(gone)?;
    if t.user_uuid != caller.user_uuid && !caller.is_admin() {
        return Err(gone());
    }
    if !st.catalog.revoke_token(&id, st.now()).await? {
        return Err(ApiError::conflict(format!(
            "token {id} was revoked already"
        )));
    }
    Ok(ok("revoked"))
}
