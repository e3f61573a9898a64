//! Schelly's scheduler API for one job (`/v1/job/{uuid}/schelly/backups`), so that tools
//! written for Schelly can drive Bulwark.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One backup as Schelly describes it: a backup task of the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SchellyBackup {
    /// The backup task's UUID.
    pub id: String,
    /// `running` (pending or running), `available` (its archive is kept), `error` (failed or
    /// canceled) or `deleted` (its archive was purged).
    #[schema(example = "available")]
    pub status: String,
    /// When it started (or was asked for), UTC.
    pub start_time: String,
    /// When it ended, UTC.
    pub end_time: Option<String>,
    /// The archive it made, if any.
    pub custom_data: Option<String>,
    /// The retention rules that keep it: `hourly`, `daily`, `weekly`, `monthly`, `yearly`.
    pub tags: Vec<String>,
}
