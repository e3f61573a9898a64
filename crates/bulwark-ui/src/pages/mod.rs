//! The pages. Each handler signs the browser in through the API (a page without a session
//! sends it to the sign-in page), gathers what it shows with `/v1` calls, and renders a
//! template. Actions are buttons the script turns into `/v1` calls; what the user's role may
//! not do is not offered.

mod admin;
mod archives;
mod dashboard;
mod forms;
mod jobs;
mod login;
mod plans;
mod resources;
mod tasks;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::api::{Failure, Session};
use crate::{Ui, assets};

/// Every page's path, as routed.
pub const PATHS: &[&str] = &[
    "/",
    "/login",
    "/jobs",
    "/jobs/{uuid}",
    "/tasks",
    "/tasks/{uuid}",
    "/archives",
    "/archives/{uuid}",
    "/archives/{uuid}/restore",
    "/targets",
    "/targets/new",
    "/targets/{uuid}",
    "/stores",
    "/stores/new",
    "/stores/{uuid}",
    "/schedules",
    "/schedules/new",
    "/schedules/{uuid}",
    "/retention",
    "/retention/new",
    "/retention/{uuid}",
    "/admin",
];

pub(crate) fn routes() -> Router<Ui> {
    use axum::routing::get;
    Router::new()
        .route("/", get(dashboard::page))
        .route("/login", get(login::page))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{uuid}", get(jobs::detail))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{uuid}", get(tasks::detail))
        .route("/archives", get(archives::list))
        .route("/archives/{uuid}", get(archives::detail))
        .route("/archives/{uuid}/restore", get(archives::restore))
        .route("/targets", get(resources::targets))
        .route("/targets/new", get(forms::new_target))
        .route("/targets/{uuid}", get(forms::target))
        .route("/stores", get(resources::stores))
        .route("/stores/new", get(forms::new_store))
        .route("/stores/{uuid}", get(forms::store))
        .route("/schedules", get(resources::schedules))
        .route("/schedules/new", get(plans::new_schedule))
        .route("/schedules/{uuid}", get(plans::schedule))
        .route("/retention", get(resources::retention))
        .route("/retention/new", get(plans::new_retention))
        .route("/retention/{uuid}", get(plans::retention))
        .route("/admin", get(admin::page))
}

/// One link of the main navigation.
pub(crate) struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every page's frame shows: the title, the navigation, who is signed in.
pub(crate) struct Chrome {
    pub title: String,
    pub nav: Vec<NavItem>,
    pub user: String,
    pub role: String,
    pub csrf: String,
    pub css: String,
    pub js: String,
}

impl Chrome {
    pub(crate) fn new(s: &Session, title: impl Into<String>, here: &str) -> Chrome {
        let links = [
            ("/", "Dashboard"),
            ("/jobs", "Jobs"),
            ("/archives", "Archives"),
            ("/tasks", "Tasks"),
            ("/targets", "Targets"),
            ("/stores", "Stores"),
            ("/schedules", "Schedules"),
            ("/retention", "Retention"),
        ];
        let admin = [("/admin", "Admin")];
        let extra: &[(&str, &str)] = if s.may("admin") { &admin } else { &[] };
        Chrome {
            title: title.into(),
            nav: links
                .iter()
                .chain(extra)
                .map(|(href, label)| NavItem {
                    href,
                    label,
                    current: *href == here,
                })
                .collect(),
            user: s.me.user.clone(),
            role: s.me.role.clone(),
            csrf: s.csrf().to_string(),
            css: assets::url("app", "css"),
            js: assets::url("app", "js"),
        }
    }
}

/// Why a page is not shown.
pub(crate) enum PageError {
    /// Nobody is signed in.
    Login,
    /// The API refused or failed.
    Failed(StatusCode, String),
}

impl From<Failure> for PageError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Login(_) => PageError::Login,
            Failure::Refused(status, m) => PageError::Failed(status, m),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    message: String,
    css: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login => Redirect::to("/login").into_response(),
            PageError::Failed(status, message) => {
                let page = ErrorPage {
                    status: status.as_u16(),
                    message,
                    css: assets::url("app", "css"),
                };
                (status, render(&page)).into_response()
            }
        }
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

/// A rendered template as an HTML answer.
pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "A page could not be rendered.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// The browser's session, or the sign-in page.
pub(crate) async fn session(ui: &Ui, headers: &HeaderMap) -> Result<Session, PageError> {
    Ok(ui.api.session(headers).await?)
}

/// A query value for a `/v1` URL.
pub(crate) fn q(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A UUID from a path, or a 404 page.
pub(crate) fn uuid_of(s: &str) -> Result<uuid::Uuid, PageError> {
    s.parse()
        .map_err(|_| PageError::Failed(StatusCode::NOT_FOUND, format!("'{s}' is not a UUID")))
}
