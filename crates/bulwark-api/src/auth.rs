//! Logging in, API tokens and the audit log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/auth/login`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user's name.
    pub username: String,
    /// The user's password.
    pub password: String,
}

/// A successful login. Browsers also get the token as an `HttpOnly` cookie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// The session token: send it as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// The CSRF token: a state change authenticated by the session cookie must send it as
    /// `X-CSRF-Token`.
    pub csrf: String,
    /// Who logged in.
    pub user: String,
    /// Their role.
    pub role: String,
    /// Seconds the session lasts without use.
    pub idle_timeout: i64,
}

/// `GET /v1/auth/whoami`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The user.
    pub user: String,
    /// The role in effect (a token's, cut to its owner's).
    pub role: String,
    /// The targets the caller is limited to; absent for every target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// `session` or `token`.
    pub via: String,
    /// The token's id, when `via` is `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The session's CSRF token, when `via` is `session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

/// `POST /v1/auth/tokens`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Its role; the caller's own by default, and never above it.
    #[serde(default)]
    #[schema(pattern = "^(viewer|operator|admin)$")]
    pub role: Option<String>,
    /// Seconds until it expires (default 90 days); 0 for never.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 316224000)]
    pub expires_in: Option<i64>,
    /// Target names or uuids to limit it to; within the caller's own limit.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// `metrics` for a token that may only read `GET /metrics` (for a Prometheus scraper);
    /// absent for every route its role allows.
    #[serde(default)]
    #[schema(pattern = "^metrics$")]
    pub scope: Option<String>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    /// Its id: the public part of the token, used to revoke it.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Its owner.
    pub user: String,
    /// Its role.
    pub role: String,
    /// Target uuids it is limited to; absent for every target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// `metrics` when it may only read `/metrics`; absent for every route its role allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// When it was made (UTC).
    pub created_at: String,
    /// When it expires (UTC), if ever.
    pub expires_at: Option<String>,
    /// When it was revoked (UTC).
    pub revoked_at: Option<String>,
    /// When it was last used (UTC).
    pub last_used_at: Option<String>,
}

/// A new token, with its secret: shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// The whole token, to send as `Authorization: Bearer TOKEN`. It is not shown again.
    pub token: String,
    /// The token as listed.
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    /// Its sequence number.
    pub id: i64,
    /// When (UTC).
    pub at: String,
    /// Who: a user, `token NAME of USER`, or `anonymous`.
    pub actor: String,
    /// From which address.
    pub address: String,
    /// What: the route (`POST /v1/job/{uuid}/run`), `login`, `logout`, ...
    pub action: String,
    /// The kind of object acted on, if any.
    pub object_kind: String,
    /// The object's uuid or id, if any.
    pub object: String,
    /// `ok`, or why not.
    pub outcome: String,
    /// More about it.
    pub detail: String,
}

/// A user as `GET /v1/users` lists it (never its password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    /// The login name.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// The targets it is limited to (UUIDs); absent for every target.
    pub targets: Option<Vec<String>>,
    /// When it was made (UTC).
    pub created_at: String,
    /// Logins are refused until then (too many failures), when set.
    pub locked_until: Option<String>,
}
