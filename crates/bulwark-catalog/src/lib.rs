//! Bulwark's catalog: what targets, stores, schedules, retention policies and jobs exist, what
//! archives were made, and what tasks ran. It is private to the daemon.
//!
//! The catalog lives in one SQLite database in the daemon's data directory. [`Catalog::open`]
//! creates it if needed and applies the versioned migrations in `migrations/`, so a daemon of a
//! newer version upgrades the catalog of an older one at start.
//!
//! Every function takes and returns typed records ([`records`]); references are checked inside
//! the same transaction as the write, and foreign keys are enforced by SQLite as a backstop.
//!
//! ```no_run
//! # async fn demo() -> Result<(), bulwark_catalog::CatalogError> {
//! let catalog = bulwark_catalog::Catalog::open(std::path::Path::new("/tmp/catalog.db")).await?;
//! let schedules = catalog.list_schedules(None).await?;
//! # Ok(()) }
//! ```

mod agents;
mod archives;
pub mod audit;
mod auth;
mod copies;
mod drills;
mod jobs;
mod maintenance;
mod metrics;
mod notifications;
mod queue;
pub mod records;
mod resources;
mod retention;
mod runs;
mod secrets;
mod tasks;
mod usage;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use agents::{Agent, NewAgent, Redeemed};
pub use archives::{PurgeRequest, RestoreRequest};
pub use audit::{AuditEntry, AuditFilter, AuditRow};
pub use auth::*;
pub use drills::{Drill, DrillOutcome, DrillRequest, JobDrills};
pub use maintenance::MAINTENANCE_PRIORITY;
pub use metrics::JobFigures;
pub use notifications::*;
pub use records::*;
pub use runs::{ActiveBackup, Skipped};
pub use secrets::SealedRow;
pub use usage::StoreUsage;

/// What can go wrong in the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A record refers to another that does not exist (a job's store, a restore's target).
    #[error("{kind} {id} does not exist")]
    MissingReference {
        /// What kind of record was referred to: "target", "store", ...
        kind: &'static str,
        /// The identifier given.
        id: String,
    },
    /// A row in the database could not be read back (edited by hand, or a bug).
    #[error("the catalog holds an unreadable {what}: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What could not be read.
        detail: String,
    },
    /// A record with that name (or key) exists already.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("catalog database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("catalog migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The catalog's result type.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The record is gone.
    Deleted,
    /// There was no such record.
    NotFound,
    /// The record is still used; the text says by what ("2 jobs").
    InUse(String),
}

/// What an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// The record was changed.
    Updated,
    /// There was no such record.
    NotFound,
}

/// The catalog: a pool of connections to its SQLite database.
#[derive(Debug, Clone)]
pub struct Catalog {
    pool: SqlitePool,
}

impl Catalog {
    /// Starts a transaction that takes the write lock at once (`BEGIN IMMEDIATE`). A deferred
    /// transaction that reads and then writes fails with "database is locked" when another
    /// connection wrote in between (WAL cannot upgrade a stale snapshot); taking the lock first
    /// makes it wait its turn under the busy timeout instead.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Opens (creating if missing) the catalog database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The catalog is the record of what backups exist: a committed write must survive
            // a power cut.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // Deleted and overwritten content (old sealed values, audit of a removed user's
            // sessions) is zeroed rather than left in free pages.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Catalog { pool })
    }

    /// Checks that the database answers.
    pub async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The newest migration applied, for `/v1/status`.
    pub async fn schema_version(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Closes every connection; pending writes are already committed.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// What an UPDATE that touched `rows` rows did.
pub(crate) fn updated(rows: u64) -> Updated {
    if rows == 0 {
        Updated::NotFound
    } else {
        Updated::Updated
    }
}

/// Parses a stored UUID column into its typed id.
pub(crate) fn parse_id<T: FromStr>(what: &'static str, s: &str) -> Result<T> {
    s.parse().map_err(|_| CatalogError::Corrupt {
        what,
        detail: format!("'{s}' is not a UUID"),
    })
}

/// Parses an optional stored UUID column.
pub(crate) fn parse_opt_id<T: FromStr>(what: &'static str, s: Option<String>) -> Result<Option<T>> {
    s.map(|s| parse_id(what, &s)).transpose()
}

/// Counts rows of `sql` (a `SELECT COUNT(*) ... WHERE col = ?`) for one id.
pub(crate) async fn count<'e, E>(executor: E, sql: &'static str, id: &str) -> Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    Ok(sqlx::query_scalar(sql).bind(id).fetch_one(executor).await?)
}

#[cfg(test)]
mod copy_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;
