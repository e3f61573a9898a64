//! Agents and their enrollment tokens.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use bulwark_core::ids::AgentId;

use crate::{Catalog, CatalogError, Deleted, Result, Updated, parse_id, updated};

/// An agent as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Its identifier.
    pub uuid: AgentId,
    /// Its name, as it introduced itself.
    pub name: String,
    /// The `ip:port` targets name it by.
    pub address: String,
    /// `listen` (the core dials it) or `dial` (it dials the core).
    pub mode: String,
    /// Its ed25519 key, OpenSSH format.
    pub public_key: String,
    /// `pending` (seen, not approved), `approved` or `revoked`.
    pub status: String,
    /// Its Bulwark version, when last seen.
    pub version: String,
    /// The plugins it offers (their `info`), JSON.
    pub plugins: String,
    /// When it was first recorded.
    pub created_at: i64,
    /// When a session with it last began or ended.
    pub last_seen_at: Option<i64>,
    /// Why the last attempt to reach it failed, if it did.
    pub last_error: String,
}

/// A new agent's fields.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Its name.
    pub name: String,
    /// Its address.
    pub address: String,
    /// `listen` or `dial`.
    pub mode: &'static str,
    /// Its key, OpenSSH format.
    pub public_key: String,
    /// `pending` or `approved`.
    pub status: &'static str,
}

/// What redeeming an enrollment token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The agent is enrolled, approved.
    Enrolled(AgentId),
    /// No token has that secret.
    Unknown,
    /// The token was used already.
    Used,
    /// The token expired.
    Expired,
    /// Another agent has that address, or that key is enrolled already.
    Taken(String),
}

const AGENT_COLS: &str = "uuid, name, address, mode, public_key, status, version, plugins, created_at, last_seen_at, last_error";

impl Catalog {
    /// Lists agents by name.
    pub async fn list_agents(&self) -> Result<Vec<Agent>> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents ORDER BY name, uuid");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// Reads one agent.
    pub async fn get_agent(&self, id: AgentId) -> Result<Option<Agent>> {
        self.agent_where("uuid", &id.to_string()).await
    }

    /// The agent with this key (OpenSSH format).
    pub async fn agent_by_key(&self, key: &str) -> Result<Option<Agent>> {
        self.agent_where("public_key", key).await
    }

    /// The agent registered for this address.
    pub async fn agent_by_address(&self, address: &str) -> Result<Option<Agent>> {
        self.agent_where("address", address).await
    }

    async fn agent_where(&self, col: &str, value: &str) -> Result<Option<Agent>> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE {col} = ?");
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    /// Records an agent; a conflict when its address or key is taken.
    pub async fn create_agent(&self, a: &NewAgent, now: i64) -> Result<AgentId> {
        let mut tx = self.write_tx().await?;
        let id = insert_agent(&mut tx, a, now).await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Sets an agent's status.
    pub async fn set_agent_status(&self, id: AgentId, status: &str) -> Result<Updated> {
        let r = self
            .write_one(
                sqlx::query("UPDATE agents SET status = ? WHERE uuid = ?")
                    .bind(status)
                    .bind(id.to_string()),
            )
            .await?;
        Ok(updated(r.rows_affected()))
    }

    /// Records a session's start (with what the agent said of itself) or a failed attempt.
    pub async fn agent_seen(
        &self,
        id: AgentId,
        now: i64,
        version: Option<&str>,
        plugins: Option<&str>,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET last_seen_at = CASE WHEN ?3 = '' THEN ?2 ELSE last_seen_at END,
                version = COALESCE(?4, version), plugins = COALESCE(?5, plugins), last_error = ?3
             WHERE uuid = ?1",
        )
        .bind(id.to_string())
        .bind(now)
        .bind(error)
        .bind(version)
        .bind(plugins)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Pins another key for an agent; a conflict when another agent has it.
    pub async fn set_agent_key(&self, id: AgentId, key: &str) -> Result<Updated> {
        let mut tx = self.write_tx().await?;
        let taken: Option<String> =
            sqlx::query_scalar("SELECT name FROM agents WHERE public_key = ? AND uuid <> ?")
                .bind(key)
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(name) = taken {
            return Err(CatalogError::Conflict(format!(
                "agent '{name}' has that key already"
            )));
        }
        let r = sqlx::query("UPDATE agents SET public_key = ? WHERE uuid = ?")
            .bind(key)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(updated(r.rows_affected()))
    }

    /// Deletes an agent (its tokens' link to it is cleared).
    pub async fn delete_agent(&self, id: AgentId) -> Result<Deleted> {
        self.delete_unless_used(
            &id.to_string(),
            &[],
            &[],
            "DELETE FROM agents WHERE uuid = ?",
        )
        .await
    }

    /// Records an enrollment token: the hash of its secret, the address it enrolls, its expiry.
    pub async fn create_agent_token(
        &self,
        id: &str,
        secret_hash: &str,
        address: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO agent_tokens (id, secret_hash, address, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(secret_hash)
            .bind(address)
            .bind(now)
            .bind(expires_at),
        )
        .await?;
        Ok(())
    }

    /// Redeems a token for an agent with `key`: in one transaction the token is checked, used,
    /// and the agent enrolled, approved, at the token's address.
    pub async fn redeem_agent_token(
        &self,
        secret_hash: &str,
        name: &str,
        key: &str,
        now: i64,
    ) -> Result<Redeemed> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT id, address, expires_at, used_at FROM agent_tokens WHERE secret_hash = ?",
        )
        .bind(secret_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Redeemed::Unknown);
        };
        if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
            return Ok(Redeemed::Used);
        }
        if row.try_get::<i64, _>("expires_at")? <= now {
            return Ok(Redeemed::Expired);
        }
        let address: String = row.try_get("address")?;
        let new = NewAgent {
            name: name.to_string(),
            address,
            mode: "dial",
            public_key: key.to_string(),
            status: "approved",
        };
        let id = match insert_agent(&mut tx, &new, now).await {
            Ok(id) => id,
            Err(CatalogError::Conflict(why)) => return Ok(Redeemed::Taken(why)),
            Err(e) => return Err(e),
        };
        sqlx::query("UPDATE agent_tokens SET used_at = ?, agent_uuid = ? WHERE id = ?")
            .bind(now)
            .bind(id.to_string())
            .bind(row.try_get::<String, _>("id")?)
            .execute(&mut *tx)
            .await?;
        self.commit(tx).await?;
        Ok(Redeemed::Enrolled(id))
    }
}

async fn insert_agent(tx: &mut sqlx::SqliteConnection, a: &NewAgent, now: i64) -> Result<AgentId> {
    for (col, value, what) in [
        ("address", &a.address, "address"),
        ("public_key", &a.public_key, "key"),
    ] {
        let taken: Option<String> =
            sqlx::query_scalar(&format!("SELECT name FROM agents WHERE {col} = ?"))
                .bind(value)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(name) = taken {
            return Err(CatalogError::Conflict(format!(
                "agent '{name}' has that {what} already"
            )));
        }
    }
    let id = AgentId::new_random();
    sqlx::query(
        "INSERT INTO agents (uuid, name, address, mode, public_key, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(&a.name)
    .bind(&a.address)
    .bind(a.mode)
    .bind(&a.public_key)
    .bind(a.status)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

fn agent_from_row(row: &SqliteRow) -> Result<Agent> {
    Ok(Agent {
        uuid: parse_id("agent", &row.try_get::<String, _>("uuid")?)?,
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        mode: row.try_get("mode")?,
        public_key: row.try_get("public_key")?,
        status: row.try_get("status")?,
        version: row.try_get("version")?,
        plugins: row.try_get("plugins")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        last_error: row.try_get("last_error")?,
    })
}
