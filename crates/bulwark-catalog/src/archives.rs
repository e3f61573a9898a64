//! Archives: the backups that exist, where they came from and where they are kept.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use bulwark_core::ids::{ArchiveId, TaskId};
use bulwark_core::state::{ArchiveStatus, TaskOp};

use crate::records::*;
use crate::resources::{store_cols, target_cols};
use crate::tasks::insert_task;
use crate::{Catalog, CatalogError, Result, Updated, parse_id, updated};

const ARCHIVE_SELECT: &str =
    "SELECT a.uuid, a.store_key, a.taken_at, a.expires_at, a.notes, a.status, a.size,
        a.added, a.format, COALESCE(a.plugin, t.plugin) AS made_by, a.keep, jl.uuid AS job_uuid, a.rules, a.origin_uuid,
        st.uuid AS st_uuid, st.name AS st_name, st.summary AS st_summary,
        st.plugin AS st_plugin, st.endpoint AS st_endpoint, st.secret AS st_secret,
        st.prune_schedule AS st_prune_schedule,
        t.uuid AS t_uuid, t.name AS t_name, t.summary AS t_summary,
        t.plugin AS t_plugin, t.endpoint AS t_endpoint, t.agent AS t_agent
    FROM archives a
    JOIN stores st ON st.uuid = a.store_uuid
    JOIN targets t ON t.uuid = a.target_uuid
    LEFT JOIN jobs jl ON jl.uuid = a.job_uuid";

/// Priority of restores: someone is waiting for them.
pub const RESTORE_PRIORITY: i64 = 0;
/// Priority of purges: they can wait for backups and restores.
pub const PURGE_PRIORITY: i64 = 100;

/// What a request to delete an archive did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeRequest {
    /// The archive is now `purging` and this purge task will remove its data.
    Queued(TaskId),
    /// The archive is already being purged or purged.
    AlreadyGone(ArchiveStatus),
    /// There is no such archive.
    NotFound,
}

/// What a request to restore an archive did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreRequest {
    /// This restore task is pending.
    Queued(TaskId),
    /// The archive's data is no longer in its store.
    NotRestorable(ArchiveStatus),
    /// There is no such archive.
    NotFound,
}

impl Catalog {
    /// Lists archives, newest first, filtered.
    pub async fn list_archives(&self, f: &ArchiveFilter) -> Result<Vec<Archive>> {
        let sql = format!(
            "{ARCHIVE_SELECT}
             WHERE (?1 IS NULL OR a.target_uuid = ?1) AND (?2 IS NULL OR a.store_uuid = ?2)
               AND (?3 IS NULL OR a.taken_at >= ?3) AND (?4 IS NULL OR a.taken_at < ?4)
               AND (?5 IS NULL OR a.status = ?5)
             ORDER BY a.taken_at DESC, a.rowid DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(f.target.map(|i| i.to_string()))
            .bind(f.store.map(|i| i.to_string()))
            .bind(f.after)
            .bind(f.before)
            .bind(f.status.map(|s| s.as_str()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(archive_from_row).collect()
    }

    /// Reads one archive.
    pub async fn get_archive(&self, id: ArchiveId) -> Result<Option<Archive>> {
        let sql = format!("{ARCHIVE_SELECT} WHERE a.uuid = ?");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(archive_from_row).transpose()
    }

    /// Records a new, valid archive. Fails with [`CatalogError::MissingReference`] if its target
    /// or store does not exist.
    pub async fn create_archive(&self, a: &NewArchive) -> Result<ArchiveId> {
        let mut conn = self.pool.acquire().await?;
        insert_archive(&mut conn, a).await
    }

    /// Replaces an archive's notes.
    pub async fn annotate_archive(
        &self,
        id: ArchiveId,
        notes: &str,
        keep: Option<bool>,
    ) -> Result<Updated> {
        let r = self
            .write_one(
                sqlx::query(
                    "UPDATE archives SET notes = ?, keep = COALESCE(?, keep) WHERE uuid = ?",
                )
                .bind(notes)
                .bind(keep)
                .bind(id.to_string()),
            )
            .await?;
        Ok(updated(r.rows_affected()))
    }

    /// Marks a valid archive `purging` and queues the purge task that removes its data, in one
    /// transaction: an archive is never marked without a task to purge it.
    pub async fn request_archive_purge(
        &self,
        id: ArchiveId,
        owner: &str,
        now: i64,
    ) -> Result<PurgeRequest> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT status, target_uuid FROM archives WHERE uuid = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(PurgeRequest::NotFound);
        };
        let status = archive_status(&row.try_get::<String, _>("status")?)?;
        if status != ArchiveStatus::Valid {
            return Ok(PurgeRequest::AlreadyGone(status));
        }
        let target = parse_id("target", &row.try_get::<String, _>("target_uuid")?)?;
        sqlx::query("UPDATE archives SET status = 'purging' WHERE uuid = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let task = insert_task(
            &mut tx,
            &NewTask {
                owner: owner.to_string(),
                op: TaskOp::Purge,
                job: None,
                archive: Some(id),
                target: Some(target),
                priority: PURGE_PRIORITY,
                requested_at: now,
            },
        )
        .await?;
        self.commit(tx).await?;
        Ok(PurgeRequest::Queued(task))
    }

    /// Queues a restore of a valid archive into `target`, or into the target it was taken from.
    /// Fails with [`CatalogError::MissingReference`] if the named target does not exist.
    pub async fn request_restore(
        &self,
        id: ArchiveId,
        target: Option<bulwark_core::ids::TargetId>,
        owner: &str,
        options: &str,
        now: i64,
    ) -> Result<RestoreRequest> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT status, target_uuid FROM archives WHERE uuid = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(RestoreRequest::NotFound);
        };
        let status = archive_status(&row.try_get::<String, _>("status")?)?;
        if status != ArchiveStatus::Valid {
            return Ok(RestoreRequest::NotRestorable(status));
        }
        let target = match target {
            Some(t) => {
                let n = crate::count(
                    &mut *tx,
                    "SELECT COUNT(*) FROM targets WHERE uuid = ?",
                    &t.to_string(),
                )
                .await?;
                if n == 0 {
                    return Err(CatalogError::MissingReference {
                        kind: "target",
                        id: t.to_string(),
                    });
                }
                t
            }
            None => parse_id("target", &row.try_get::<String, _>("target_uuid")?)?,
        };
        let task = insert_task(
            &mut tx,
            &NewTask {
                owner: owner.to_string(),
                op: TaskOp::Restore,
                job: None,
                archive: Some(id),
                target: Some(target),
                priority: RESTORE_PRIORITY,
                requested_at: now,
            },
        )
        .await?;
        sqlx::query("UPDATE tasks SET options = ? WHERE uuid = ?")
            .bind(options)
            .bind(task.to_string())
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(RestoreRequest::Queued(task))
    }
}

/// Inserts a valid archive inside the caller's connection or transaction.
pub(crate) async fn insert_archive(
    conn: &mut sqlx::SqliteConnection,
    a: &NewArchive,
) -> Result<ArchiveId> {
    let id = a.uuid.unwrap_or_else(ArchiveId::new_random);
    let r = sqlx::query(
        "INSERT INTO archives (uuid, target_uuid, store_uuid, store_key, taken_at, expires_at, notes, size, added, format, status, plugin, job_uuid, origin_uuid)
         SELECT ?, t.uuid, s.uuid, ?, ?, ?, ?, ?, ?, ?, 'valid', t.plugin, ?, ?
         FROM targets t, stores s WHERE t.uuid = ? AND s.uuid = ?",
    )
    .bind(id.to_string())
    .bind(&a.store_key)
    .bind(a.taken_at)
    .bind(a.expires_at)
    .bind(&a.notes)
    .bind(a.size)
    .bind(a.added)
    .bind(a.format.as_str())
    .bind(a.job.map(|j| j.to_string()))
    .bind(a.origin.map(|o| o.to_string()))
    .bind(a.target.to_string())
    .bind(a.store.to_string())
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Err(CatalogError::MissingReference {
            kind: "target or store",
            id: format!("{} / {}", a.target, a.store),
        });
    }
    Ok(id)
}

fn archive_status(s: &str) -> Result<ArchiveStatus> {
    s.parse().map_err(
        |e: bulwark_core::state::UnknownName| CatalogError::Corrupt {
            what: "archive",
            detail: e.to_string(),
        },
    )
}

fn archive_from_row(row: &SqliteRow) -> Result<Archive> {
    Ok(Archive {
        uuid: parse_id("archive", &row.try_get::<String, _>("uuid")?)?,
        store_key: row.try_get("store_key")?,
        taken_at: row.try_get("taken_at")?,
        expires_at: row.try_get("expires_at")?,
        notes: row.try_get("notes")?,
        status: archive_status(&row.try_get::<String, _>("status")?)?,
        size: row.try_get("size")?,
        added: row.try_get("added")?,
        format: {
            let f: String = row.try_get("format")?;
            ArchiveFormat::parse(&f).ok_or_else(|| CatalogError::Corrupt {
                what: "archive",
                detail: format!("unknown format '{f}'"),
            })?
        },
        plugin: row.try_get("made_by")?,
        keep: row.try_get("keep")?,
        job: row
            .try_get::<Option<String>, _>("job_uuid")?
            .map(|j| parse_id("job", &j))
            .transpose()?,
        rules: match row.try_get::<Option<String>, _>("rules")? {
            Some(r) => Some(serde_json::from_str(&r).map_err(|e| CatalogError::Corrupt {
                what: "archive",
                detail: format!("its retention rules do not read: {e}"),
            })?),
            None => None,
        },
        origin: row
            .try_get::<Option<String>, _>("origin_uuid")?
            .map(|o| parse_id("archive", &o))
            .transpose()?,
        target: target_cols(row, "t_")?,
        store: store_cols(row, "st_")?,
    })
}
