//! Logins, lockout, session and token expiry through the real router, on a catalog in a
//! temporary directory, with a clock the tests move by hand (no sleeps).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use serde_json::{Value, json};
use tower::ServiceExt;

use bulwark_catalog::{AuditEntry, AuditFilter, User};
use bulwark_core::clock::ManualClock;
use bulwark_core::role::Role;

use crate::config::Config;
use crate::{Server, router};

struct Fixture {
    app: axum::Router,
    clock: Arc<ManualClock>,
    server: Server,
    _dir: tempfile::TempDir,
}

async fn fixture(tweak: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        timezone: "UTC".into(),
        ..Config::default()
    };
    config.tasks.workers = 0;
    tweak(&mut config);
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap(),
    ));
    let server = Server::start_with_clock(config, clock.clone())
        .await
        .unwrap();
    let app = router(server.state.clone());
    Fixture {
        app,
        clock,
        server,
        _dir: dir,
    }
}

impl Fixture {
    async fn add_user(&self, name: &str, role: Role, password: &str) {
        let user = User {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: name.into(),
            role,
            targets: None,
            password_hash: super::hash_password(password).unwrap(),
            created_at: 0,
            locked_until: None,
        };
        let entry = AuditEntry {
            actor: "test".into(),
            ..Default::default()
        };
        assert!(
            self.server
                .state
                .catalog
                .add_user(&user, &entry, 0)
                .await
                .unwrap()
        );
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn login(&self, user: &str, password: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"username": user, "password": password})),
        )
        .await
    }
}

#[tokio::test]
async fn the_nth_failure_locks_the_user_until_the_clock_moves_on() {
    let f = fixture(|_| {}).await;
    f.add_user("alice", Role::Operator, "alice's long password")
        .await;
    for _ in 0..5 {
        let (s, body) = f.login("alice", "wrong guess, twelve+").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "wrong user name or password");
    }
    // Locked: even the right password is refused.
    let (s, body) = f.login("alice", "alice's long password").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["error"].as_str().unwrap().contains("locked"), "{body}");
    f.clock.advance(899);
    assert_eq!(
        f.login("alice", "alice's long password").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    f.clock.advance(2);
    let (s, body) = f.login("alice", "alice's long password").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // An unknown user answers exactly like a wrong password.
    let unknown = f.login("nobody", "wrong guess, twelve+").await;
    let wrong = f.login("alice", "wrong guess, twelve+").await;
    assert_eq!(unknown, wrong);
    // The audit log has each failure, the lock and the refusals.
    let rows = f
        .server
        .state
        .catalog
        .list_audit(&AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let outcomes: Vec<&str> = rows
        .iter()
        .filter(|r| r.entry.actor == "alice")
        .map(|r| r.outcome.as_str())
        .collect();
    assert!(
        outcomes
            .iter()
            .any(|o| o.ends_with("failure 5, user locked")),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.starts_with("refused (429)"))
            .count(),
        2,
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&"ok"), "{outcomes:?}");
}

#[tokio::test]
async fn too_many_failures_from_one_address_refuse_its_logins() {
    let f = fixture(|c| c.auth.address_failures = 3).await;
    f.add_user("bob", Role::Viewer, "bob's long password").await;
    for name in ["x1", "x2", "x3"] {
        assert_eq!(
            f.login(name, "wrong guess, twelve+").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (s, body) = f.login("bob", "bob's long password").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("from local"),
        "{body}"
    );
    f.clock.advance(901);
    assert_eq!(
        f.login("bob", "bob's long password").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_limit() {
    let f = fixture(|c| {
        c.auth.session_idle = 3600;
        c.auth.session_max = 9000;
    })
    .await;
    f.add_user("carol", Role::Admin, "carol's long password")
        .await;
    let (_, body) = f.login("carol", "carol's long password").await;
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(
        f.call("GET", "/v1/auth/whoami", Some(&token), None).await.0,
        StatusCode::OK
    );
    // Used within the idle time, it lives on...
    for _ in 0..2 {
        f.clock.advance(3000);
        let (s, who) = f.call("GET", "/v1/auth/whoami", Some(&token), None).await;
        assert_eq!(s, StatusCode::OK, "{who}");
        assert_eq!(who["user"], "carol");
    }
    // ...until its absolute limit.
    f.clock.advance(3000);
    let (s, body) = f.call("GET", "/v1/auth/whoami", Some(&token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // Idle too long.
    let (_, body) = f.login("carol", "carol's long password").await;
    let token = body["token"].as_str().unwrap().to_string();
    f.clock.advance(3601);
    assert_eq!(
        f.call("GET", "/v1/jobs", Some(&token), None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tokens_expire_and_revoked_tokens_are_refused_at_once() {
    let f = fixture(|_| {}).await;
    f.add_user("dave", Role::Operator, "dave's long password")
        .await;
    let (_, body) = f.login("dave", "dave's long password").await;
    let session = body["token"].as_str().unwrap().to_string();
    let (s, made) = f
        .call(
            "POST",
            "/v1/auth/tokens",
            Some(&session),
            Some(json!({"name": "ci", "expires_in": 3600})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("bwk_"));
    let (s, who) = f.call("GET", "/v1/auth/whoami", Some(&token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(who["via"], "token");
    assert_eq!(who["role"], "operator");
    // Listings never show a secret.
    let (_, list) = f.call("GET", "/v1/auth/tokens", Some(&session), None).await;
    assert!(!list.to_string().contains(token.rsplit('_').next().unwrap()));
    assert_eq!(list[0]["status"], "active");
    // More rights than its maker: refused.
    let (s, _) = f
        .call(
            "POST",
            "/v1/auth/tokens",
            Some(&session),
            Some(json!({"name": "root", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    f.clock.advance(3601);
    let (s, body) = f.call("GET", "/v1/auth/whoami", Some(&token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "the token has expired");
    // A fresh one, revoked, is refused on its next call.
    let (_, made) = f
        .call(
            "POST",
            "/v1/auth/tokens",
            Some(&session),
            Some(json!({"name": "ci2"})),
        )
        .await;
    let token = made["token"].as_str().unwrap().to_string();
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(
        f.call("GET", "/v1/jobs", Some(&token), None).await.0,
        StatusCode::OK
    );
    let (s, body) = f
        .call(
            "DELETE",
            &format!("/v1/auth/token/{id}"),
            Some(&session),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = f.call("GET", "/v1/jobs", Some(&token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "the token was revoked");
}

#[tokio::test]
async fn without_users_every_login_route_says_how_to_make_the_first() {
    let f = fixture(|_| {}).await;
    let (s, body) = f.call("GET", "/v1/jobs", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("bulwark user add NAME --role admin --password-stdin"),
        "{body}"
    );
    // Health answers, without details.
    let (s, body) = f.call("GET", "/v1/status", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, json!({"health": "ok"}));
}
