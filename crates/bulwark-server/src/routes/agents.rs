//! `/v1/agents`, `/v1/agent/{uuid}` with approve and revoke, and `/v1/agent-tokens`.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{
    AgentResponse, AgentTokenResponse, ApproveAgent, CoreKeyRotated, CreateAgentToken,
    CreatedResponse, ErrorResponse, OkResponse, RegisterAgent, RotateCoreKey, UnreachedAgent,
};
use bulwark_catalog::Agent;
use bulwark_core::ids::AgentId;
use bulwark_core::timefmt::format_epoch;
use bulwark_link::PublicKey;

use super::{changed, check_name, deleted, not_found};
use crate::agents::Contact;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, register_agent))
        .routes(routes!(get_agent, delete_agent))
        .routes(routes!(approve_agent))
        .routes(routes!(revoke_agent))
        .routes(routes!(rotate_agent_key))
        .routes(routes!(rotate_core_key))
        .routes(routes!(create_agent_token))
}

fn response(st: &AppState, a: Agent) -> AgentResponse {
    AgentResponse {
        uuid: a.uuid.0,
        online: st.agents.online(a.uuid),
        link_bytes: st.agents.link_bytes(a.uuid),
        fingerprint: PublicKey::from_openssh(&a.public_key)
            .map(|k| k.fingerprint())
            .unwrap_or_default(),
        name: a.name,
        address: a.address,
        mode: a.mode,
        public_key: a.public_key,
        status: a.status,
        version: a.version,
        plugins: serde_json::from_str(&a.plugins).unwrap_or_default(),
        last_seen: a.last_seen_at.map(format_epoch),
        last_error: a.last_error,
    }
}

fn check_address(address: &str) -> ApiResult<()> {
    if address == bulwark_core::validate::LOCAL_AGENT {
        return Err(ApiError::bad_request(
            "'local' is the daemon's own host; an agent needs a host:port address",
        ));
    }
    bulwark_core::validate::agent_address(address).map_err(ApiError::bad_request)
}

async fn agent(st: &AppState, uuid: &str) -> ApiResult<Agent> {
    let id: AgentId = parse_id("agent", uuid)?;
    st.catalog
        .get_agent(id)
        .await?
        .ok_or_else(|| not_found("agent", id))
}

/// Lists agents.
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    responses((status = 200, body = [AgentResponse])))]
async fn list_agents(State(st): State<AppState>) -> ApiResult<Json<Vec<AgentResponse>>> {
    let rows = st.catalog.list_agents().await?;
    Ok(Json(rows.into_iter().map(|a| response(&st, a)).collect()))
}

/// First contact with a listen-mode agent: the core dials `address`, learns the agent's key and
/// records it `pending`; approve it with the fingerprint the agent prints. The agent must have
/// authorized the core's key (from `/v1/meta/pubkey`). 400 when it cannot be reached or
/// refuses the core; 409 when its address or key is recorded already.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = RegisterAgent,
    responses((status = 200, body = CreatedResponse), (status = 400, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn register_agent(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<RegisterAgent>,
) -> ApiResult<Json<CreatedResponse>> {
    check_address(&req.address)?;
    if let Some(n) = &req.name {
        check_name("name", n)?;
    }
    if let Some(a) = st.catalog.agent_by_address(&req.address).await? {
        return Err(ApiError::conflict(format!(
            "agent '{}' is recorded at {} already",
            a.name, req.address
        )));
    }
    match st.agents.register(&req.address, req.name.as_deref()).await {
        Ok(id) => Ok(Json(CreatedResponse {
            ok: "created".into(),
            uuid: id.0,
            warning: Some(
                "the agent is pending: compare its fingerprint with what `bulwark agent --fingerprint` prints on its host, then approve it"
                    .into(),
            ),
        })),
        Err(Contact::Taken(why)) => Err(ApiError::conflict(why)),
        Err(Contact::Failed(why)) => Err(ApiError::bad_request(why)),
    }
}

/// Shows an agent.
#[utoipa::path(get, path = "/v1/agent/{uuid}", tag = "agents",
    params(("uuid" = uuid::Uuid, Path, description = "The agent")),
    responses((status = 200, body = AgentResponse), (status = 404, body = ErrorResponse)))]
async fn get_agent(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<AgentResponse>> {
    let a = agent(&st, &uuid).await?;
    Ok(Json(response(&st, a)))
}

/// Forgets an agent; its session, if any, is closed. It can enroll again only with a new token
/// or a new first contact.
#[utoipa::path(delete, path = "/v1/agent/{uuid}", tag = "agents",
    params(("uuid" = uuid::Uuid, Path, description = "The agent")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse)))]
async fn delete_agent(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: AgentId = parse_id("agent", &uuid)?;
    let d = st.catalog.delete_agent(id).await?;
    st.agents.drop_session(id);
    deleted("agent", id, d)
}

/// Approves a pending (or revoked) agent, given the fingerprint of the key it prints on its
/// host: a mismatch is a 400, and the agent stays as it was. A listen-mode agent is dialed at
/// once.
#[utoipa::path(post, path = "/v1/agent/{uuid}/approve", tag = "agents", request_body = ApproveAgent,
    params(("uuid" = uuid::Uuid, Path, description = "The agent")),
    responses((status = 200, body = OkResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn approve_agent(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    JsonBody(req): JsonBody<ApproveAgent>,
) -> ApiResult<Json<OkResponse>> {
    let a = agent(&st, &uuid).await?;
    let fingerprint = PublicKey::from_openssh(&a.public_key)
        .map(|k| k.fingerprint())
        .unwrap_or_default();
    if req.fingerprint.trim() != fingerprint {
        return Err(ApiError::bad_request(format!(
            "agent '{}' presented key {fingerprint}, not {}: check the agent's host, and whether something sits between the core and it",
            a.name,
            req.fingerprint.trim()
        )));
    }
    let out = changed(
        "approved",
        "agent",
        a.uuid,
        st.catalog.set_agent_status(a.uuid, "approved").await?,
    )?;
    if a.mode == "listen"
        && let Some(a) = st.catalog.get_agent(a.uuid).await?
        && let Err(e) = st.agents.session(&a).await
    {
        tracing::warn!(agent = %a.uuid, error = %e, "An approved agent cannot be reached yet.");
    }
    Ok(out)
}

/// Revokes an agent: its session is closed at once and its key refused from now on.
#[utoipa::path(post, path = "/v1/agent/{uuid}/revoke", tag = "agents",
    params(("uuid" = uuid::Uuid, Path, description = "The agent")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse)))]
async fn revoke_agent(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: AgentId = parse_id("agent", &uuid)?;
    let out = changed(
        "revoked",
        "agent",
        id,
        st.catalog.set_agent_status(id, "revoked").await?,
    )?;
    st.agents.drop_session(id);
    tracing::info!(agent = %id, "Agent revoked.");
    Ok(out)
}

/// Rotates an approved agent's key: the agent makes a new one, the core pins it, and the agent
/// uses it from its next connection. 400 when the agent cannot be reached or refuses; 409 when
/// it is not approved.
#[utoipa::path(post, path = "/v1/agent/{uuid}/rotate-key", tag = "agents",
    params(("uuid" = uuid::Uuid, Path, description = "The agent")),
    responses((status = 200, body = AgentResponse), (status = 400, body = ErrorResponse),
              (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn rotate_agent_key(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<AgentResponse>> {
    let a = agent(&st, &uuid).await?;
    if a.status != "approved" {
        return Err(ApiError::conflict(format!(
            "agent '{}' is {}; only an approved agent's key is rotated",
            a.name, a.status
        )));
    }
    match st.agents.rotate(&a).await {
        Ok(key) => tracing::info!(agent = %a.uuid, %key, "Agent key rotated."),
        Err(Contact::Taken(why)) => return Err(ApiError::conflict(why)),
        Err(Contact::Failed(why)) => return Err(ApiError::bad_request(why)),
    }
    let a = agent(&st, &uuid).await?;
    Ok(Json(response(&st, a)))
}

/// Rotates the core's own key. Every approved agent first authorizes the new key beside the
/// old one, then the core takes it, then the agents forget the old one. 409, changing nothing,
/// when an approved agent cannot be reached, unless `force`; a forced rotation names them.
/// Enrollment tokens made before carry the old key's fingerprint and no longer work.
#[utoipa::path(post, path = "/v1/agents/rotate-core-key", tag = "agents", request_body = RotateCoreKey,
    responses((status = 200, body = CoreKeyRotated), (status = 400, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn rotate_core_key(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<RotateCoreKey>,
) -> ApiResult<Json<CoreKeyRotated>> {
    let r = match st.agents.rotate_core(&st.data_dir, req.force).await {
        Ok(r) => r,
        Err(Contact::Taken(why)) => return Err(ApiError::conflict(why)),
        Err(Contact::Failed(why)) => return Err(ApiError::bad_request(why)),
    };
    Ok(Json(CoreKeyRotated {
        public_key: r.new.to_openssh(),
        fingerprint: r.new.fingerprint(),
        previous_fingerprint: r.old.fingerprint(),
        updated: r.updated,
        unreached: r
            .unreached
            .into_iter()
            .map(|(agent, error)| UnreachedAgent { agent, error })
            .collect(),
    }))
}

/// Makes a single-use enrollment token for a dial-out agent, shown once. The agent joins with
/// it (`bulwark agent --token`), at `address`; the token carries the core key's fingerprint,
/// which the agent pins.
#[utoipa::path(post, path = "/v1/agent-tokens", tag = "agents", request_body = CreateAgentToken,
    responses((status = 200, body = AgentTokenResponse), (status = 400, body = ErrorResponse),
              (status = 409, body = ErrorResponse)))]
async fn create_agent_token(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<CreateAgentToken>,
) -> ApiResult<Json<AgentTokenResponse>> {
    check_address(&req.address)?;
    let lifetime = req.expires_in.unwrap_or(3600);
    if !(60..=30 * 86_400).contains(&lifetime) {
        return Err(ApiError::bad_request(format!(
            "expires_in must be 60 to 2592000 seconds (30 days), not {lifetime}"
        )));
    }
    if let Some(a) = st.catalog.agent_by_address(&req.address).await? {
        return Err(ApiError::conflict(format!(
            "agent '{}' is recorded at {} already",
            a.name, req.address
        )));
    }
    let core = st.agents.key().fingerprint();
    let (token, hash) = crate::agents::make_token(&core);
    let id = uuid::Uuid::new_v4().to_string();
    let now = st.now();
    st.catalog
        .create_agent_token(&id, &hash, &req.address, now, now + lifetime)
        .await?;
    Ok(Json(AgentTokenResponse {
        token,
        address: req.address,
        expires_at: format_epoch(now + lifetime),
        core_fingerprint: core,
    }))
}
