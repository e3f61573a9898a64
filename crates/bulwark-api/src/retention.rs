//! Retention policies, their previews and the sweep.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The rules of a policy, as every request and answer spells them. An archive is kept while
/// any rule keeps it; one no rule keeps is purged by the next sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionRules {
    /// Seconds an archive is kept after it is taken (seed 003's one rule); at least 3600.
    #[schema(example = 86400)]
    pub expires: Option<i64>,
    /// Keep the N newest archives.
    #[schema(minimum = 0, maximum = 100000)]
    pub keep_last: Option<u32>,
    /// Keep the newest archive of each of the N newest hours that have one.
    #[schema(minimum = 0, maximum = 100000)]
    pub keep_hourly: Option<u32>,
    /// ... days (in the daemon's time zone).
    #[schema(minimum = 0, maximum = 100000)]
    pub keep_daily: Option<u32>,
    /// ... ISO weeks (Monday to Sunday).
    #[schema(minimum = 0, maximum = 100000)]
    pub keep_weekly: Option<u32>,
    /// ... months.
    #[schema(minimum = 0, maximum = 100000)]
    pub keep_monthly: Option<u32>,
    /// ... years.
    #[schema(minimum = 0, maximum = 100000)]
    pub keep_yearly: Option<u32>,
    /// Keep every archive taken within this many seconds of the job's newest one.
    #[schema(minimum = 1, maximum = 3153600000i64)]
    pub keep_within: Option<i64>,
    /// Never purge when fewer than this many archives of the job would be left (default 1).
    #[schema(minimum = 0, maximum = 1000)]
    pub min_good: Option<u32>,
}

macro_rules! policy_body {
    ($(#[$m:meta])* $name:ident, $summary:ty, $sdoc:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Human-friendly name.
            #[schema(
                min_length = 1,
                max_length = 200,
                pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
            )]
            pub name: String,
            #[doc = $sdoc]
            pub summary: $summary,
            /// Seconds to keep archives; at least 3600. Optional when a `keep_*` rule is given.
            #[serde(default, deserialize_with = "crate::integral_opt")]
            pub expires: Option<i64>,
            /// Keep the N newest archives.
            #[serde(default)]
            #[schema(minimum = 0, maximum = 100000)]
            pub keep_last: Option<u32>,
            /// Keep the newest archive of each of the N newest hours that have one.
            #[serde(default)]
            #[schema(minimum = 0, maximum = 100000)]
            pub keep_hourly: Option<u32>,
            /// ... days, in the daemon's time zone.
            #[serde(default)]
            #[schema(minimum = 0, maximum = 100000)]
            pub keep_daily: Option<u32>,
            /// ... ISO weeks (Monday to Sunday).
            #[serde(default)]
            #[schema(minimum = 0, maximum = 100000)]
            pub keep_weekly: Option<u32>,
            /// ... months.
            #[serde(default)]
            #[schema(minimum = 0, maximum = 100000)]
            pub keep_monthly: Option<u32>,
            /// ... years.
            #[serde(default)]
            #[schema(minimum = 0, maximum = 100000)]
            pub keep_yearly: Option<u32>,
            /// Keep every archive taken within this many seconds of the job's newest one.
            #[serde(default, deserialize_with = "crate::integral_opt")]
            #[schema(minimum = 1, maximum = 3153600000i64)]
            pub keep_within: Option<i64>,
            /// Never purge when fewer than this many archives of a job would be left; 1 when
            /// absent, 0 to turn the guard off.
            #[serde(default)]
            #[schema(minimum = 0, maximum = 1000)]
            pub min_good: Option<u32>,
        }

        impl $name {
            /// The rules of the body.
            pub fn rules(&self) -> RetentionRules {
                RetentionRules {
                    expires: self.expires,
                    keep_last: self.keep_last,
                    keep_hourly: self.keep_hourly,
                    keep_daily: self.keep_daily,
                    keep_weekly: self.keep_weekly,
                    keep_monthly: self.keep_monthly,
                    keep_yearly: self.keep_yearly,
                    keep_within: self.keep_within,
                    min_good: self.min_good,
                }
            }
        }
    };
}

policy_body!(
    /// `POST /v1/retention`: `expires`, a `keep_*` rule, or both.
    CreateRetention,
    Option<String>,
    "Annotation for operators (optional on create)."
);
policy_body!(
    /// `PUT /v1/retention/{uuid}`: name and summary required; the rules replace the old ones
    /// (an absent rule is no rule).
    UpdateRetention,
    String,
    "Annotation for operators."
);

/// A retention policy as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionResponse {
    /// Its UUID.
    pub uuid: Uuid,
    /// Human-friendly name.
    pub name: String,
    /// Annotation for operators.
    pub summary: String,
    /// Seconds an archive is kept after it is taken; null when the policy is rules alone.
    #[schema(example = 86400)]
    pub expires: Option<i64>,
    /// Keep the N newest.
    pub keep_last: Option<u32>,
    /// The newest of each of the N newest hours.
    pub keep_hourly: Option<u32>,
    /// ... days.
    pub keep_daily: Option<u32>,
    /// ... ISO weeks.
    pub keep_weekly: Option<u32>,
    /// ... months.
    pub keep_monthly: Option<u32>,
    /// ... years.
    pub keep_yearly: Option<u32>,
    /// Seconds before the newest archive within which every archive is kept.
    pub keep_within: Option<i64>,
    /// The fewest archives of a job the sweep leaves.
    pub min_good: u32,
    /// The rules in words.
    #[schema(example = "7 daily, 4 weekly, 12 monthly, at least 1 left")]
    pub rules: String,
}

/// `GET /v1/retention/{uuid}/preview?job=J`
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The job whose archives are decided.
    pub job: Uuid,
}

/// What a policy would do to a job's archives now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RetentionPreview {
    /// The job.
    pub job_uuid: Uuid,
    /// The rules applied, in words.
    pub rules: String,
    /// How many archives stay.
    pub keep: usize,
    /// How many the sweep would purge.
    pub purge: usize,
    /// Every valid archive of the job, newest first.
    pub archives: Vec<PreviewArchive>,
}

/// One archive in a preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewArchive {
    /// The archive.
    pub uuid: Uuid,
    /// When it was taken (UTC).
    pub taken_at: String,
    /// `keep` or `purge`.
    pub action: String,
    /// The rules that keep it: `pinned`, `expires`, `keep_last`, `keep_hourly`, `keep_daily`,
    /// `keep_weekly`, `keep_monthly`, `keep_yearly`, `keep_within`, `min_good`.
    pub kept_by: Vec<String>,
    /// The earliest time it could go (UTC); null while a count rule, a pin or `min_good`
    /// holds it.
    pub expires_at: Option<String>,
}

/// `POST /v1/retention/sweep`: what the sweep queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SweepResponse {
    /// Purge tasks queued (new and retried).
    pub purges: u64,
}
