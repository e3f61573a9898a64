//! `/v1/tasks` and `/v1/task/{uuid}`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use bulwark_api::{ErrorResponse, OkResponse, TaskResponse};
use bulwark_catalog::{CancelOutcome, Task, TaskFilter};
use bulwark_core::ids::TaskId;
use bulwark_core::state::TaskStatus;
use bulwark_core::timefmt::format_epoch;

use super::{not_found, ok, time_opt};
use crate::engine::Cancel;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Query, parse_id};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks))
        .routes(routes!(get_task, cancel_task))
        .routes(routes!(task_log))
}

/// Options of the task log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    /// Start at this byte of the log (what a client already has).
    offset: Option<String>,
    /// `t`: keep the response open and send the log as it grows, until the task ends.
    follow: Option<String>,
}

/// How often a followed log is checked for new lines.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A task's log as plain text, from `offset`; with `follow=t`, streamed while the task runs.
#[utoipa::path(get, path = "/v1/task/{uuid}/log", tag = "tasks", params(
        ("uuid" = uuid::Uuid, Path, description = "The task"), LogQuery),
    responses((status = 200, body = String, content_type = "text/plain"),
              (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn task_log(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let id: TaskId = parse_id("task", &uuid)?;
    let offset = match q.offset.as_deref() {
        None => 0,
        Some(o) => o.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("offset must be a byte count, not '{o}'"))
        })?,
    };
    let follow = crate::extract::parse_flag("follow", q.follow.as_deref())?.unwrap_or(false);
    let task = st
        .catalog
        .get_task(id)
        .await?
        .ok_or_else(|| not_found("task", id))?;
    let headers = [(
        axum::http::header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    )];
    if !follow || task.status.is_terminal() {
        let rest = task
            .log
            .as_bytes()
            .get(offset..)
            .unwrap_or_default()
            .to_vec();
        return Ok((headers, rest).into_response());
    }
    let catalog = st.catalog.clone();
    let stream = futures_util::stream::unfold(
        (catalog, offset, false),
        move |(catalog, mut offset, done)| async move {
            if done {
                return None;
            }
            loop {
                let task = match catalog.get_task(id).await {
                    Ok(Some(t)) => t,
                    _ => return None,
                };
                let log = task.log.as_bytes();
                let finished = task.status.is_terminal();
                if log.len() > offset || finished {
                    let chunk = log.get(offset..).unwrap_or_default().to_vec();
                    offset = log.len();
                    return Some((
                        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(chunk)),
                        (catalog, offset, finished),
                    ));
                }
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        },
    );
    Ok((headers, axum::body::Body::from_stream(stream)).into_response())
}

/// Filters of the task list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct TaskQuery {
    /// Only tasks in this state: `pending`, `running`, `canceled`, `failed` or `done`.
    status: Option<String>,
    /// Accepted for compatibility with SHIELD clients; logs are always included.
    debug: Option<String>,
    /// At most this many tasks, newest first.
    limit: Option<String>,
    /// Only tasks of this job.
    job: Option<String>,
}

pub(crate) fn response(st: &AppState, t: Task) -> TaskResponse {
    let bytes = (t.status == TaskStatus::Running)
        .then(|| st.engine.progress(t.uuid))
        .flatten();
    TaskResponse {
        bytes,
        uuid: t.uuid.0,
        owner: t.owner,
        op: t.op.to_string(),
        job_uuid: t.job.map(|i| i.0),
        archive_uuid: t.archive.map(|i| i.0),
        target_uuid: t.target.map(|i| i.0),
        status: t.status.to_string(),
        requested_at: format_epoch(t.requested_at),
        started_at: time_opt(t.started_at),
        stopped_at: time_opt(t.stopped_at),
        log: t.log,
        not_before: t
            .run_after
            .filter(|_| t.status == TaskStatus::Pending)
            .map(format_epoch),
        attempt: t.attempt,
    }
}

/// Lists tasks, newest first.
#[utoipa::path(get, path = "/v1/tasks", tag = "tasks", params(TaskQuery),
    responses((status = 200, body = [TaskResponse]), (status = 400, body = ErrorResponse)))]
async fn list_tasks(
    State(st): State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<crate::auth::Caller>,
    Query(q): Query<TaskQuery>,
) -> ApiResult<Json<Vec<TaskResponse>>> {
    let _ = q.debug;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<TaskStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("status: {e}")))?;
    let limit = q
        .limit
        .as_deref()
        .map(|l| match l.parse::<i64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit must be a positive number, not '{l}'"
            ))),
        })
        .transpose()?;
    let job = crate::extract::parse_opt_id("job", q.job.as_deref())?;
    let rows = st
        .catalog
        .list_tasks(&TaskFilter { status, limit, job })
        .await?;
    Ok(Json(
        rows.into_iter()
            .filter(|t| caller.may_use(t.target))
            .map(|t| response(&st, t))
            .collect(),
    ))
}

/// Shows a task with its log.
#[utoipa::path(get, path = "/v1/task/{uuid}", tag = "tasks",
    params(("uuid" = uuid::Uuid, Path, description = "The task")),
    responses((status = 200, body = TaskResponse), (status = 404, body = ErrorResponse)))]
async fn get_task(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<TaskResponse>> {
    let id: TaskId = parse_id("task", &uuid)?;
    let t = st
        .catalog
        .get_task(id)
        .await?
        .ok_or_else(|| not_found("task", id))?;
    Ok(Json(response(&st, t)))
}

/// Cancels a task. A pending task is canceled at once; a running one has its plugins' process
/// groups killed and ends `canceled`; a finished one cannot be (409).
#[utoipa::path(delete, path = "/v1/task/{uuid}", tag = "tasks",
    params(("uuid" = uuid::Uuid, Path, description = "The task")),
    responses((status = 200, body = OkResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
async fn cancel_task(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<OkResponse>> {
    let id: TaskId = parse_id("task", &uuid)?;
    match st.catalog.cancel_task(id, st.now()).await? {
        CancelOutcome::Canceled => {
            tracing::info!(task = %id, "Task canceled.");
            Ok(ok("canceled"))
        }
        CancelOutcome::Running => match st.engine.cancel(id) {
            Cancel::Killing => {
                tracing::info!(task = %id, "Killing a running task.");
                // Answer once the worker has recorded the end, so a client that reads the
                // task next sees it canceled.
                for _ in 0..150 {
                    match st.catalog.get_task(id).await? {
                        Some(t) if t.status.is_terminal() => break,
                        _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                    }
                }
                Ok(ok("canceled"))
            }
            Cancel::NotRunning => Err(ApiError::conflict(format!(
                "task {id} is running but not on a worker of this daemon; try again in a moment"
            ))),
        },
        CancelOutcome::AlreadyFinished(status) => {
            Err(ApiError::conflict(format!("task {id} is already {status}")))
        }
        CancelOutcome::NotFound => Err(not_found("task", id)),
    }
}
