//! Notification channels and their deliveries.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/notifications` and `PUT /v1/notification/{uuid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRequest {
    /// A unique name.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// `webhook` or `email`.
    #[schema(pattern = "^(webhook|email)$")]
    pub kind: String,
    /// The channel's settings. A webhook: `url` and `secret` (its signing key, at least 16
    /// characters; made for you at creation when absent, and shown once). Email: `host`,
    /// `port`, `security` (`starttls`, `tls` or `none`), `username`, `password`, `from`, `to`
    /// (addresses separated by commas). Secrets come back as `<redacted>`; sending `<redacted>`
    /// in a replacement keeps the stored one.
    #[schema(value_type = Object)]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The events it wants: `backup_failed`, `job_late`, `job_recovered`, `restore_done`,
    /// `restore_failed`, `check_failed`, `drill_failed`, `copy_failed`. Absent: all but
    /// `restore_done`.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// The jobs it is told about (for job events); absent or empty for every job.
    #[serde(default)]
    pub jobs: Option<Vec<Uuid>>,
    /// Whether it is sent anything (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelResponse {
    pub uuid: Uuid,
    pub name: String,
    /// `webhook` or `email`.
    pub kind: String,
    /// Its settings, secrets shown as `<redacted>`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub events: Vec<String>,
    /// Empty: every job.
    pub jobs: Vec<Uuid>,
    pub enabled: bool,
    /// When it was made (UTC).
    pub created_at: String,
}

/// A channel was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelCreated {
    /// Always `created`.
    pub ok: String,
    pub uuid: Uuid,
    /// The webhook signing secret made for it, shown only now; absent when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One event sent (or to be sent) to one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryResponse {
    pub uuid: Uuid,
    pub channel_uuid: Uuid,
    pub channel_name: String,
    /// The event, or `test`.
    pub event: String,
    /// `pending` (to be tried, or tried again at `next_attempt_at`), `sent` or `failed` (given
    /// up).
    pub status: String,
    /// Tries so far.
    pub attempts: i64,
    /// Why the last try failed.
    pub error: String,
    pub job_uuid: Option<Uuid>,
    pub task_uuid: Option<Uuid>,
    /// When it was queued (UTC).
    pub created_at: String,
    pub next_attempt_at: Option<String>,
    pub sent_at: Option<String>,
    /// The document sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}
