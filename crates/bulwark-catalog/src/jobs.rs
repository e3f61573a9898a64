//! Jobs: a target, a store, a schedule and a retention policy together, read back with all four
//! joined in.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use bulwark_core::ids::JobId;

use crate::records::*;
use crate::resources::{Reference, retention_cols, schedule_cols, store_cols, target_cols};
use crate::{Catalog, CatalogError, Deleted, Result, Updated, count, parse_id, updated};

const ACTIVE_TASKS_OF_JOB: Reference = Reference {
    count_sql: "SELECT COUNT(*) FROM tasks WHERE job_uuid = ? AND status IN ('pending', 'running')",
    plural: "pending or running tasks",
};

/// When a job is deleted, its archives keep its policy's rules as they are then.
const KEEP_RULES_OF_DELETED_JOB: &str = "UPDATE archives SET rules = (
        SELECT json_object('expires', CASE WHEN r.expiry_set THEN r.expiry END,
            'keep_last', r.keep_last, 'keep_hourly', r.keep_hourly, 'keep_daily', r.keep_daily,
            'keep_weekly', r.keep_weekly, 'keep_monthly', r.keep_monthly,
            'keep_yearly', r.keep_yearly, 'keep_within', r.keep_within, 'min_good', r.min_good)
        FROM jobs j JOIN retention r ON r.uuid = j.retention_uuid WHERE j.uuid = ?1)
    WHERE job_uuid = ?1 AND rules IS NULL";

const JOB_SELECT: &str =
    "SELECT j.uuid, j.name, j.summary, j.priority, j.paused, j.last_fired_at, j.rpo,
        r.uuid AS r_uuid, r.name AS r_name, r.summary AS r_summary, r.expiry AS r_expiry,
        r.expiry_set AS r_expiry_set, r.keep_last AS r_keep_last, r.keep_hourly AS r_keep_hourly,
        r.keep_daily AS r_keep_daily, r.keep_weekly AS r_keep_weekly,
        r.keep_monthly AS r_keep_monthly, r.keep_yearly AS r_keep_yearly,
        r.keep_within AS r_keep_within, r.min_good AS r_min_good,
        j.retries, j.retry_delay, j.grace, j.retry_attempt, j.retry_at, j.steps, j.bandwidth, j.watch_settle, j.watch_min_interval,
        s.uuid AS s_uuid, s.name AS s_name, s.summary AS s_summary, s.timespec AS s_timespec,
        s.author_text AS s_author_text,
        st.uuid AS st_uuid, st.name AS st_name, st.summary AS st_summary,
        st.plugin AS st_plugin, st.endpoint AS st_endpoint, st.secret AS st_secret,
        st.prune_schedule AS st_prune_schedule,
        t.uuid AS t_uuid, t.name AS t_name, t.summary AS t_summary,
        t.plugin AS t_plugin, t.endpoint AS t_endpoint, t.agent AS t_agent,
        j.drill_fired_at,
        ds.uuid AS ds_uuid, ds.name AS ds_name, ds.summary AS ds_summary, ds.timespec AS ds_timespec,
        ds.author_text AS ds_author_text,
        dt.uuid AS dt_uuid, dt.name AS dt_name, dt.summary AS dt_summary,
        dt.plugin AS dt_plugin, dt.endpoint AS dt_endpoint, dt.agent AS dt_agent
    FROM jobs j
    JOIN retention r ON r.uuid = j.retention_uuid
    JOIN schedules s ON s.uuid = j.schedule_uuid
    JOIN stores st ON st.uuid = j.store_uuid
    JOIN targets t ON t.uuid = j.target_uuid
    LEFT JOIN schedules ds ON ds.uuid = j.drill_schedule_uuid
    LEFT JOIN targets dt ON dt.uuid = j.drill_target_uuid";

impl Catalog {
    /// Lists jobs by name, filtered.
    pub async fn list_jobs(&self, f: &JobFilter) -> Result<Vec<Job>> {
        let sql = format!(
            "{JOB_SELECT}
             WHERE (?1 IS NULL OR j.target_uuid = ?1) AND (?2 IS NULL OR j.store_uuid = ?2)
               AND (?3 IS NULL OR j.schedule_uuid = ?3) AND (?4 IS NULL OR j.retention_uuid = ?4)
               AND (?5 IS NULL OR j.paused = ?5)
             ORDER BY j.name, j.uuid"
        );
        let rows = sqlx::query(&sql)
            .bind(f.target.map(|i| i.to_string()))
            .bind(f.store.map(|i| i.to_string()))
            .bind(f.schedule.map(|i| i.to_string()))
            .bind(f.retention.map(|i| i.to_string()))
            .bind(f.paused)
            .fetch_all(&self.pool)
            .await?;
        let mut jobs: Vec<Job> = rows.iter().map(job_from_row).collect::<Result<_>>()?;
        let mut conn = self.pool.acquire().await?;
        let mut copies = crate::copies::copies_of(&mut conn, None).await?;
        for j in &mut jobs {
            j.copies = copies.remove(&j.uuid.to_string()).unwrap_or_default();
        }
        Ok(jobs)
    }

    /// Reads one job.
    pub async fn get_job(&self, id: JobId) -> Result<Option<Job>> {
        let sql = format!("{JOB_SELECT} WHERE j.uuid = ?");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(mut job) = row.as_ref().map(job_from_row).transpose()? else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        job.copies = crate::copies::copies_of(&mut conn, Some(id))
            .await?
            .remove(&id.to_string())
            .unwrap_or_default();
        Ok(Some(job))
    }

    /// Creates a job. Fails with [`CatalogError::MissingReference`] when its target, store,
    /// schedule or retention policy does not exist.
    pub async fn create_job(&self, f: &JobFields, paused: bool) -> Result<JobId> {
        let id = JobId::new_random();
        crate::audit::note_object("job", &id.to_string());
        let mut tx = self.write_tx().await?;
        check_job_refs(&mut tx, f).await?;
        sqlx::query(
            "INSERT INTO jobs (uuid, name, summary, priority, paused, target_uuid, store_uuid, schedule_uuid, retention_uuid, rpo,
                               drill_schedule_uuid, drill_target_uuid, retries, retry_delay, grace, steps, bandwidth,
                               watch_settle, watch_min_interval)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(&f.name)
        .bind(&f.summary)
        .bind(f.priority)
        .bind(paused)
        .bind(f.target.to_string())
        .bind(f.store.to_string())
        .bind(f.schedule.to_string())
        .bind(f.retention.to_string())
        .bind(f.rpo)
        .bind(f.drill_schedule.map(|i| i.to_string()))
        .bind(f.drill_target.map(|i| i.to_string()))
        .bind(f.retry.retries)
        .bind(f.retry.retry_delay)
        .bind(f.retry.grace)
        .bind(&f.steps)
        .bind(f.bandwidth)
        .bind(f.watch_settle)
        .bind(f.watch_min_interval)
        .execute(&mut *tx)
        .await?;
        crate::copies::write_copies(&mut tx, id, &f.copies).await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Replaces a job's fields (not its paused flag).
    pub async fn update_job(&self, id: JobId, f: &JobFields) -> Result<Updated> {
        let mut tx = self.write_tx().await?;
        let exists = count(
            &mut *tx,
            "SELECT COUNT(*) FROM jobs WHERE uuid = ?",
            &id.to_string(),
        )
        .await?;
        if exists == 0 {
            return Ok(Updated::NotFound);
        }
        check_job_refs(&mut tx, f).await?;
        sqlx::query(
            "UPDATE jobs SET name = ?, summary = ?, priority = ?, target_uuid = ?, store_uuid = ?,
                             schedule_uuid = ?, retention_uuid = ?, rpo = ?,
                             drill_schedule_uuid = ?, drill_target_uuid = ?,
                             retries = ?, retry_delay = ?, grace = ?, steps = ?, bandwidth = ?,
                             watch_settle = ?, watch_min_interval = ?
             WHERE uuid = ?",
        )
        .bind(&f.name)
        .bind(&f.summary)
        .bind(f.priority)
        .bind(f.target.to_string())
        .bind(f.store.to_string())
        .bind(f.schedule.to_string())
        .bind(f.retention.to_string())
        .bind(f.rpo)
        .bind(f.drill_schedule.map(|i| i.to_string()))
        .bind(f.drill_target.map(|i| i.to_string()))
        .bind(f.retry.retries)
        .bind(f.retry.retry_delay)
        .bind(f.retry.grace)
        .bind(&f.steps)
        .bind(f.bandwidth)
        .bind(f.watch_settle)
        .bind(f.watch_min_interval)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        crate::copies::write_copies(&mut tx, id, &f.copies).await?;
        self.commit(tx).await?;
        Ok(Updated::Updated)
    }

    /// A job's last finished backup and its last good one.
    pub async fn job_runs(&self, id: JobId) -> Result<JobRuns> {
        let last: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT uuid, status, stopped_at FROM tasks
             WHERE job_uuid = ? AND op = 'backup' AND status IN ('done', 'failed', 'canceled')
               AND stopped_at IS NOT NULL
             ORDER BY stopped_at DESC, requested_at DESC LIMIT 1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let good: Option<(i64, String)> = sqlx::query_as(
            "SELECT stopped_at, archive_uuid FROM tasks
             WHERE job_uuid = ? AND op = 'backup' AND status = 'done'
               AND stopped_at IS NOT NULL AND archive_uuid IS NOT NULL
             ORDER BY stopped_at DESC LIMIT 1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let corrupt = |e: <bulwark_core::state::TaskStatus as std::str::FromStr>::Err| {
            CatalogError::Corrupt {
                what: "task",
                detail: e.to_string(),
            }
        };
        Ok(JobRuns {
            last_run: last
                .map(|(t, s, at)| {
                    Ok::<_, CatalogError>((
                        parse_id("task", &t)?,
                        s.parse::<bulwark_core::state::TaskStatus>()
                            .map_err(corrupt)?,
                        at,
                    ))
                })
                .transpose()?,
            last_success: good
                .map(|(at, a)| Ok::<_, CatalogError>((at, parse_id("archive", &a)?)))
                .transpose()?,
        })
    }

    /// Pauses or unpauses a job. Unpausing counts as a firing at `now`, so runs missed while
    /// the job was paused are not made up.
    pub async fn set_job_paused(&self, id: JobId, paused: bool, now: i64) -> Result<Updated> {
        let r = self
            .write_one(
                sqlx::query(
                    "UPDATE jobs SET paused = ?1,
                 last_fired_at = CASE WHEN ?1 THEN last_fired_at ELSE ?2 END
             WHERE uuid = ?3",
                )
                .bind(paused)
                .bind(now)
                .bind(id.to_string()),
            )
            .await?;
        Ok(updated(r.rows_affected()))
    }

    /// Records that the scheduler fired (or first saw) a job at `at`.
    pub async fn set_job_fired(&self, id: JobId, at: i64) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE jobs SET last_fired_at = ? WHERE uuid = ?")
                .bind(at)
                .bind(id.to_string()),
        )
        .await?;
        Ok(())
    }

    /// Deletes a job unless one of its tasks is pending or running. Its finished tasks stay in
    /// the history without the job reference; its archives stay until they expire.
    pub async fn delete_job(&self, id: JobId) -> Result<Deleted> {
        self.delete_unless_used(
            &id.to_string(),
            &[ACTIVE_TASKS_OF_JOB],
            &[
                crate::copies::KEEP_RULES_OF_DELETED_COPIES,
                KEEP_RULES_OF_DELETED_JOB,
            ],
            "DELETE FROM jobs WHERE uuid = ?",
        )
        .await
    }
}

async fn check_job_refs(tx: &mut sqlx::SqliteConnection, f: &JobFields) -> Result<()> {
    let refs: [(&'static str, &'static str, String); 4] = [
        (
            "target",
            "SELECT COUNT(*) FROM targets WHERE uuid = ?",
            f.target.to_string(),
        ),
        (
            "store",
            "SELECT COUNT(*) FROM stores WHERE uuid = ?",
            f.store.to_string(),
        ),
        (
            "schedule",
            "SELECT COUNT(*) FROM schedules WHERE uuid = ?",
            f.schedule.to_string(),
        ),
        (
            "retention policy",
            "SELECT COUNT(*) FROM retention WHERE uuid = ?",
            f.retention.to_string(),
        ),
    ];
    for (kind, sql, id) in refs {
        if count(&mut *tx, sql, &id).await? == 0 {
            return Err(CatalogError::MissingReference { kind, id });
        }
    }
    if let Some(id) = f.drill_schedule
        && count(
            &mut *tx,
            "SELECT COUNT(*) FROM schedules WHERE uuid = ?",
            &id.to_string(),
        )
        .await?
            == 0
    {
        return Err(CatalogError::MissingReference {
            kind: "drill schedule",
            id: id.to_string(),
        });
    }
    if let Some(id) = f.drill_target
        && count(
            &mut *tx,
            "SELECT COUNT(*) FROM targets WHERE uuid = ?",
            &id.to_string(),
        )
        .await?
            == 0
    {
        return Err(CatalogError::MissingReference {
            kind: "drill target",
            id: id.to_string(),
        });
    }
    Ok(())
}

fn job_from_row(row: &SqliteRow) -> Result<Job> {
    Ok(Job {
        uuid: parse_id("job", &row.try_get::<String, _>("uuid")?)?,
        name: row.try_get("name")?,
        summary: row.try_get("summary")?,
        priority: row.try_get("priority")?,
        paused: row.try_get("paused")?,
        last_fired_at: row.try_get("last_fired_at")?,
        rpo: row.try_get("rpo")?,
        retention: retention_cols(row, "r_")?,
        schedule: schedule_cols(row, "s_")?,
        store: store_cols(row, "st_")?,
        target: target_cols(row, "t_")?,
        drill_schedule: match row.try_get::<Option<String>, _>("ds_uuid")? {
            Some(_) => Some(schedule_cols(row, "ds_")?),
            None => None,
        },
        drill_target: match row.try_get::<Option<String>, _>("dt_uuid")? {
            Some(_) => Some(target_cols(row, "dt_")?),
            None => None,
        },
        drill_fired_at: row.try_get("drill_fired_at")?,
        retry: RetryFields {
            retries: row.try_get("retries")?,
            retry_delay: row.try_get("retry_delay")?,
            grace: row.try_get("grace")?,
        },
        retry_attempt: row.try_get("retry_attempt")?,
        retry_at: row.try_get("retry_at")?,
        steps: row.try_get("steps")?,
        bandwidth: row.try_get("bandwidth")?,
        watch_settle: row.try_get("watch_settle")?,
        watch_min_interval: row.try_get("watch_min_interval")?,
        copies: Vec::new(),
    })
}
