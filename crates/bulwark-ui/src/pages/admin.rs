//! The admin page (admins only): who may log in, the caller's own API tokens (made and revoked
//! here; a new token's secret is shown once), the agents (approved by fingerprint, revoked,
//! their keys rotated, enrollment tokens made), and the newest rows of the audit log.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use bulwark_api::{AgentResponse, AuditRecord, TokenInfo, UserInfo};

use super::{Chrome, PageError, PageResult, render, session};
use crate::Ui;

#[derive(Template)]
#[template(path = "admin.html")]
struct Admin {
    c: Chrome,
    users: Vec<UserInfo>,
    tokens: Vec<TokenInfo>,
    agents: Vec<AgentResponse>,
    audit: Vec<AuditRecord>,
}

pub(crate) async fn page(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    if !s.may("admin") {
        return Err(PageError::Failed(
            StatusCode::FORBIDDEN,
            "the admin page is for admins".into(),
        ));
    }
    Ok(render(&Admin {
        c: Chrome::new(&s, "Admin", "/admin"),
        users: ui.api.get(&s, "/v1/users").await?,
        tokens: ui.api.get(&s, "/v1/auth/tokens").await?,
        agents: ui.api.get(&s, "/v1/agents").await?,
        audit: ui.api.get(&s, "/v1/audit?limit=50").await?,
    }))
}
