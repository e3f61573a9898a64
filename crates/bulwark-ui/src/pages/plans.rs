//! Schedules (the phrase checked as it is typed, with its next runs) and retention policies:
//! create, edit, what uses each, and delete when unused.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use bulwark_api::{JobResponse, RetentionResponse, ScheduleResponse};

use super::{Chrome, PageResult, render, session, uuid_of};
use crate::Ui;

#[derive(Template)]
#[template(path = "plan.html")]
struct Plan {
    c: Chrome,
    /// `schedule` or `retention`.
    kind: &'static str,
    heading: String,
    uuid: String,
    name: String,
    summary: String,
    /// A schedule's phrase.
    when: String,
    /// A policy's days.
    days: String,
    used_by: Vec<(String, String)>,
    admin: bool,
    /// Where it is created (`/v1/schedules`) and where it lives (`/v1/schedule/`).
    create: &'static str,
    item: &'static str,
    list: &'static str,
}

async fn used_by(
    ui: &Ui,
    s: &crate::api::Session,
    filter: &str,
) -> Result<Vec<(String, String)>, super::PageError> {
    let jobs: Vec<JobResponse> = ui.api.get(s, &format!("/v1/jobs?{filter}")).await?;
    Ok(jobs
        .into_iter()
        .map(|j| (j.uuid.to_string(), j.name))
        .collect())
}

fn plan(s: &crate::api::Session, kind: &'static str, heading: String) -> Plan {
    let (create, item, list, here) = if kind == "schedule" {
        (
            "/v1/schedules",
            "/v1/schedule/",
            "/schedules/",
            "/schedules",
        )
    } else {
        (
            "/v1/retention",
            "/v1/retention/",
            "/retention/",
            "/retention",
        )
    };
    Plan {
        c: Chrome::new(s, heading.clone(), here),
        kind,
        heading,
        uuid: String::new(),
        name: String::new(),
        summary: String::new(),
        when: String::new(),
        days: String::new(),
        used_by: Vec::new(),
        admin: s.may("admin"),
        create,
        item,
        list,
    }
}

pub(crate) async fn new_schedule(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    Ok(render(&plan(&s, "schedule", "New schedule".into())))
}

pub(crate) async fn new_retention(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    let mut p = plan(&s, "retention", "New retention policy".into());
    p.days = "7".into();
    Ok(render(&p))
}

pub(crate) async fn schedule(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let x: ScheduleResponse = ui.api.get(&s, &format!("/v1/schedule/{id}")).await?;
    let mut p = plan(&s, "schedule", format!("Schedule {}", x.name));
    p.uuid = id.to_string();
    p.used_by = used_by(&ui, &s, &format!("schedule={id}")).await?;
    p.name = x.name;
    p.summary = x.summary;
    p.when = x.when;
    Ok(render(&p))
}

pub(crate) async fn retention(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let x: RetentionResponse = ui.api.get(&s, &format!("/v1/retention/{id}")).await?;
    let mut p = plan(&s, "retention", format!("Retention policy {}", x.name));
    p.uuid = id.to_string();
    p.used_by = used_by(&ui, &s, &format!("retention={id}")).await?;
    p.name = x.name;
    p.summary = x.summary;
    let days = x.expires as f64 / 86_400.0;
    p.days = if days.fract() == 0.0 {
        format!("{days:.0}")
    } else {
        format!("{days:.3}")
    };
    Ok(render(&p))
}
