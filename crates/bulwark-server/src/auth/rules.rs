//! The access rule of every route, in one table. A route without a rule is refused to everyone
//! (and a test that walks the OpenAPI document fails), so a new route cannot be served openly
//! by mistake.

use axum::http::Method;
use bulwark_core::role::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, the public key, the API document, logging in.
    Public,
    /// Any logged-in caller (their own session and tokens).
    Login,
    /// At least this role.
    Role(Role),
}

/// The rule for `method` on the route `path` (as routed: `/v1/job/{uuid}`). HEAD is GET.
pub fn rule(method: &Method, path: &str) -> Option<Need> {
    use Need::{Login, Public};
    const VIEWER: Need = Need::Role(Role::Viewer);
    const OPERATOR: Need = Need::Role(Role::Operator);
    const ADMIN: Need = Need::Role(Role::Admin);
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    Some(match (method, path) {
        ("GET", "/" | "/v1/status" | "/v1/meta/pubkey" | "/v1/openapi.json") => Public,
        ("POST", "/v1/auth/login") => Public,

        ("POST", "/v1/auth/logout") => Login,
        ("GET", "/v1/auth/whoami") => Login,
        ("GET" | "POST", "/v1/auth/tokens") => Login,
        ("DELETE", "/v1/auth/token/{id}") => Login,

        ("GET", "/v1/audit" | "/v1/users") => ADMIN,

        // Any login, or a token of the metrics scope (or no login when metrics.public is set).
        ("GET", "/metrics") => VIEWER,

        // A channel sends the daemon's news out of it, and holds its own secrets.
        ("GET" | "POST", "/v1/notifications") => ADMIN,
        ("GET" | "PUT" | "DELETE", "/v1/notification/{uuid}") => ADMIN,
        ("POST", "/v1/notification/{uuid}/test") => ADMIN,
        ("GET", "/v1/notifications/deliveries") => ADMIN,

        (
            "GET",
            "/v1/schedules"
            | "/v1/schedule/{uuid}"
            | "/v1/schedules/check"
            | "/v1/retention"
            | "/v1/retention/{uuid}"
            | "/v1/targets"
            | "/v1/target/{uuid}"
            | "/v1/stores"
            | "/v1/store/{uuid}"
            | "/v1/jobs"
            | "/v1/job/{uuid}"
            | "/v1/archives"
            | "/v1/archive/{uuid}"
            | "/v1/tasks"
            | "/v1/task/{uuid}"
            | "/v1/task/{uuid}/log"
            | "/v1/archive/{uuid}/files"
            | "/v1/plugins"
            | "/v1/plugin/{name}"
            | "/v1/retention/{uuid}/preview"
            | "/v1/job/{uuid}/schelly/backups"
            | "/v1/job/{uuid}/schelly/backups/{id}",
        ) => VIEWER,
        // A preview of rules not yet saved changes nothing.
        ("POST", "/v1/retention/preview") => VIEWER,
        // The sweep applies the policies admins made, as the daemon does every minute.
        ("POST", "/v1/retention/sweep") => OPERATOR,

        // Running, restoring, canceling, pausing and annotating.
        (
            "POST",
            "/v1/job/{uuid}/run"
            | "/v1/job/{uuid}/schelly/backups"
            | "/v1/job/{uuid}/drill"
            | "/v1/job/{uuid}/pause"
            | "/v1/job/{uuid}/unpause"
            | "/v1/archive/{uuid}/restore",
        ) => OPERATOR,
        ("PUT", "/v1/archive/{uuid}") => OPERATOR,
        // A file's bytes are the data itself: as much as a restore gives.
        ("GET", "/v1/archive/{uuid}/files/content") => OPERATOR,
        // Checking a stored endpoint runs its plugin with its secrets, and changes nothing.
        ("POST", "/v1/target/{uuid}/validate" | "/v1/store/{uuid}/validate") => OPERATOR,
        ("DELETE", "/v1/task/{uuid}") => OPERATOR,

        // Creating, editing and deleting; store maintenance; probing endpoints.
        (
            "POST",
            "/v1/schedules"
            | "/v1/retention"
            | "/v1/targets"
            | "/v1/stores"
            | "/v1/jobs"
            | "/v1/store/{uuid}/check"
            | "/v1/store/{uuid}/prune"
            | "/v1/plugin/{name}/validate",
        ) => ADMIN,
        (
            "PUT" | "DELETE",
            "/v1/schedule/{uuid}"
            | "/v1/retention/{uuid}"
            | "/v1/target/{uuid}"
            | "/v1/store/{uuid}"
            | "/v1/job/{uuid}",
        ) => ADMIN,
        ("DELETE", "/v1/archive/{uuid}") => ADMIN,
        // Agents run plugins with targets' and stores' secrets: admins alone let them in.
        ("GET", "/v1/agents" | "/v1/agent/{uuid}") => VIEWER,
        ("POST", "/v1/agents" | "/v1/agent-tokens" | "/v1/agents/rotate-core-key") => ADMIN,
        (
            "POST",
            "/v1/agent/{uuid}/approve" | "/v1/agent/{uuid}/revoke" | "/v1/agent/{uuid}/rotate-key",
        ) => ADMIN,
        ("DELETE", "/v1/agent/{uuid}") => ADMIN,
        _ => return None,
    })
}

/// The kind of object a route's `{uuid}` names, when callers limited to targets must be
/// checked against it.
pub fn scoped_kind(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/v1/")?;
    let kind = rest.split('/').next()?;
    rest.contains("{uuid}").then_some(())?;
    match kind {
        "target" => Some("target"),
        "job" => Some("job"),
        "archive" => Some("archive"),
        "task" => Some("task"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_routes_are_exactly_these() {
        let mut public = Vec::new();
        for (m, p) in crate::routes::operations() {
            if rule(&m, &p) == Some(Need::Public) {
                public.push(format!("{m} {p}"));
            }
        }
        public.sort();
        assert_eq!(
            public,
            [
                "GET /",
                "GET /v1/meta/pubkey",
                "GET /v1/openapi.json",
                "GET /v1/status",
                "POST /v1/auth/login"
            ]
        );
    }

    #[test]
    fn every_documented_route_has_a_rule() {
        let missing: Vec<String> = crate::routes::operations()
            .into_iter()
            .filter(|(m, p)| rule(m, p).is_none())
            .map(|(m, p)| format!("{m} {p}"))
            .collect();
        assert!(
            missing.is_empty(),
            "routes without an access rule: {missing:?}"
        );
        assert_eq!(rule(&Method::POST, "/v1/new/route"), None);
    }

    #[test]
    fn scoped_kinds() {
        assert_eq!(scoped_kind("/v1/job/{uuid}/run"), Some("job"));
        assert_eq!(scoped_kind("/v1/task/{uuid}/log"), Some("task"));
        assert_eq!(scoped_kind("/v1/targets"), None);
        assert_eq!(scoped_kind("/v1/store/{uuid}"), None);
    }
}
