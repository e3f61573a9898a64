//! The retention sweep: reads every valid archive with the rules that decide it, lets the pure
//! core decide ([`bulwark_core::retention::decide_all`]), and queues a purge of each archive no
//! rule keeps. Purges that failed are queued again after `purge_retry`.

use bulwark_catalog::CatalogError;
use bulwark_core::retention::decide_all;

use super::Engine;

impl Engine {
    /// Sweeps once: returns how many purges it queued (new and retried).
    pub async fn sweep_once(&self) -> Result<u64, CatalogError> {
        let now = self.inner.clock.now();
        let members = self.catalog().retention_members(None, None).await?;
        let purge: Vec<_> = decide_all(&members, now, self.config().tz)
            .into_iter()
            .filter(|v| !v.keep())
            .map(|v| v.id)
            .collect();
        let mut queued = self.catalog().queue_purges(&purge, now.timestamp()).await?;
        let retry_before = now.timestamp() - self.config().purge_retry.as_secs() as i64;
        queued += self
            .catalog()
            .retry_failed_purges(now.timestamp(), retry_before)
            .await?;
        if queued > 0 {
            tracing::info!(purges = queued, "Retention sweep queued purges.");
            self.wake();
        }
        Ok(queued)
    }
}
