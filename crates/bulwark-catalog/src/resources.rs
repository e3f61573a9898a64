//! Schedules, retention policies, targets and stores: the four resources a job refers to.
//!
//! Each can be listed (optionally only the unused ones: those no job refers to, and for targets
//! and stores no archive still holding data either), read, created, updated, and deleted when
//! nothing uses it.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use bulwark_core::ids::{RetentionId, ScheduleId, StoreId, TargetId};
use bulwark_core::retention::Rules;

use crate::records::*;
use crate::{Catalog, Deleted, Result, Updated, count, parse_id, updated};

/// How a resource is referred to, for the in-use checks of delete.
pub(crate) struct Reference {
    /// `SELECT COUNT(*) ... WHERE column = ?`
    pub(crate) count_sql: &'static str,
    /// What the referrers are called, in the plural.
    pub(crate) plural: &'static str,
}

const JOBS_BY_SCHEDULE: Reference = Reference {
    count_sql: "SELECT COUNT(*) FROM jobs WHERE schedule_uuid = ?1 OR drill_schedule_uuid = ?1",
    plural: "jobs",
};
const JOBS_BY_RETENTION: Reference = Reference {
    count_sql: "SELECT (SELECT COUNT(*) FROM jobs WHERE retention_uuid = ?1)
        + (SELECT COUNT(*) FROM job_copies WHERE retention_uuid = ?1)",
    plural: "jobs",
};
const JOBS_BY_TARGET: Reference = Reference {
    count_sql: "SELECT COUNT(*) FROM jobs WHERE target_uuid = ?1 OR drill_target_uuid = ?1",
    plural: "jobs",
};
const ARCHIVES_BY_TARGET: Reference = Reference {
    count_sql: "SELECT COUNT(*) FROM archives WHERE target_uuid = ? AND status <> 'purged'",
    plural: "archives",
};
const JOBS_BY_STORE: Reference = Reference {
    count_sql: "SELECT (SELECT COUNT(*) FROM jobs WHERE store_uuid = ?1)
        + (SELECT COUNT(*) FROM job_copies WHERE store_uuid = ?1)",
    plural: "jobs",
};
const ARCHIVES_BY_STORE: Reference = Reference {
    count_sql: "SELECT COUNT(*) FROM archives WHERE store_uuid = ? AND status <> 'purged'",
    plural: "archives",
};

impl Catalog {
    /// Deletes one row unless something refers to it. `cleanup` statements run first (removing
    /// records of purged archives, which hold no data), then `delete_sql`; all in one transaction.
    pub(crate) async fn delete_unless_used(
        &self,
        id: &str,
        refs: &[Reference],
        cleanup: &[&'static str],
        delete_sql: &'static str,
    ) -> Result<Deleted> {
        let mut tx = self.write_tx().await?;
        let mut uses = Vec::new();
        for r in refs {
            let n = count(&mut *tx, r.count_sql, id).await?;
            if n > 0 {
                uses.push(format!("{n} {}", r.plural));
            }
        }
        if !uses.is_empty() {
            return Ok(Deleted::InUse(uses.join(" and ")));
        }
        for sql in cleanup {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let done = sqlx::query(delete_sql).bind(id).execute(&mut *tx).await?;
        self.commit(tx).await?;
        Ok(if done.rows_affected() == 0 {
            Deleted::NotFound
        } else {
            Deleted::Deleted
        })
    }

    // ---- schedules ----

    /// Lists schedules by name; `unused` keeps only those no job uses (true) or only used ones.
    pub async fn list_schedules(&self, unused: Option<bool>) -> Result<Vec<Schedule>> {
        let rows = sqlx::query(
            "SELECT uuid, name, summary, timespec, author_text FROM schedules s
             WHERE (?1 IS NULL OR ?1 = (NOT EXISTS (SELECT 1 FROM jobs j WHERE j.schedule_uuid = s.uuid)))
             ORDER BY name, uuid",
        )
        .bind(unused)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(schedule_from_row).collect()
    }

    /// Reads one schedule.
    pub async fn get_schedule(&self, id: ScheduleId) -> Result<Option<Schedule>> {
        let row = sqlx::query(
            "SELECT uuid, name, summary, timespec, author_text FROM schedules WHERE uuid = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    /// Creates a schedule and returns its id.
    pub async fn create_schedule(&self, f: &ScheduleFields) -> Result<ScheduleId> {
        let id = ScheduleId::new_random();
        crate::audit::note_object("schedule", &id.to_string());
        self.write_one(
            sqlx::query(
                "INSERT INTO schedules (uuid, name, summary, timespec, author_text) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(&f.name)
            .bind(&f.summary)
            .bind(&f.timespec)
            .bind(&f.text),
        )
        .await?;
        Ok(id)
    }

    /// Replaces a schedule's fields.
    pub async fn update_schedule(&self, id: ScheduleId, f: &ScheduleFields) -> Result<Updated> {
        let r = self
            .write_one(
                sqlx::query(
                    "UPDATE schedules SET name = ?, summary = ?, timespec = ?, author_text = ? WHERE uuid = ?",
                )
                .bind(&f.name)
                .bind(&f.summary)
                .bind(&f.timespec)
                .bind(&f.text)
                .bind(id.to_string()),
            )
            .await?;
        Ok(updated(r.rows_affected()))
    }

    /// Deletes a schedule that no job uses.
    pub async fn delete_schedule(&self, id: ScheduleId) -> Result<Deleted> {
        self.delete_unless_used(
            &id.to_string(),
            &[JOBS_BY_SCHEDULE],
            &[],
            "DELETE FROM schedules WHERE uuid = ?",
        )
        .await
    }

    // ---- retention ----

    /// Lists retention policies by name; `unused` as for schedules.
    pub async fn list_retention(&self, unused: Option<bool>) -> Result<Vec<Retention>> {
        let sql = format!(
            "SELECT {RETENTION_COLS} FROM retention r
             WHERE (?1 IS NULL OR ?1 = (NOT EXISTS (SELECT 1 FROM jobs j WHERE j.retention_uuid = r.uuid) AND NOT EXISTS (SELECT 1 FROM job_copies c WHERE c.retention_uuid = r.uuid)))
             ORDER BY name, uuid"
        );
        let rows = sqlx::query(&sql).bind(unused).fetch_all(&self.pool).await?;
        rows.iter().map(retention_from_row).collect()
    }

    /// Reads one retention policy.
    pub async fn get_retention(&self, id: RetentionId) -> Result<Option<Retention>> {
        let sql = format!("SELECT {RETENTION_COLS} FROM retention WHERE uuid = ?");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(retention_from_row).transpose()
    }

    /// Creates a retention policy and returns its id.
    pub async fn create_retention(&self, f: &RetentionFields) -> Result<RetentionId> {
        let id = RetentionId::new_random();
        crate::audit::note_object("retention", &id.to_string());
        self.write_one(
            bind_rules(
                sqlx::query(
                    "INSERT INTO retention (name, summary, expiry, expiry_set, keep_last, keep_hourly,
                       keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, min_good, uuid)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ),
                f,
            )
            .bind(id.to_string()),
        )
        .await?;
        Ok(id)
    }

    /// Replaces a retention policy's fields; the next sweep applies them to every archive of
    /// the jobs that use it.
    pub async fn update_retention(&self, id: RetentionId, f: &RetentionFields) -> Result<Updated> {
        let r = self
            .write_one(
                bind_rules(
                    sqlx::query(
                        "UPDATE retention SET name = ?, summary = ?, expiry = ?, expiry_set = ?,
                           keep_last = ?, keep_hourly = ?, keep_daily = ?, keep_weekly = ?,
                           keep_monthly = ?, keep_yearly = ?, keep_within = ?, min_good = ?
                         WHERE uuid = ?",
                    ),
                    f,
                )
                .bind(id.to_string()),
            )
            .await?;
        Ok(updated(r.rows_affected()))
    }

    /// Deletes a retention policy that no job uses.
    pub async fn delete_retention(&self, id: RetentionId) -> Result<Deleted> {
        self.delete_unless_used(
            &id.to_string(),
            &[JOBS_BY_RETENTION],
            &[],
            "DELETE FROM retention WHERE uuid = ?",
        )
        .await
    }

    // ---- targets ----

    /// Lists targets by name, optionally only those of one plugin, and `unused` ones (no job and
    /// no archive with data refers to them) or used ones.
    pub async fn list_targets(
        &self,
        plugin: Option<&str>,
        unused: Option<bool>,
    ) -> Result<Vec<Target>> {
        let rows = sqlx::query(
            "SELECT uuid, name, summary, plugin, endpoint, agent FROM targets t
             WHERE (?1 IS NULL OR plugin = ?1)
               AND (?2 IS NULL OR ?2 = (NOT EXISTS (SELECT 1 FROM jobs j WHERE j.target_uuid = t.uuid)
                                       AND NOT EXISTS (SELECT 1 FROM archives a
                                                       WHERE a.target_uuid = t.uuid AND a.status <> 'purged')))
             ORDER BY name, uuid",
        )
        .bind(plugin)
        .bind(unused)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(target_from_row).collect()
    }

    /// Reads one target.
    pub async fn get_target(&self, id: TargetId) -> Result<Option<Target>> {
        let row = sqlx::query(
            "SELECT uuid, name, summary, plugin, endpoint, agent FROM targets WHERE uuid = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(target_from_row).transpose()
    }

    /// Creates a target and returns its id.
    pub async fn create_target(&self, f: &TargetFields) -> Result<TargetId> {
        let id = TargetId::new_random();
        crate::audit::note_object("target", &id.to_string());
        self.write_one(sqlx::query(
            "INSERT INTO targets (uuid, name, summary, plugin, endpoint, agent) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(&f.name)
        .bind(&f.summary)
        .bind(&f.plugin)
        .bind(&f.endpoint)
        .bind(&f.agent)
        )
        .await?;
        Ok(id)
    }

    /// Replaces a target's fields.
    pub async fn update_target(&self, id: TargetId, f: &TargetFields) -> Result<Updated> {
        let r = self.write_one(sqlx::query(
            "UPDATE targets SET name = ?, summary = ?, plugin = ?, endpoint = ?, agent = ? WHERE uuid = ?",
        )
        .bind(&f.name)
        .bind(&f.summary)
        .bind(&f.plugin)
        .bind(&f.endpoint)
        .bind(&f.agent)
        .bind(id.to_string())
        )
        .await?;
        Ok(updated(r.rows_affected()))
    }

    /// Deletes a target that no job and no archive with data uses. Records of its purged
    /// archives go with it.
    pub async fn delete_target(&self, id: TargetId) -> Result<Deleted> {
        self.delete_unless_used(
            &id.to_string(),
            &[JOBS_BY_TARGET, ARCHIVES_BY_TARGET],
            &["DELETE FROM archives WHERE target_uuid = ? AND status = 'purged'"],
            "DELETE FROM targets WHERE uuid = ?",
        )
        .await
    }

    // ---- stores ----

    /// Lists stores by name, with the same filters as targets.
    pub async fn list_stores(
        &self,
        plugin: Option<&str>,
        unused: Option<bool>,
    ) -> Result<Vec<Store>> {
        let rows = sqlx::query(
            "SELECT uuid, name, summary, plugin, endpoint, secret, prune_schedule FROM stores s
             WHERE (?1 IS NULL OR plugin = ?1)
               AND (?2 IS NULL OR ?2 = (NOT EXISTS (SELECT 1 FROM jobs j WHERE j.store_uuid = s.uuid)
                                       AND NOT EXISTS (SELECT 1 FROM job_copies c WHERE c.store_uuid = s.uuid)
                                       AND NOT EXISTS (SELECT 1 FROM archives a
                                                       WHERE a.store_uuid = s.uuid AND a.status <> 'purged')))
             ORDER BY name, uuid",
        )
        .bind(plugin)
        .bind(unused)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(store_from_row).collect()
    }

    /// Reads one store.
    pub async fn get_store(&self, id: StoreId) -> Result<Option<Store>> {
        let row =
            sqlx::query("SELECT uuid, name, summary, plugin, endpoint, secret, prune_schedule FROM stores WHERE uuid = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(store_from_row).transpose()
    }

    /// Creates a store with its sealed secret and returns its id.
    pub async fn create_store(&self, f: &StoreFields, secret: Option<&str>) -> Result<StoreId> {
        let id = StoreId::new_random();
        crate::audit::note_object("store", &id.to_string());
        self.write_one(
            sqlx::query(
                "INSERT INTO stores (uuid, name, summary, plugin, endpoint, secret, prune_schedule)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(&f.name)
            .bind(&f.summary)
            .bind(&f.plugin)
            .bind(&f.endpoint)
            .bind(secret)
            .bind(&f.prune_schedule),
        )
        .await?;
        Ok(id)
    }

    /// Replaces a store's fields.
    pub async fn update_store(&self, id: StoreId, f: &StoreFields) -> Result<Updated> {
        let r = self.write_one(sqlx::query(
            "UPDATE stores SET name = ?, summary = ?, plugin = ?, endpoint = ?, prune_schedule = ?
             WHERE uuid = ?",
        )
        .bind(&f.name)
        .bind(&f.summary)
        .bind(&f.plugin)
        .bind(&f.endpoint)
        .bind(&f.prune_schedule)
        .bind(id.to_string())
        )
        .await?;
        Ok(updated(r.rows_affected()))
    }

    /// Deletes a store that no job and no archive with data uses.
    pub async fn delete_store(&self, id: StoreId) -> Result<Deleted> {
        self.delete_unless_used(
            &id.to_string(),
            &[JOBS_BY_STORE, ARCHIVES_BY_STORE],
            &["DELETE FROM archives WHERE store_uuid = ? AND status = 'purged'"],
            "DELETE FROM stores WHERE uuid = ?",
        )
        .await
    }
}

/// Reads the columns of a schedule; `prefix` selects aliased columns in joins.
pub(crate) fn schedule_cols(row: &SqliteRow, prefix: &str) -> Result<Schedule> {
    Ok(Schedule {
        uuid: parse_id(
            "schedule",
            &row.try_get::<String, _>(format!("{prefix}uuid").as_str())?,
        )?,
        name: row.try_get(format!("{prefix}name").as_str())?,
        summary: row.try_get(format!("{prefix}summary").as_str())?,
        timespec: row.try_get(format!("{prefix}timespec").as_str())?,
        text: row
            .try_get::<Option<String>, _>(format!("{prefix}author_text").as_str())?
            .unwrap_or_else(|| {
                row.try_get(format!("{prefix}timespec").as_str())
                    .unwrap_or_default()
            }),
    })
}

/// A retention policy's columns, for `SELECT`.
pub(crate) const RETENTION_COLS: &str = "uuid, name, summary, expiry, expiry_set, keep_last,
    keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, min_good";

/// Binds a policy's name, summary and rules in the order of [`RETENTION_COLS`] (after `uuid`).
fn bind_rules<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    f: &'q RetentionFields,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let r = &f.rules;
    // A policy of rules alone keeps a placeholder in the old NOT NULL column.
    q.bind(&f.name)
        .bind(&f.summary)
        .bind(r.expires.unwrap_or(1))
        .bind(r.expires.is_some())
        .bind(r.keep_last)
        .bind(r.keep_hourly)
        .bind(r.keep_daily)
        .bind(r.keep_weekly)
        .bind(r.keep_monthly)
        .bind(r.keep_yearly)
        .bind(r.keep_within)
        .bind(r.min_good)
}

pub(crate) fn retention_cols(row: &SqliteRow, prefix: &str) -> Result<Retention> {
    let col = |c: &str| format!("{prefix}{c}");
    let count = |c: &str| -> Result<Option<u32>> { Ok(row.try_get(col(c).as_str())?) };
    let expiry_set: bool = row.try_get(col("expiry_set").as_str())?;
    Ok(Retention {
        uuid: parse_id(
            "retention policy",
            &row.try_get::<String, _>(col("uuid").as_str())?,
        )?,
        name: row.try_get(col("name").as_str())?,
        summary: row.try_get(col("summary").as_str())?,
        rules: Rules {
            expires: if expiry_set {
                Some(row.try_get(col("expiry").as_str())?)
            } else {
                None
            },
            keep_last: count("keep_last")?,
            keep_hourly: count("keep_hourly")?,
            keep_daily: count("keep_daily")?,
            keep_weekly: count("keep_weekly")?,
            keep_monthly: count("keep_monthly")?,
            keep_yearly: count("keep_yearly")?,
            keep_within: row.try_get(col("keep_within").as_str())?,
            min_good: row.try_get(col("min_good").as_str())?,
        },
    })
}

pub(crate) fn target_cols(row: &SqliteRow, prefix: &str) -> Result<Target> {
    Ok(Target {
        uuid: parse_id(
            "target",
            &row.try_get::<String, _>(format!("{prefix}uuid").as_str())?,
        )?,
        name: row.try_get(format!("{prefix}name").as_str())?,
        summary: row.try_get(format!("{prefix}summary").as_str())?,
        plugin: row.try_get(format!("{prefix}plugin").as_str())?,
        endpoint: row.try_get(format!("{prefix}endpoint").as_str())?,
        agent: row.try_get(format!("{prefix}agent").as_str())?,
    })
}

pub(crate) fn store_cols(row: &SqliteRow, prefix: &str) -> Result<Store> {
    Ok(Store {
        uuid: parse_id(
            "store",
            &row.try_get::<String, _>(format!("{prefix}uuid").as_str())?,
        )?,
        name: row.try_get(format!("{prefix}name").as_str())?,
        summary: row.try_get(format!("{prefix}summary").as_str())?,
        plugin: row.try_get(format!("{prefix}plugin").as_str())?,
        endpoint: row.try_get(format!("{prefix}endpoint").as_str())?,
        secret: row.try_get(format!("{prefix}secret").as_str())?,
        prune_schedule: row.try_get(format!("{prefix}prune_schedule").as_str())?,
    })
}

fn schedule_from_row(row: &SqliteRow) -> Result<Schedule> {
    schedule_cols(row, "")
}
fn retention_from_row(row: &SqliteRow) -> Result<Retention> {
    retention_cols(row, "")
}
fn target_from_row(row: &SqliteRow) -> Result<Target> {
    target_cols(row, "")
}
fn store_from_row(row: &SqliteRow) -> Result<Store> {
    store_cols(row, "")
}
