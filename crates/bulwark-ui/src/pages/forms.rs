//! Creating and editing targets and stores: forms generated from the plugin's `info` fields
//! (types, required ones, help and examples; secrets as password inputs that keep the stored
//! value unless replaced), a connection test (the plugin's `validate`), what uses each, and
//! delete (refused with the reason while in use).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use bulwark_api::{JobResponse, PluginResponse, StoreResponse, TargetResponse};

use super::{Chrome, PageResult, q, render, session, uuid_of};
use crate::Ui;

/// One endpoint field as the form shows it.
pub(crate) struct FieldView {
    pub key: String,
    pub id: String,
    pub label: String,
    pub help: String,
    pub example: String,
    pub kind: String,
    pub input: &'static str,
    pub required: bool,
    pub value: String,
    pub checked: bool,
    pub secret_set: bool,
}

fn input_type(kind: &str) -> &'static str {
    match kind {
        "password" => "password",
        "port" | "number" => "number",
        "bool" => "checkbox",
        "list" => "textarea",
        _ => "text",
    }
}

/// The form's fields for `plugin`'s `info` fields, filled from a stored (redacted) endpoint.
fn fields(info: &PluginResponse, endpoint: &serde_json::Value) -> Vec<FieldView> {
    info.fields
        .iter()
        .filter_map(|f| {
            let key = f["name"].as_str()?.to_string();
            let kind = f["type"].as_str().unwrap_or("string").to_string();
            let stored = endpoint.get(&key);
            let value = match stored {
                Some(serde_json::Value::String(s)) if kind != "password" => s.clone(),
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            Some(FieldView {
                id: format!("ep-{key}"),
                label: f["title"].as_str().unwrap_or(&key).to_string(),
                help: f["help"].as_str().unwrap_or_default().to_string(),
                example: f["example"].as_str().unwrap_or_default().to_string(),
                input: input_type(&kind),
                required: f["required"].as_bool().unwrap_or(false),
                checked: stored.and_then(|v| v.as_bool()).unwrap_or(false),
                secret_set: kind == "password" && stored.is_some(),
                value,
                kind,
                key,
            })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "form.html")]
struct Form {
    c: Chrome,
    /// `target` or `store`.
    kind: &'static str,
    heading: String,
    /// The plugins to pick from, when none is picked yet.
    plugins: Vec<(String, String)>,
    plugin: String,
    uuid: String,
    name: String,
    summary: String,
    agent: String,
    fields: Vec<FieldView>,
    used_by: Vec<(String, String)>,
    admin: bool,
    operator: bool,
    info_error: String,
}

/// Which plugin a new one uses.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct New {
    plugin: Option<String>,
}

async fn new_form(ui: &Ui, headers: &HeaderMap, kind: &'static str, n: New) -> PageResult {
    let s = session(ui, headers).await?;
    let plugins: Vec<PluginResponse> = ui.api.get(&s, "/v1/plugins").await?;
    let usable = |p: &PluginResponse| {
        p.error.is_none()
            && p.features
                .as_ref()
                .and_then(|f| f.get(kind))
                .and_then(|v| v.as_str())
                == Some("yes")
    };
    let chosen = n.plugin.and_then(|name| {
        plugins
            .iter()
            .find(|p| p.name == name && usable(p))
            .cloned()
    });
    let here = if kind == "target" {
        "/targets"
    } else {
        "/stores"
    };
    let (plugin, fields) = match &chosen {
        Some(p) => (p.name.clone(), self::fields(p, &serde_json::Value::Null)),
        None => (String::new(), Vec::new()),
    };
    Ok(render(&Form {
        c: Chrome::new(&s, format!("New {kind}"), here),
        kind,
        heading: format!("New {kind}"),
        plugins: plugins
            .iter()
            .filter(|p| usable(p))
            .map(|p| {
                (
                    p.name.clone(),
                    p.title.clone().unwrap_or_else(|| p.name.clone()),
                )
            })
            .collect(),
        plugin,
        uuid: String::new(),
        name: String::new(),
        summary: String::new(),
        agent: "local".into(),
        fields,
        used_by: Vec::new(),
        admin: s.may("admin"),
        operator: s.may("operator"),
        info_error: String::new(),
    }))
}

pub(crate) async fn new_target(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(n): Query<New>,
) -> PageResult {
    new_form(&ui, &headers, "target", n).await
}

pub(crate) async fn new_store(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(n): Query<New>,
) -> PageResult {
    new_form(&ui, &headers, "store", n).await
}

/// The form of a stored target or store.
#[allow(clippy::too_many_arguments)]
async fn edit_form(
    ui: &Ui,
    s: &crate::api::Session,
    kind: &'static str,
    uuid: String,
    name: String,
    summary: String,
    plugin: String,
    endpoint: &str,
    agent: String,
) -> PageResult {
    let info = ui
        .api
        .get::<PluginResponse>(s, &format!("/v1/plugin/{}", q(&plugin)))
        .await;
    let endpoint: serde_json::Value = serde_json::from_str(endpoint).unwrap_or_default();
    let (fields, info_error) = match &info {
        Ok(p) => (self::fields(p, &endpoint), String::new()),
        Err(e) => (Vec::new(), e.message().to_string()),
    };
    let jobs: Vec<JobResponse> = ui
        .api
        .get(s, &format!("/v1/jobs?{kind}={}", q(&uuid)))
        .await?;
    let here = if kind == "target" {
        "/targets"
    } else {
        "/stores"
    };
    Ok(render(&Form {
        c: Chrome::new(s, format!("{} {name}", capital(kind)), here),
        kind,
        heading: format!("{} {name}", capital(kind)),
        plugins: Vec::new(),
        plugin,
        uuid,
        name,
        summary,
        agent,
        fields,
        used_by: jobs
            .into_iter()
            .map(|j| (j.uuid.to_string(), j.name))
            .collect(),
        admin: s.may("admin"),
        operator: s.may("operator"),
        info_error,
    }))
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(crate) async fn target(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let t: TargetResponse = ui.api.get(&s, &format!("/v1/target/{id}")).await?;
    edit_form(
        &ui,
        &s,
        "target",
        id.to_string(),
        t.name,
        t.summary,
        t.plugin,
        &t.endpoint,
        t.agent,
    )
    .await
}

pub(crate) async fn store(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let t: StoreResponse = ui.api.get(&s, &format!("/v1/store/{id}")).await?;
    edit_form(
        &ui,
        &s,
        "store",
        id.to_string(),
        t.name,
        t.summary,
        t.plugin,
        &t.endpoint,
        String::new(),
    )
    .await
}
