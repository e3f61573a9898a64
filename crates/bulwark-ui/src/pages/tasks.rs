//! Tasks: the list filtered by state, kind and job; one task with its log growing live (the
//! script follows `/v1/task/{uuid}/log` from the offset it has, so a dropped connection resumes
//! where it stopped), its bytes and rate, and cancel.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use bulwark_api::{JobResponse, TaskResponse};

use super::dashboard::{TaskRow, task_rows};
use super::{Chrome, PageResult, q, render, session, uuid_of};
use crate::Ui;
use crate::format::{Badge, badge, bytes};

/// The filters of the task list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filter {
    status: Option<String>,
    op: Option<String>,
    job: Option<String>,
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct Tasks {
    c: Chrome,
    tasks: Vec<TaskRow>,
    status: String,
    op: String,
    job: String,
    jobs: Vec<(String, String)>,
}

const STATES: &[&str] = &["pending", "running", "done", "failed", "canceled"];
const OPS: &[&str] = &["backup", "restore", "drill", "purge", "check", "prune"];

pub(crate) async fn list(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> PageResult {
    let s = session(&ui, &headers).await?;
    let status = f
        .status
        .filter(|v| STATES.contains(&v.as_str()))
        .unwrap_or_default();
    let op =
        f.op.filter(|v| OPS.contains(&v.as_str()))
            .unwrap_or_default();
    let job = f
        .job
        .filter(|v| v.parse::<uuid::Uuid>().is_ok())
        .unwrap_or_default();
    let mut path = "/v1/tasks?limit=200&debug=t".to_string();
    if !status.is_empty() {
        path.push_str(&format!("&status={}", q(&status)));
    }
    if !job.is_empty() {
        path.push_str(&format!("&job={}", q(&job)));
    }
    let mut tasks: Vec<TaskResponse> = ui.api.get(&s, &path).await?;
    if !op.is_empty() {
        tasks.retain(|t| t.op == op);
    }
    let jobs: Vec<JobResponse> = ui.api.get(&s, "/v1/jobs").await?;
    Ok(render(&Tasks {
        c: Chrome::new(&s, "Tasks", "/tasks"),
        tasks: task_rows(tasks, ui.clock.now()),
        status,
        op,
        job,
        jobs: jobs
            .into_iter()
            .map(|j| (j.uuid.to_string(), j.name))
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "task.html")]
struct TaskPage {
    c: Chrome,
    t: TaskResponse,
    status: Badge,
    bytes: String,
    job: Option<(String, String)>,
    live: bool,
    operator: bool,
}

pub(crate) async fn detail(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let t: TaskResponse = ui.api.get(&s, &format!("/v1/task/{id}")).await?;
    let job = match t.job_uuid {
        Some(j) => ui
            .api
            .get::<JobResponse>(&s, &format!("/v1/job/{j}"))
            .await
            .ok()
            .map(|j| (j.uuid.to_string(), j.name)),
        None => None,
    };
    Ok(render(&TaskPage {
        c: Chrome::new(&s, format!("Task {}", t.op), "/tasks"),
        status: badge(&t.status),
        bytes: t.bytes.map(|b| bytes(b as i64)).unwrap_or_default(),
        live: matches!(t.status.as_str(), "pending" | "running"),
        operator: s.may("operator"),
        job,
        t,
    }))
}
