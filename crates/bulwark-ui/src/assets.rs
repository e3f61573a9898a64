//! The stylesheet and the script, embedded, served under names that carry a hash of their
//! content (`app.3f9c2a1b.css`), so a page always loads the version it was rendered with and the
//! browser may keep each for a year.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    stem: &'static str,
    ext: &'static str,
    mime: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        stem: "app",
        ext: "css",
        mime: "text/css; charset=utf-8",
        body: include_str!("../assets/app.css"),
    },
    Asset {
        stem: "app",
        ext: "js",
        mime: "text/javascript; charset=utf-8",
        body: include_str!("../assets/app.js"),
    },
];

fn names() -> &'static Vec<String> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = Sha256::digest(a.body.as_bytes());
                let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
                format!("{}.{short}.{}", a.stem, a.ext)
            })
            .collect()
    })
}

/// The URL of the asset `stem.ext` as pages link it.
pub fn url(stem: &str, ext: &str) -> String {
    ASSETS
        .iter()
        .zip(names())
        .find(|(a, _)| a.stem == stem && a.ext == ext)
        .map(|(_, n)| format!("/ui/assets/{n}"))
        .unwrap_or_default()
}

pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().zip(names()).find(|(_, n)| **n == name) {
        Some((a, _)) => (
            [
                (header::CONTENT_TYPE, a.mime),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            a.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
