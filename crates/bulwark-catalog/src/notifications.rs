//! Notification channels, the deliveries made to them, and what each job was last announced as.
//!
//! An event is queued as one delivery per enabled channel that wants it (its event, and its job
//! when the channel names jobs). A sender takes due deliveries, tries them, and records each
//! attempt: sent, or tried again later, or given up after the last attempt.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use bulwark_core::ids::{JobId, TaskId};

use crate::{Catalog, CatalogError, Deleted, Result, Updated, updated};

/// A channel as stored: its config's secret values are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub uuid: Uuid,
    pub name: String,
    /// `webhook` or `email`.
    pub kind: String,
    /// A JSON object, secrets sealed.
    pub config: String,
    pub events: Vec<String>,
    /// Empty: every job.
    pub jobs: Vec<JobId>,
    pub enabled: bool,
    pub created_at: i64,
}

/// What a channel is made or replaced with.
#[derive(Debug, Clone)]
pub struct ChannelFields {
    pub name: String,
    pub kind: String,
    pub config: String,
    pub events: Vec<String>,
    pub jobs: Vec<JobId>,
    pub enabled: bool,
}

/// One event for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub uuid: Uuid,
    pub channel: Uuid,
    pub channel_name: String,
    pub event: String,
    /// The JSON document sent.
    pub payload: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_at: Option<i64>,
    pub last_error: String,
    pub job: Option<JobId>,
    pub task: Option<TaskId>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// An event to announce.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Its name: `backup_failed`, `job_late`, ...
    pub event: String,
    /// The job it concerns, matched against the channels' job lists.
    pub job: Option<JobId>,
    pub task: Option<TaskId>,
    /// The JSON document to send.
    pub payload: String,
}

/// Filters of the delivery list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub channel: Option<Uuid>,
    pub status: Option<String>,
    pub event: Option<String>,
    pub limit: i64,
}

const CHANNEL_COLUMNS: &str = "uuid, name, kind, config, events, jobs, enabled, created_at";

fn corrupt(what: &'static str, detail: impl ToString) -> CatalogError {
    CatalogError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

fn channel_from_row(r: &SqliteRow) -> Result<Channel> {
    let events: String = r.try_get("events")?;
    let jobs: String = r.try_get("jobs")?;
    let uuid: String = r.try_get("uuid")?;
    Ok(Channel {
        uuid: crate::parse_id("notification channel", &uuid)?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        config: r.try_get("config")?,
        events: serde_json::from_str(&events).map_err(|e| corrupt("notification channel", e))?,
        jobs: serde_json::from_str(&jobs).map_err(|e| corrupt("notification channel", e))?,
        enabled: r.try_get("enabled")?,
        created_at: r.try_get("created_at")?,
    })
}

fn delivery_from_row(r: &SqliteRow) -> Result<Delivery> {
    let uuid: String = r.try_get("uuid")?;
    let channel: String = r.try_get("channel_uuid")?;
    Ok(Delivery {
        uuid: crate::parse_id("delivery", &uuid)?,
        channel: crate::parse_id("delivery", &channel)?,
        channel_name: r.try_get("name")?,
        event: r.try_get("event")?,
        payload: r.try_get("payload")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_at: r.try_get("next_at")?,
        last_error: r.try_get("last_error")?,
        job: crate::parse_opt_id("delivery", r.try_get("job_uuid")?)?,
        task: crate::parse_opt_id("delivery", r.try_get("task_uuid")?)?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn name_taken(e: sqlx::Error, name: &str) -> CatalogError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => CatalogError::Conflict(format!(
            "a notification channel named '{name}' exists already"
        )),
        _ => CatalogError::Database(e),
    }
}

const DELIVERY_SELECT: &str = "SELECT d.uuid, d.channel_uuid, c.name, d.event, d.payload, d.status,
        d.attempts, d.next_at, d.last_error, d.job_uuid, d.task_uuid, d.created_at, d.sent_at
     FROM notification_deliveries d JOIN notification_channels c ON c.uuid = d.channel_uuid";

impl Catalog {
    /// Every channel, by name.
    pub async fn list_channels(&self) -> Result<Vec<Channel>> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM notification_channels ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    /// One channel.
    pub async fn get_channel(&self, id: Uuid) -> Result<Option<Channel>> {
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE uuid = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    /// Makes a channel; its name must be new.
    pub async fn create_channel(&self, f: &ChannelFields, now: i64) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let q = sqlx::query(
            "INSERT INTO notification_channels (uuid, name, kind, config, events, jobs, enabled, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(&f.name)
        .bind(&f.kind)
        .bind(&f.config)
        .bind(to_json(&f.events))
        .bind(to_json(&f.jobs))
        .bind(f.enabled)
        .bind(now);
        self.write_one(q).await.map_err(|e| match e {
            CatalogError::Database(e) => name_taken(e, &f.name),
            other => other,
        })?;
        Ok(id)
    }

    /// Replaces a channel.
    pub async fn update_channel(&self, id: Uuid, f: &ChannelFields) -> Result<Updated> {
        let q = sqlx::query(
            "UPDATE notification_channels SET name = ?, kind = ?, config = ?, events = ?, jobs = ?,
                    enabled = ?
             WHERE uuid = ?",
        )
        .bind(&f.name)
        .bind(&f.kind)
        .bind(&f.config)
        .bind(to_json(&f.events))
        .bind(to_json(&f.jobs))
        .bind(f.enabled)
        .bind(id.to_string());
        let r = self.write_one(q).await.map_err(|e| match e {
            CatalogError::Database(e) => name_taken(e, &f.name),
            other => other,
        })?;
        Ok(updated(r.rows_affected()))
    }

    /// Deletes a channel and its deliveries.
    pub async fn delete_channel(&self, id: Uuid) -> Result<Deleted> {
        let q =
            sqlx::query("DELETE FROM notification_channels WHERE uuid = ?").bind(id.to_string());
        let r = self.write_one(q).await?;
        Ok(if r.rows_affected() == 0 {
            Deleted::NotFound
        } else {
            Deleted::Deleted
        })
    }

    /// Queues `notice` for every enabled channel that wants it; returns how many deliveries.
    pub async fn queue_notice(&self, notice: &Notice, now: i64) -> Result<usize> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(&format!(
            "SELECT {CHANNEL_COLUMNS} FROM notification_channels WHERE enabled = 1"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut queued = 0;
        for row in &rows {
            let c = channel_from_row(row)?;
            let wants_job = c.jobs.is_empty() || notice.job.is_some_and(|j| c.jobs.contains(&j));
            if !c.events.contains(&notice.event) || !wants_job {
                continue;
            }
            insert_delivery(&mut tx, c.uuid, notice, now, Some(now)).await?;
            queued += 1;
        }
        self.commit(tx).await?;
        Ok(queued)
    }

    /// Records `notice` for one channel whatever it wants (a test send), to be sent by the
    /// caller at once: it is never due for the sender.
    pub async fn queue_notice_to(&self, channel: Uuid, notice: &Notice, now: i64) -> Result<Uuid> {
        let mut tx = self.write_tx().await?;
        let id = insert_delivery(&mut tx, channel, notice, now, None).await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Pending deliveries due at `now`, oldest first.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE d.status = 'pending' AND d.next_at <= ?
             ORDER BY d.next_at, d.created_at LIMIT ?"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// One delivery.
    pub async fn get_delivery(&self, id: Uuid) -> Result<Option<Delivery>> {
        let row = sqlx::query(&format!("{DELIVERY_SELECT} WHERE d.uuid = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// Deliveries, newest first.
    pub async fn list_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "{DELIVERY_SELECT}
             WHERE (?1 IS NULL OR d.channel_uuid = ?1) AND (?2 IS NULL OR d.status = ?2)
               AND (?3 IS NULL OR d.event = ?3)
             ORDER BY d.created_at DESC, d.rowid DESC LIMIT ?4"
        ))
        .bind(f.channel.map(|c| c.to_string()))
        .bind(&f.status)
        .bind(&f.event)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Records an attempt that reached the channel.
    pub async fn delivery_sent(&self, id: Uuid, now: i64) -> Result<()> {
        let q = sqlx::query(
            "UPDATE notification_deliveries
             SET status = 'sent', attempts = attempts + 1, sent_at = ?, next_at = NULL, last_error = ''
             WHERE uuid = ?",
        )
        .bind(now)
        .bind(id.to_string());
        self.write_one(q).await?;
        Ok(())
    }

    /// Records an attempt that failed: tried again at `retry_at`, or given up when `None`.
    pub async fn delivery_failed(
        &self,
        id: Uuid,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let q = sqlx::query(
            "UPDATE notification_deliveries
             SET status = CASE WHEN ?1 IS NULL THEN 'failed' ELSE 'pending' END,
                 attempts = attempts + 1, next_at = ?1, last_error = ?2
             WHERE uuid = ?3",
        )
        .bind(retry_at)
        .bind(error)
        .bind(id.to_string());
        self.write_one(q).await?;
        Ok(())
    }

    /// What a job was last announced as (`ok`, `failing`, `late`), if anything.
    pub async fn job_alert(&self, job: JobId) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT state FROM job_alerts WHERE job_uuid = ?")
                .bind(job.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Records what a job is now announced as.
    pub async fn set_job_alert(&self, job: JobId, state: &str, now: i64) -> Result<()> {
        let q = sqlx::query(
            "INSERT INTO job_alerts (job_uuid, state, since) VALUES (?1, ?2, ?3)
             ON CONFLICT (job_uuid) DO UPDATE SET state = ?2, since = ?3 WHERE state <> ?2",
        )
        .bind(job.to_string())
        .bind(state)
        .bind(now);
        self.write_one(q).await?;
        Ok(())
    }
}

async fn insert_delivery(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    channel: Uuid,
    notice: &Notice,
    now: i64,
    next_at: Option<i64>,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO notification_deliveries
           (uuid, channel_uuid, event, payload, status, next_at, job_uuid, task_uuid, created_at)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(channel.to_string())
    .bind(&notice.event)
    .bind(&notice.payload)
    .bind(next_at)
    .bind(notice.job.map(|j| j.to_string()))
    .bind(notice.task.map(|t| t.to_string()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}
