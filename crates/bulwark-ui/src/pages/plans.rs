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
    /// A policy's rule fields.
    rules: Vec<RuleField>,
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
        rules: rule_fields(None),
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
    p.rules[0].value = "7".into();
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
    p.rules = rule_fields(Some(&x));
    p.name = x.name;
    p.summary = x.summary;
    Ok(render(&p))
}

/// Seconds as days for a form field ("" when absent).
fn days(seconds: Option<i64>) -> String {
    seconds.map_or_else(String::new, |s| {
        let d = s as f64 / 86_400.0;
        if d.fract() == 0.0 {
            format!("{d:.0}")
        } else {
            format!("{d:.3}")
        }
    })
}

/// One rule of a policy's form.
struct RuleField {
    field: &'static str,
    label: &'static str,
    value: String,
    help: &'static str,
    /// Shown in days, sent in seconds.
    days: bool,
}

/// The fields of a policy's form, filled from `x` when it exists.
fn rule_fields(x: Option<&RetentionResponse>) -> Vec<RuleField> {
    let n = |v: Option<u32>| v.map_or_else(String::new, |v| v.to_string());
    [
        (
            "expires",
            "Keep every archive for (days)",
            days(x.and_then(|x| x.expires)),
            "An archive younger than this is kept. Leave empty to keep by the counts below alone.",
        ),
        (
            "keep_last",
            "Keep the newest",
            n(x.and_then(|x| x.keep_last)),
            "archives",
        ),
        (
            "keep_hourly",
            "Keep hourly",
            n(x.and_then(|x| x.keep_hourly)),
            "the newest archive of each of this many hours",
        ),
        (
            "keep_daily",
            "Keep daily",
            n(x.and_then(|x| x.keep_daily)),
            "the newest archive of each of this many days",
        ),
        (
            "keep_weekly",
            "Keep weekly",
            n(x.and_then(|x| x.keep_weekly)),
            "the newest archive of each of this many weeks (Monday to Sunday)",
        ),
        (
            "keep_monthly",
            "Keep monthly",
            n(x.and_then(|x| x.keep_monthly)),
            "the newest archive of each of this many months",
        ),
        (
            "keep_yearly",
            "Keep yearly",
            n(x.and_then(|x| x.keep_yearly)),
            "the newest archive of each of this many years",
        ),
        (
            "keep_within",
            "Keep all taken within (days) of the newest",
            days(x.and_then(|x| x.keep_within)),
            "every archive taken this close to the job's newest one",
        ),
        (
            "min_good",
            "Never leave fewer than",
            x.map_or_else(|| "1".to_string(), |x| x.min_good.to_string()),
            "archives of a job, whatever the rules say (0 turns this guard off)",
        ),
    ]
    .into_iter()
    .map(|(field, label, value, help)| RuleField {
        field,
        label,
        value,
        help,
        days: field == "expires" || field == "keep_within",
    })
    .collect()
}
