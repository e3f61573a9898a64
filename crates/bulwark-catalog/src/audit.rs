//! The audit log: one row per change, run, restore, cancel, delete, login and token, written in
//! the same transaction as the change it records.
//!
//! The API wraps each state-changing request in [`scope`] with the entry it would record. The
//! first write transaction that commits inside the scope inserts that entry (outcome `ok`) before
//! its `COMMIT`, so the change and its record stand or fall together. A request that changed
//! nothing (refused, failed) leaves the entry unwritten; the caller then records it with its
//! outcome through [`Catalog::record_audit`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use sqlx::Row;

use crate::{Catalog, Result};

/// One audit row, before it is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    /// Who: a user name, `token NAME of USER`, or `anonymous`.
    pub actor: String,
    /// From where: the peer's address.
    pub address: String,
    /// What: `POST /v1/job/{uuid}/run`, `login`, `token.create`, ...
    pub action: String,
    /// The kind of object acted on (`job`, `archive`, `user`, ...), or empty.
    pub object_kind: String,
    /// The object's uuid (or id), or empty.
    pub object_uuid: String,
    /// More about it (never secrets).
    pub detail: String,
}

/// A written audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Its sequence number.
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// The entry.
    pub entry: AuditEntry,
    /// `ok`, or what went wrong (`refused (403): ...`).
    pub outcome: String,
}

/// Which audit rows to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only rows of this actor (exact), or whose actor is a token of this user.
    pub actor: Option<String>,
    /// Only rows about this object uuid.
    pub object: Option<String>,
    /// Only rows at or after this time.
    pub since: Option<i64>,
    /// Only rows before this time.
    pub until: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

#[derive(Debug, Default)]
struct Pending {
    entry: Option<AuditEntry>,
    now: i64,
}

tokio::task_local! {
    static PENDING: Arc<Mutex<Pending>>;
}

/// Runs `fut` with `entry` pending: the first write transaction committed inside it records the
/// entry. Returns the future's output and the entry if nothing recorded it.
pub async fn scope<F: Future>(
    entry: AuditEntry,
    now: i64,
    fut: F,
) -> (F::Output, Option<AuditEntry>) {
    let pending = Arc::new(Mutex::new(Pending {
        entry: Some(entry),
        now,
    }));
    let out = PENDING.scope(pending.clone(), fut).await;
    let left = pending.lock().ok().and_then(|mut p| p.entry.take());
    (out, left)
}

/// Sets the object of the pending entry, for a create whose uuid is made in the catalog.
pub(crate) fn note_object(kind: &str, uuid: &str) {
    let _ = PENDING.try_with(|p| {
        if let Ok(mut p) = p.lock()
            && let Some(e) = p.entry.as_mut()
            && e.object_uuid.is_empty()
        {
            e.object_kind = kind.to_string();
            e.object_uuid = uuid.to_string();
        }
    });
}

/// The pending entry, taken: the caller writes it in its transaction.
fn take_pending() -> Option<(AuditEntry, i64)> {
    PENDING
        .try_with(|p| {
            p.lock()
                .ok()
                .and_then(|mut p| p.entry.take().map(|e| (e, p.now)))
        })
        .ok()
        .flatten()
}

pub(crate) async fn insert(
    conn: &mut sqlx::SqliteConnection,
    entry: &AuditEntry,
    outcome: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, address, action, object_kind, object_uuid, outcome, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(now)
    .bind(&entry.actor)
    .bind(&entry.address)
    .bind(&entry.action)
    .bind(&entry.object_kind)
    .bind(&entry.object_uuid)
    .bind(outcome)
    .bind(&entry.detail)
    .execute(conn)
    .await?;
    Ok(())
}

impl Catalog {
    /// Commits a write transaction, recording the pending audit entry (if any) in it first.
    pub(crate) async fn commit(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    ) -> Result<()> {
        if let Some((entry, now)) = take_pending() {
            insert(&mut tx, &entry, "ok", now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs one writing statement in its own transaction, through [`Catalog::commit`].
    pub(crate) async fn write_one<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<sqlx::sqlite::SqliteQueryResult> {
        let mut tx = self.write_tx().await?;
        let r = q.execute(&mut *tx).await?;
        self.commit(tx).await?;
        Ok(r)
    }

    /// Writes an audit row on its own (for what changed nothing else: a refused request).
    pub async fn record_audit(&self, entry: &AuditEntry, outcome: &str, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        insert(&mut tx, entry, outcome, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lists audit rows, newest first.
    pub async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, address, action, object_kind, object_uuid, outcome, detail
             FROM audit
             WHERE (?1 IS NULL OR actor = ?1 OR actor LIKE 'token % of ' || ?1)
               AND (?2 IS NULL OR object_uuid = ?2)
               AND (?3 IS NULL OR at >= ?3)
               AND (?4 IS NULL OR at < ?4)
             ORDER BY id DESC LIMIT ?5",
        )
        .bind(&f.actor)
        .bind(&f.object)
        .bind(f.since)
        .bind(f.until)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditRow {
                id: r.get("id"),
                at: r.get("at"),
                outcome: r.get("outcome"),
                entry: AuditEntry {
                    actor: r.get("actor"),
                    address: r.get("address"),
                    action: r.get("action"),
                    object_kind: r.get("object_kind"),
                    object_uuid: r.get("object_uuid"),
                    detail: r.get("detail"),
                },
            })
            .collect())
    }
}
