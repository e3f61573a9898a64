//! Jobs: the list with pause, unpause and run; one job with its target, store, schedule,
//! retention, drills, run history and archives.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;

use bulwark_api::{ArchiveResponse, JobResponse, ScheduleCheck, TaskResponse};

use super::dashboard::{JobRow, TaskRow, job_rows, task_rows};
use super::{Chrome, PageResult, q, render, session, uuid_of};
use crate::Ui;
use crate::format::{Badge, ago, badge, bytes, span, until};

#[derive(Template)]
#[template(path = "jobs.html")]
struct Jobs {
    c: Chrome,
    jobs: Vec<(JobRow, JobResponse)>,
    operator: bool,
}

pub(crate) async fn list(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    let jobs: Vec<JobResponse> = ui.api.get(&s, "/v1/jobs").await?;
    let rows = job_rows(jobs.clone(), ui.clock.now());
    let jobs = rows
        .into_iter()
        .filter_map(|r| {
            let j = jobs.iter().find(|j| j.uuid.to_string() == r.uuid)?.clone();
            Some((r, j))
        })
        .collect();
    Ok(render(&Jobs {
        c: Chrome::new(&s, "Jobs", "/jobs"),
        jobs,
        operator: s.may("operator"),
    }))
}

/// An archive's row.
pub(crate) struct ArchiveRow {
    pub uuid: String,
    pub taken: String,
    pub age: String,
    pub status: Badge,
    pub size: String,
    pub target: String,
    pub store: String,
    pub notes: String,
}

/// Archives newest first, at most `max`.
pub(crate) fn archive_rows(
    mut list: Vec<ArchiveResponse>,
    now: chrono::DateTime<chrono::Utc>,
    max: usize,
) -> Vec<ArchiveRow> {
    list.sort_by(|a, b| b.taken_at.cmp(&a.taken_at));
    list.into_iter()
        .take(max)
        .map(|a| ArchiveRow {
            uuid: a.uuid.to_string(),
            age: ago(Some(&a.taken_at), now),
            taken: a.taken_at,
            status: badge(&a.status),
            size: bytes(a.size),
            target: a.target_name,
            store: a.store_name,
            notes: a.notes,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "job.html")]
struct Job {
    c: Chrome,
    j: JobResponse,
    health: Badge,
    last_good: String,
    rpo: String,
    next: String,
    verified: String,
    drill: Option<Badge>,
    history: Vec<TaskRow>,
    archives: Vec<ArchiveRow>,
    next_runs: Vec<String>,
    /// The job's bandwidth limit, in words.
    bandwidth: String,
    operator: bool,
}

pub(crate) async fn detail(
    State(ui): State<Ui>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PageResult {
    let id = uuid_of(&uuid)?;
    let s = session(&ui, &headers).await?;
    let now = ui.clock.now();
    let j: JobResponse = ui.api.get(&s, &format!("/v1/job/{id}")).await?;
    let history: Vec<TaskResponse> = ui
        .api
        .get(&s, &format!("/v1/tasks?job={id}&limit=20&debug=t"))
        .await?;
    let archives: Vec<ArchiveResponse> = ui
        .api
        .get(
            &s,
            &format!(
                "/v1/archives?target={}&store={}",
                q(&j.target_uuid.to_string()),
                q(&j.store_uuid.to_string())
            ),
        )
        .await?;
    let next_runs = if j.paused {
        Vec::new()
    } else {
        ui.api
            .get::<ScheduleCheck>(&s, &format!("/v1/schedules/check?when={}", q(&j.schedule)))
            .await
            .map(|c| c.next_runs)
            .unwrap_or_default()
    };
    Ok(render(&Job {
        c: Chrome::new(&s, format!("Job {}", j.name), "/jobs"),
        next_runs,
        health: badge(&j.health),
        last_good: match &j.last_success {
            Some(l) => ago(Some(&l.at), now),
            None => "never".into(),
        },
        rpo: span(j.effective_rpo),
        next: until(j.next_run.as_deref(), now),
        verified: j
            .last_verified
            .as_deref()
            .map(|v| ago(Some(v), now))
            .unwrap_or_else(|| "not yet".into()),
        drill: j.last_drill.as_ref().map(|d| badge(&d.outcome)),
        bandwidth: match j.bandwidth {
            Some(b) => format!("at most {}/s to the store", bytes(b)),
            None => "no limit".into(),
        },
        history: task_rows(history, now),
        archives: archive_rows(archives, now, 20),
        operator: s.may("operator"),
        j,
    }))
}
