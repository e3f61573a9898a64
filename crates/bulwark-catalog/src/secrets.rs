//! The rows that hold sealed secrets (targets' and stores' endpoints, stores' own secrets,
//! notification channels' settings),
//! read and rewritten whole for a master key rotation or to seal what an older version kept in
//! clear.

use sqlx::Row;

use crate::{Catalog, Result};

/// One row that may hold sealed values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    /// `targets`, `stores` or `notification_channels` (whose settings are its `endpoint`).
    pub table: &'static str,
    /// The row's uuid.
    pub uuid: String,
    /// The endpoint document.
    pub endpoint: String,
    /// A store's own secret (always `None` for targets).
    pub secret: Option<String>,
}

impl Catalog {
    /// Every target, store and notification channel, with what may be sealed in it.
    pub async fn sealed_rows(&self) -> Result<Vec<SealedRow>> {
        let mut out = Vec::new();
        for r in sqlx::query("SELECT uuid, endpoint FROM targets")
            .fetch_all(&self.pool)
            .await?
        {
            out.push(SealedRow {
                table: "targets",
                uuid: r.get("uuid"),
                endpoint: r.get("endpoint"),
                secret: None,
            });
        }
        for r in sqlx::query("SELECT uuid, endpoint, secret FROM stores")
            .fetch_all(&self.pool)
            .await?
        {
            out.push(SealedRow {
                table: "stores",
                uuid: r.get("uuid"),
                endpoint: r.get("endpoint"),
                secret: r.get("secret"),
            });
        }
        for r in sqlx::query("SELECT uuid, config FROM notification_channels")
            .fetch_all(&self.pool)
            .await?
        {
            out.push(SealedRow {
                table: "notification_channels",
                uuid: r.get("uuid"),
                endpoint: r.get("config"),
                secret: None,
            });
        }
        Ok(out)
    }

    /// Rewrites the rows in one transaction, then checkpoints the write-ahead log so the old
    /// values leave it (freed space is zeroed: the catalog runs with `secure_delete`).
    pub async fn replace_sealed(&self, rows: &[SealedRow]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for r in rows {
            if r.table == "stores" {
                sqlx::query("UPDATE stores SET endpoint = ?, secret = ? WHERE uuid = ?")
                    .bind(&r.endpoint)
                    .bind(&r.secret)
                    .bind(&r.uuid)
                    .execute(&mut *tx)
                    .await?;
            } else if r.table == "notification_channels" {
                sqlx::query("UPDATE notification_channels SET config = ? WHERE uuid = ?")
                    .bind(&r.endpoint)
                    .bind(&r.uuid)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("UPDATE targets SET endpoint = ? WHERE uuid = ?")
                    .bind(&r.endpoint)
                    .bind(&r.uuid)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.checkpoint().await
    }

    /// Copies the write-ahead log into the database and truncates it.
    pub async fn checkpoint(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
