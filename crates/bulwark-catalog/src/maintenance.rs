//! Maintenance of repository stores: queuing checks and prunes, the scheduler's bookkeeping of
//! when they last fired, and the parent snapshot of a tree backup.

use sqlx::Row;

use bulwark_core::ids::{StoreId, TargetId, TaskId};
use bulwark_core::state::TaskOp;

use crate::records::*;
use crate::{Catalog, Result, parse_id};

/// Maintenance runs after backups of ordinary priority and before purges.
pub const MAINTENANCE_PRIORITY: i64 = 90;

impl Catalog {
    /// Queues a check or prune of a store, unless one is already pending (then that one's id
    /// is returned). `options` is the check's read subset, or empty.
    pub async fn request_maintenance(
        &self,
        store: StoreId,
        op: TaskOp,
        options: &str,
        owner: &str,
        now: i64,
    ) -> Result<TaskId> {
        let mut tx = self.write_tx().await?;
        let pending: Option<String> = sqlx::query_scalar(
            "SELECT uuid FROM tasks
             WHERE status = 'pending' AND op = ? AND store_uuid = ? AND options = ?
             LIMIT 1",
        )
        .bind(op.as_str())
        .bind(store.to_string())
        .bind(options)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = pending {
            return parse_id("task", &id);
        }
        let id = TaskId::new_random();
        sqlx::query(
            "INSERT INTO tasks (uuid, owner, op, store_uuid, options, priority, status, requested_at)
             VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
        )
        .bind(id.to_string())
        .bind(owner)
        .bind(op.as_str())
        .bind(store.to_string())
        .bind(options)
        .bind(MAINTENANCE_PRIORITY)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// The newest finished task of `op` on a store: the result of its last check or prune.
    pub async fn last_maintenance(&self, store: StoreId, op: TaskOp) -> Result<Option<Task>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT uuid FROM tasks
             WHERE op = ? AND store_uuid = ? AND status IN ('done', 'failed')
             ORDER BY stopped_at DESC, rowid DESC LIMIT 1",
        )
        .bind(op.as_str())
        .bind(store.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => self.get_task(parse_id("task", &id)?).await,
            None => Ok(None),
        }
    }

    /// When the scheduler last queued a store's `op` (check or prune); `None` before the first
    /// time it looked.
    pub async fn maintenance_fired_at(&self, store: StoreId, op: TaskOp) -> Result<Option<i64>> {
        let col = fired_column(op);
        let row = sqlx::query(&format!("SELECT {col} AS t FROM stores WHERE uuid = ?"))
            .bind(store.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("t")?,
            None => None,
        })
    }

    /// Records that the scheduler queued (or first looked at) a store's `op` at `at`.
    pub async fn set_maintenance_fired(&self, store: StoreId, op: TaskOp, at: i64) -> Result<()> {
        let col = fired_column(op);
        self.write_one(
            sqlx::query(&format!("UPDATE stores SET {col} = ? WHERE uuid = ?"))
                .bind(at)
                .bind(store.to_string()),
        )
        .await?;
        Ok(())
    }

    /// The store key of the newest valid tree archive of `target` in `store`: the parent of
    /// the next tree backup, so unchanged files are not read again.
    pub async fn tree_parent(&self, target: TargetId, store: StoreId) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT store_key FROM archives
             WHERE target_uuid = ? AND store_uuid = ? AND format = 'tree' AND status = 'valid'
             ORDER BY taken_at DESC, rowid DESC LIMIT 1",
        )
        .bind(target.to_string())
        .bind(store.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }
}

fn fired_column(op: TaskOp) -> &'static str {
    match op {
        TaskOp::Check => "check_fired_at",
        _ => "prune_fired_at",
    }
}
