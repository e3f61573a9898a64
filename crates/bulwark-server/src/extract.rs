//! Request extractors whose failures are API errors: a JSON body, query strings, and UUIDs in
//! paths. Each says what is wrong and where, and answers 400.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body (the access guard has already refused bodies that are not
/// `application/json`); it must parse as the expected type, with unknown fields refused. An empty body is the
/// type's default when `T: Default` is asked for through [`OptionalJson`].
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "the request body is empty; send a JSON object",
            ));
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// A JSON request body that may be absent or `null` (seed 003's run and restore bodies are
/// optional).
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        // `null` is an absent body too.
        parse_json::<Option<T>>(&bytes).map(|v| OptionalJson(v.unwrap_or_default()))
    }
}

/// How long a client may take to send its body.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state)).await {
        Err(_) => Err(ApiError::with_status(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {}s",
                BODY_TIMEOUT.as_secs()
            ),
        )),
        Ok(Err(e)) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::with_status(
                e.status(),
                format!(
                    "the request body is larger than {} bytes",
                    crate::routes::MAX_BODY
                ),
            ))
        }
        Ok(Err(e)) => Err(ApiError::bad_request(format!(
            "could not read the request body: {e}"
        ))),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body of the API is an object (serde would also read a struct from an array).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') && !bytes.trim_ascii().eq(b"null") {
        return Err(ApiError::bad_request(
            "invalid request body: it must be a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("invalid request body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid request body at '{path}': {inner}"))
        }
    })
}

/// A query string; unknown parameters and bad values are refused.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(format!("invalid query string: {}", e.body_text()))
            })
    }
}

/// Parses a UUID from a path or query; `what` names the resource for the message.
pub fn parse_id<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request(format!("'{s}' is not a valid {what} UUID")))
}

/// Parses an optional UUID query parameter.
pub fn parse_opt_id<T: std::str::FromStr>(
    what: &str,
    s: Option<&str>,
) -> Result<Option<T>, ApiError> {
    s.map(|s| parse_id(what, s)).transpose()
}

/// Parses a seed-style boolean query flag: `t`/`f` (and `true`/`false`, `1`/`0`, `yes`/`no`).
/// A flag given with no value (`?unused`) means true.
pub fn parse_flag(name: &str, s: Option<&str>) -> Result<Option<bool>, ApiError> {
    match s.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("" | "t" | "true" | "1" | "yes" | "y") => Ok(Some(true)),
        Some("f" | "false" | "0" | "no" | "n") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "query parameter {name} must be t or f, not '{other}'"
        ))),
    }
}
