//! How much a store holds: its valid archives, their bytes, and what it grew by lately.

use crate::{Catalog, Result};
use bulwark_core::ids::StoreId;

/// A store's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Valid archives.
    pub archives: i64,
    /// Bytes their backups produced.
    pub size: i64,
    /// Bytes the store keeps for them: a repository's pack files as last measured (after a
    /// prune) plus what archives added since; otherwise what each archive added.
    pub stored: i64,
    /// Bytes added by archives of the last 24 hours.
    pub added_day: i64,
    /// Bytes added by archives of the last 7 days.
    pub added_week: i64,
    /// When a repository's pack files were last measured.
    pub measured_at: Option<i64>,
}

impl Catalog {
    /// The usage of a store at `now`.
    pub async fn store_usage(&self, store: StoreId, now: i64) -> Result<StoreUsage> {
        let id = store.to_string();
        let (archives, size, added_all, added_day, added_week): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(COALESCE(added, 0)), 0),
                        COALESCE(SUM(CASE WHEN taken_at >= ?2 THEN COALESCE(added, 0) ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN taken_at >= ?3 THEN COALESCE(added, 0) ELSE 0 END), 0)
                 FROM archives WHERE store_uuid = ?1 AND status = 'valid'",
            )
            .bind(&id)
            .bind(now - 86_400)
            .bind(now - 7 * 86_400)
            .fetch_one(&self.pool)
            .await?;
        let measured: (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT repo_bytes, repo_bytes_at FROM stores WHERE uuid = ?")
                .bind(&id)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or((None, None));
        let stored = match measured {
            (Some(bytes), Some(at)) => {
                let since: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(SUM(COALESCE(added, 0)), 0) FROM archives
                     WHERE store_uuid = ? AND status = 'valid' AND taken_at > ?",
                )
                .bind(&id)
                .bind(at)
                .fetch_one(&self.pool)
                .await?;
                bytes + since
            }
            _ => added_all,
        };
        Ok(StoreUsage {
            archives,
            size,
            stored,
            added_day,
            added_week,
            measured_at: measured.1,
        })
    }

    /// Records a repository's pack-file bytes, measured at `at`.
    pub async fn set_repo_bytes(&self, store: StoreId, bytes: i64, at: i64) -> Result<()> {
        sqlx::query("UPDATE stores SET repo_bytes = ?, repo_bytes_at = ? WHERE uuid = ?")
            .bind(bytes)
            .bind(at)
            .bind(store.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
