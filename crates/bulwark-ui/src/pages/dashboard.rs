//! The dashboard: one sentence of overall state, jobs worst first, running tasks with their
//! progress, recent failures, store usage.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;

use bulwark_api::{JobResponse, StoreResponse, TaskResponse};

use super::{Chrome, PageResult, render, session};
use crate::Ui;
use crate::format::{Badge, ago, badge, bytes, span, until};

/// A job's row, worst first.
pub(crate) struct JobRow {
    pub uuid: String,
    pub name: String,
    pub health: Badge,
    pub last_good: String,
    pub rpo: String,
    pub next: String,
    pub verified: String,
    pub paused: bool,
}

/// A task's row.
pub(crate) struct TaskRow {
    pub uuid: String,
    pub op: String,
    pub status: Badge,
    pub owner: String,
    pub at: String,
    pub bytes: String,
    pub last_line: String,
}

pub(crate) struct StoreRow {
    pub name: String,
    pub plugin: String,
    pub archives: i64,
    pub stored: String,
    pub week: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    c: Chrome,
    sentence: String,
    tone: &'static str,
    jobs: Vec<JobRow>,
    running: Vec<TaskRow>,
    failures: Vec<TaskRow>,
    stores: Vec<StoreRow>,
}

/// How bad a health is: lower is worse.
fn rank(health: &str) -> u8 {
    match health {
        "failing" => 0,
        "retrying" => 1,
        "late" => 2,
        "never" => 3,
        "ok" => 4,
        _ => 5,
    }
}

pub(crate) fn job_rows(
    mut jobs: Vec<JobResponse>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<JobRow> {
    let age = |j: &JobResponse| {
        j.last_success
            .as_ref()
            .and_then(|s| crate::format::parse(&s.at))
            .map(|t| (now - t).num_seconds())
            .unwrap_or(i64::MAX)
    };
    jobs.sort_by(|a, b| {
        rank(&a.health)
            .cmp(&rank(&b.health))
            .then(age(b).cmp(&age(a)))
            .then(a.name.cmp(&b.name))
    });
    jobs.into_iter()
        .map(|j| JobRow {
            uuid: j.uuid.to_string(),
            health: badge(&j.health),
            last_good: match &j.last_success {
                Some(s) => ago(Some(&s.at), now),
                None => "never".into(),
            },
            rpo: span(j.effective_rpo),
            next: until(j.next_run.as_deref(), now),
            verified: match &j.last_verified {
                Some(v) => ago(Some(v), now),
                None => "not yet".into(),
            },
            paused: j.paused,
            name: j.name,
        })
        .collect()
}

pub(crate) fn task_rows(
    tasks: Vec<TaskResponse>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<TaskRow> {
    tasks
        .into_iter()
        .map(|t| TaskRow {
            uuid: t.uuid.to_string(),
            status: badge(&t.status),
            at: ago(
                t.stopped_at
                    .as_deref()
                    .or(t.started_at.as_deref())
                    .or(Some(&t.requested_at)),
                now,
            ),
            bytes: t.bytes.map(|b| bytes(b as i64)).unwrap_or_default(),
            last_line: t.log.lines().last().unwrap_or_default().to_string(),
            owner: t.owner,
            op: t.op,
        })
        .collect()
}

pub(crate) async fn page(State(ui): State<Ui>, headers: HeaderMap) -> PageResult {
    let s = session(&ui, &headers).await?;
    let now = ui.clock.now();
    let jobs: Vec<JobResponse> = ui.api.get(&s, "/v1/jobs").await?;
    let running: Vec<TaskResponse> = ui.api.get(&s, "/v1/tasks?status=running").await?;
    let failed: Vec<TaskResponse> = ui
        .api
        .get(&s, "/v1/tasks?status=failed&limit=5&debug=t")
        .await?;
    let stores: Vec<StoreResponse> = ui.api.get(&s, "/v1/stores").await?;
    let count = |h: &str| jobs.iter().filter(|j| j.health == h).count();
    let (failing, late, never) = (count("failing"), count("late"), count("never"));
    let trouble = failing + late;
    let (sentence, tone) = if jobs.is_empty() {
        (
            "No jobs yet: a job backs up a target into a store on a schedule.".to_string(),
            "idle",
        )
    } else if trouble == 0 && never == 0 && jobs.len() == 1 {
        (
            "The one job has a good backup within its RPO.".to_string(),
            "ok",
        )
    } else if trouble == 0 && never == 0 {
        (
            format!(
                "All {} jobs have a good backup within their RPO.",
                jobs.len()
            ),
            "ok",
        )
    } else {
        let mut parts = Vec::new();
        if failing > 0 {
            parts.push(format!("{failing} failing"));
        }
        if late > 0 {
            parts.push(format!("{late} late"));
        }
        if never > 0 {
            parts.push(format!("{never} without a good backup yet"));
        }
        (
            format!(
                "{} of {} jobs need attention: {}.",
                trouble + never,
                jobs.len(),
                parts.join(", ")
            ),
            if trouble > 0 { "bad" } else { "warn" },
        )
    };
    let stores = stores
        .into_iter()
        .map(|st| StoreRow {
            name: st.name,
            plugin: st.plugin,
            archives: st.usage.archives,
            stored: bytes(st.usage.stored),
            week: bytes(st.usage.added_week),
        })
        .collect();
    Ok(render(&Dashboard {
        c: Chrome::new(&s, "Dashboard", "/"),
        sentence,
        tone,
        jobs: job_rows(jobs, now),
        running: task_rows(running, now),
        failures: task_rows(failed, now),
        stores,
    }))
}
