//! The UI's way to the data: the `/v1` router itself, called in process with the browser's own
//! session cookie, so every page sees exactly what its user may see through the API, behind the
//! same access guard, and nothing else.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

use bulwark_api::WhoAmI;

/// The largest answer a page reads.
const MAX_ANSWER: usize = 32 << 20;

/// Why a call did not give what was asked.
#[derive(Debug)]
pub enum Failure {
    /// 401: nobody is signed in (the message says whether no user exists yet).
    Login(String),
    /// Any other refusal, with the API's status and message.
    Refused(StatusCode, String),
}

impl Failure {
    /// The API's words.
    pub fn message(&self) -> &str {
        match self {
            Failure::Login(m) | Failure::Refused(_, m) => m,
        }
    }
}

/// The `/v1` API in process.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// A signed-in browser: its cookie (or a client's bearer token), who it is, and its CSRF token.
#[derive(Clone)]
pub struct Session {
    cookie: Option<HeaderValue>,
    bearer: Option<HeaderValue>,
    /// Who is signed in.
    pub me: WhoAmI,
}

impl Session {
    /// True when the user's role is at least `role` (`viewer` < `operator` < `admin`).
    pub fn may(&self, role: &str) -> bool {
        let rank = |r: &str| match r {
            "admin" => 3,
            "operator" => 2,
            "viewer" => 1,
            _ => 0,
        };
        rank(&self.me.role) >= rank(role)
    }

    fn auth(&self) -> (Option<&HeaderValue>, Option<&HeaderValue>) {
        (self.cookie.as_ref(), self.bearer.as_ref())
    }

    /// The token a page hands its script for state changes.
    pub fn csrf(&self) -> &str {
        self.me.csrf.as_deref().unwrap_or_default()
    }
}

impl Api {
    /// Over `router`, the `/v1` router with its guard.
    pub fn new(router: Router) -> Api {
        Api { router }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: (Option<&HeaderValue>, Option<&HeaderValue>),
        csrf: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = auth.0 {
            req = req.header(header::COOKIE, c.clone());
        }
        if let Some(b) = auth.1 {
            req = req.header(header::AUTHORIZATION, b.clone());
        }
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .map_err(|e| Failure::Refused(StatusCode::BAD_REQUEST, e.to_string()))?;
        let res = match self.router.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| Failure::Refused(StatusCode::BAD_GATEWAY, e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let message = value["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("the API answered {status}"));
        Err(if status == StatusCode::UNAUTHORIZED {
            Failure::Login(message)
        } else {
            Failure::Refused(status, message)
        })
    }

    /// Who the browser of `headers` is, by its session cookie.
    pub async fn session(&self, headers: &HeaderMap) -> Result<Session, Failure> {
        let cookie = headers.get(header::COOKIE).cloned();
        let bearer = headers.get(header::AUTHORIZATION).cloned();
        let me = self
            .call(
                Method::GET,
                "/v1/auth/whoami",
                (cookie.as_ref(), bearer.as_ref()),
                None,
                None,
            )
            .await?;
        let me: WhoAmI = serde_json::from_value(me)
            .map_err(|e| Failure::Refused(StatusCode::BAD_GATEWAY, e.to_string()))?;
        Ok(Session { cookie, bearer, me })
    }

    /// What the API says when nobody is signed in (tells whether a first user must be made).
    pub async fn anonymous_hint(&self) -> String {
        match self
            .call(Method::GET, "/v1/jobs", (None, None), None, None)
            .await
        {
            Err(f) => f.message().to_string(),
            Ok(_) => String::new(),
        }
    }

    /// `GET path` as the session's user, read as `T`.
    pub async fn get<T: DeserializeOwned>(&self, s: &Session, path: &str) -> Result<T, Failure> {
        let v = self.call(Method::GET, path, s.auth(), None, None).await?;
        serde_json::from_value(v).map_err(|e| {
            Failure::Refused(
                StatusCode::BAD_GATEWAY,
                format!("{path} answered something unexpected: {e}"),
            )
        })
    }

    /// `POST path` with `body` as the session's user (for what a page only previews, such as a
    /// restore's dry run).
    pub async fn post(&self, s: &Session, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(
            Method::POST,
            path,
            s.auth(),
            s.me.csrf.as_deref(),
            Some(body),
        )
        .await
    }
}
