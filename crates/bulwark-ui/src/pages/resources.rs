//! Targets, stores, schedules and retention policies, as lists.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;

use bulwark_api::{RetentionResponse, ScheduleResponse, StoreResponse, TargetResponse};

use super::{Chrome, PageResult, render, session};
use crate::Ui;
use crate::format::{bytes, until};

#[derive(Template)]
#[template(path = "list.html")]
struct List {
    c: Chrome,
    heading: String,
    /// Where each row's first cell leads; empty for nowhere.
    links: Vec<String>,
    /// A link to make a new one, for those who may.
    new_link: String,
    new_label: &'static str,
    intro: String,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    empty: String,
}

pub(crate) async fn targets(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    let list: Vec<TargetResponse> = ui.api.get(&s, "/v1/targets").await?;
    Ok(render(&List {
        c: Chrome::new(&s, "Targets", "/targets"),
        heading: "Targets".into(),
        links: list
            .iter()
            .map(|t| format!("/targets/{}", t.uuid))
            .collect(),
        new_link: if s.may("admin") {
            "/targets/new".into()
        } else {
            String::new()
        },
        new_label: "New target",
        intro: "What is backed up: a data system and how to reach it. Secrets are never shown."
            .into(),
        columns: vec!["Name", "Plugin", "Endpoint", "Summary"],
        rows: list
            .into_iter()
            .map(|t| vec![t.name, t.plugin, t.endpoint, t.summary])
            .collect(),
        empty: "No targets yet.".into(),
    }))
}

pub(crate) async fn stores(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    let list: Vec<StoreResponse> = ui.api.get(&s, "/v1/stores").await?;
    Ok(render(&List {
        c: Chrome::new(&s, "Stores", "/stores"),
        heading: "Stores".into(),
        links: list.iter().map(|t| format!("/stores/{}", t.uuid)).collect(),
        new_link: if s.may("admin") {
            "/stores/new".into()
        } else {
            String::new()
        },
        new_label: "New store",
        intro: "Where archives are kept.".into(),
        columns: vec![
            "Name",
            "Plugin",
            "Encrypted",
            "Archives",
            "Stored",
            "Added this week",
        ],
        rows: list
            .into_iter()
            .map(|t| {
                vec![
                    t.name,
                    t.plugin,
                    if t.encrypted { "yes" } else { "no" }.into(),
                    t.usage.archives.to_string(),
                    bytes(t.usage.stored),
                    bytes(t.usage.added_week),
                ]
            })
            .collect(),
        empty: "No stores yet.".into(),
    }))
}

pub(crate) async fn schedules(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    let now = ui.clock.now();
    let list: Vec<ScheduleResponse> = ui.api.get(&s, "/v1/schedules").await?;
    Ok(render(&List {
        c: Chrome::new(&s, "Schedules", "/schedules"),
        heading: "Schedules".into(),
        links: list
            .iter()
            .map(|t| format!("/schedules/{}", t.uuid))
            .collect(),
        new_link: if s.may("admin") {
            "/schedules/new".into()
        } else {
            String::new()
        },
        new_label: "New schedule",
        intro: "When jobs run, in words.".into(),
        columns: vec!["Name", "When", "Next run", "Summary"],
        rows: list
            .into_iter()
            .map(|t| {
                let next = match &t.next_run {
                    Some(n) => format!("{n} UTC ({})", until(Some(n), now)),
                    None => String::new(),
                };
                vec![t.name, t.when, next, t.summary]
            })
            .collect(),
        empty: "No schedules yet.".into(),
    }))
}

pub(crate) async fn retention(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    let list: Vec<RetentionResponse> = ui.api.get(&s, "/v1/retention").await?;
    Ok(render(&List {
        c: Chrome::new(&s, "Retention", "/retention"),
        heading: "Retention policies".into(),
        links: list
            .iter()
            .map(|t| format!("/retention/{}", t.uuid))
            .collect(),
        new_link: if s.may("admin") {
            "/retention/new".into()
        } else {
            String::new()
        },
        new_label: "New retention policy",
        intro: "How long archives are kept.".into(),
        columns: vec!["Name", "Keeps", "Summary"],
        rows: list
            .into_iter()
            .map(|t| vec![t.name, t.rules, t.summary])
            .collect(),
        empty: "No retention policies yet.".into(),
    }))
}
