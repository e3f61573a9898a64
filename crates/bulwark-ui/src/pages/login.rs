//! Sign in, and the first run: with no user yet, the page says how to make the first one.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};

use super::{PageResult, render};
use crate::{Ui, assets};

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    first_run: bool,
    css: String,
    js: String,
}

pub(crate) async fn page(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    if ui.api.session(&headers).await.is_ok() {
        return Ok(Redirect::to("/").into_response());
    }
    let hint = ui.api.anonymous_hint().await;
    Ok(render(&Login {
        first_run: hint.contains("no user exists yet"),
        css: assets::url("app", "css"),
        js: assets::url("app", "js"),
    }))
}
