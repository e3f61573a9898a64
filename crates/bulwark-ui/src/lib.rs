//! Bulwark's web UI, served by the daemon at `/` on the API's port.
//!
//! Pages are rendered on the server from askama templates (escaped by default) with data read
//! through the `/v1` API in process, as the signed-in user ([`api`]); the UI never reads the
//! catalog. Every action a page offers (run, pause, cancel, restore, sign in and out) is a `/v1`
//! call the browser makes itself from one small script (`assets/app.js`, no inline script), so
//! nothing the UI does is out of reach of the API and the CLI. Assets are embedded in the binary
//! and served under names that carry their content hash, cached for a year. Every page is sent
//! with a strict Content-Security-Policy.

pub mod api;
mod assets;
mod format;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use bulwark_core::clock::Clock;

pub use api::Api;

/// The Content-Security-Policy of every page: nothing but this daemon, no inline script or
/// style, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What the pages need: the API and the time.
#[derive(Clone)]
pub struct Ui {
    api: Api,
    clock: Arc<dyn Clock>,
}

/// The UI's routes (pages and assets); `api` is the `/v1` router with its guard.
pub fn router(api: Router, clock: Arc<dyn Clock>) -> Router {
    let ui = Ui {
        api: Api::new(api),
        clock,
    };
    pages::routes()
        .route("/ui/assets/{name}", axum::routing::get(assets::serve))
        .layer(axum::middleware::map_response(secure))
        .with_state(ui)
}

/// The paths the UI serves (for the daemon's list of routes).
pub const PATHS: &[&str] = pages::PATHS;

async fn secure(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}
