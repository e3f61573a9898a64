//! Archives: the list filtered by target, store, state and dates; one archive; and the restore:
//! pick the destination, review what will happen (the API's own dry run), confirm (by typing
//! the target's name when it is the archive's own target), then land on the live task.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use bulwark_api::{ArchiveResponse, RestorePreview, StoreResponse, TargetResponse};

use super::jobs::{ArchiveRow, archive_rows};
use super::{Chrome, PageResult, q, render, session, uuid_of};
use crate::Ui;
use crate::format::{Badge, ago, badge, bytes, span};

/// The filters of the archive list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filter {
    target: Option<String>,
    store: Option<String>,
    status: Option<String>,
    after: Option<String>,
    before: Option<String>,
}

#[derive(Template)]
#[template(path = "archives.html")]
struct Archives {
    c: Chrome,
    archives: Vec<ArchiveRow>,
    targets: Vec<(String, String)>,
    stores: Vec<(String, String)>,
    target: String,
    store: String,
    status: String,
    after: String,
    before: String,
}

/// A `YYYY-MM-DD` date as the API's `YYYYMMDD`.
fn day(d: &str) -> Option<String> {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y%m%d").to_string())
}

pub(crate) async fn list(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> PageResult {
    let s = session(&ui, &headers).await?;
    let pick = |v: Option<String>| {
        v.filter(|v| v.parse::<uuid::Uuid>().is_ok())
            .unwrap_or_default()
    };
    let (target, store) = (pick(f.target), pick(f.store));
    let status = f
        .status
        .filter(|v| ["valid", "purging", "purged", "all"].contains(&v.as_str()))
        .unwrap_or_else(|| "valid".into());
    let after = f.after.filter(|d| day(d).is_some()).unwrap_or_default();
    let before = f.before.filter(|d| day(d).is_some()).unwrap_or_default();
    let mut path = "/v1/archives?".to_string();
    let mut parts = Vec::new();
    if !target.is_empty() {
        parts.push(format!("target={}", q(&target)));
    }
    if !store.is_empty() {
        parts.push(format!("store={}", q(&store)));
    }
    if status != "all" {
        parts.push(format!("status={}", q(&status)));
    }
    if let Some(d) = day(&after) {
        parts.push(format!("after={d}"));
    }
    if let Some(d) = day(&before) {
        parts.push(format!("before={d}"));
    }
    path.push_str(&parts.join("&"));
    let archives: Vec<ArchiveResponse> = ui.api.get(&s, &path).await?;
    let targets: Vec<TargetResponse> = ui.api.get(&s, "/v1/targets").await?;
    let stores: Vec<StoreResponse> = ui.api.get(&s, "/v1/stores").await?;
    Ok(render(&Archives {
        c: Chrome::new(&s, "Archives", "/archives"),
        archives: archive_rows(archives, ui.clock.now(), 500),
        targets: targets
            .into_iter()
            .map(|t| (t.uuid.to_string(), t.name))
            .collect(),
        stores: stores
            .into_iter()
            .map(|t| (t.uuid.to_string(), t.name))
            .collect(),
        target,
        store,
        status,
        after,
        before,
    }))
}

#[derive(Template)]
#[template(path = "archive.html")]
struct ArchivePage {
    c: Chrome,
    a: ArchiveResponse,
    status: Badge,
    age: String,
    size: String,
    operator: bool,
}

pub(crate) async fn detail(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let a: ArchiveResponse = ui.api.get(&s, &format!("/v1/archive/{id}")).await?;
    Ok(render(&ArchivePage {
        c: Chrome::new(&s, "Archive", "/archives"),
        status: badge(&a.status),
        age: ago(Some(&a.taken_at), ui.clock.now()),
        size: bytes(a.size),
        operator: s.may("operator"),
        a,
    }))
}

/// Which target to restore into.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Pick {
    target: Option<String>,
}

/// A sentence: a capital first, a full stop last.
fn sentence(s: &str) -> String {
    let s = s.trim();
    let mut out: String = s
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(s.chars().skip(1))
        .collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// What the review says of the destination's endpoint: its host, port, database, directory or
/// file (secrets are already redacted by the API).
fn where_it_goes(endpoint: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(endpoint).unwrap_or_default();
    [
        "host", "port", "database", "all", "base_dir", "path", "url", "vhost",
    ]
    .iter()
    .filter_map(|k| {
        let x = v.get(*k)?;
        Some((
            (*k).to_string(),
            x.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| x.to_string()),
        ))
    })
    .collect()
}

#[derive(Template)]
#[template(path = "restore.html")]
struct Restore {
    c: Chrome,
    a: ArchiveResponse,
    choices: Vec<(String, String, bool)>,
    preview: Option<RestorePreview>,
    place: Vec<(String, String)>,
    age: String,
    body: String,
    refused: String,
}

pub(crate) async fn restore(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    Query(p): Query<Pick>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let a: ArchiveResponse = ui.api.get(&s, &format!("/v1/archive/{id}")).await?;
    let targets: Vec<TargetResponse> = ui.api.get(&s, "/v1/targets").await?;
    let fits = |t: &TargetResponse| {
        if a.format == "tree" {
            t.plugin == "fs"
        } else {
            t.plugin == a.plugin
        }
    };
    let own = a.target_uuid.to_string();
    let chosen = p
        .target
        .filter(|t| targets.iter().any(|x| x.uuid.to_string() == *t && fits(x)))
        .unwrap_or(own);
    let choices = targets
        .iter()
        .filter(|t| fits(t))
        .map(|t| {
            let u = t.uuid.to_string();
            let label = if u == a.target_uuid.to_string() {
                format!("{} (its own target)", t.name)
            } else {
                format!("{} ({})", t.name, t.plugin)
            };
            let selected = u == chosen;
            (u, label, selected)
        })
        .collect();
    let operator = s.may("operator");
    let body = json!({ "target": chosen });
    let (preview, refused) = if !operator {
        (
            None,
            "Your role may look at archives but not restore them.".to_string(),
        )
    } else {
        let mut dry = body.clone();
        dry["dry_run"] = true.into();
        match ui
            .api
            .post(&s, &format!("/v1/archive/{id}/restore"), &dry)
            .await
        {
            Ok(v) => (
                serde_json::from_value::<RestorePreview>(v).ok(),
                String::new(),
            ),
            Err(f) => (None, f.message().to_string()),
        }
    };
    let preview = preview.map(|mut p| {
        p.effect = sentence(&p.effect);
        p
    });
    Ok(render(&Restore {
        c: Chrome::new(&s, "Restore", "/archives"),
        place: preview
            .as_ref()
            .map(|p| where_it_goes(&p.target_endpoint))
            .unwrap_or_default(),
        age: preview.as_ref().map(|p| span(p.age)).unwrap_or_default(),
        preview,
        choices,
        body: body.to_string(),
        refused,
        a,
    }))
}
