//! Users, login sessions, API tokens and failed-login counts. Passwords arrive already hashed
//! and tokens as hashes of their secrets: the catalog never sees either in clear.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use bulwark_core::ids::TargetId;
use bulwark_core::role::Role;

use crate::audit::{AuditEntry, insert};
use crate::{Catalog, CatalogError, Result};

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its identifier.
    pub uuid: String,
    /// The login name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The targets it is limited to; `None` for every target.
    pub targets: Option<Vec<TargetId>>,
    /// The argon2id PHC string of its password.
    pub password_hash: String,
    /// When it was made.
    pub created_at: i64,
    /// Logins are refused until then (too many failures).
    pub locked_until: Option<i64>,
}

/// A login session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user.
    pub user: User,
    /// The CSRF token its cookie-authenticated state changes must echo.
    pub csrf: String,
    /// When it was made.
    pub created_at: i64,
    /// When it was last used.
    pub last_seen: i64,
}

/// An API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Its public id (the part of the token before the secret).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// The owner's uuid.
    pub user_uuid: String,
    /// The owner's name.
    pub user_name: String,
    /// Its own role (its rights are cut to its owner's on use).
    pub role: Role,
    /// Its own target limit.
    pub targets: Option<Vec<TargetId>>,
    /// SHA-256 of its secret, hex.
    pub secret_hash: String,
    /// When it was made.
    pub created_at: i64,
    /// When it stops working, if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// When it was last used.
    pub last_used_at: Option<i64>,
    /// `None` for every route its role allows; `metrics` for `GET /metrics` only.
    pub scope: Option<String>,
}

/// A new user or token's target limit, as the catalog keeps it.
fn targets_text(t: &Option<Vec<TargetId>>) -> Option<String> {
    t.as_ref().map(|ids| {
        let list: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
        format!("[{}]", list.join(","))
    })
}

fn parse_targets(text: Option<String>) -> Result<Option<Vec<TargetId>>> {
    let Some(text) = text else { return Ok(None) };
    let corrupt = |detail: String| CatalogError::Corrupt {
        what: "target limit",
        detail,
    };
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| corrupt(text.clone()))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_matches('"')
                .parse::<TargetId>()
                .map_err(|_| corrupt(text.clone()))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn parse_role(s: &str) -> Result<Role> {
    s.parse().map_err(|detail| CatalogError::Corrupt {
        what: "role",
        detail,
    })
}

const USER_COLUMNS: &str =
    "u.uuid, u.name, u.role, u.targets, u.password_hash, u.created_at, u.locked_until";

fn user_from_row(r: &SqliteRow) -> Result<User> {
    Ok(User {
        uuid: r.get("uuid"),
        name: r.get("name"),
        role: parse_role(r.get("role"))?,
        targets: parse_targets(r.get("targets"))?,
        password_hash: r.get("password_hash"),
        created_at: r.get("created_at"),
        locked_until: r.get("locked_until"),
    })
}

fn token_from_row(r: &SqliteRow) -> Result<Token> {
    Ok(Token {
        id: r.get("id"),
        name: r.get("tname"),
        user_uuid: r.get("user_uuid"),
        user_name: r.get("uname"),
        role: parse_role(r.get("trole"))?,
        targets: parse_targets(r.get("ttargets"))?,
        secret_hash: r.get("secret_hash"),
        created_at: r.get("tcreated"),
        expires_at: r.get("expires_at"),
        revoked_at: r.get("revoked_at"),
        last_used_at: r.get("last_used_at"),
        scope: r.get("scope"),
    })
}

const TOKEN_SELECT: &str =
    "SELECT t.id, t.name AS tname, t.user_uuid, u.name AS uname, t.role AS trole,
    t.targets AS ttargets, t.secret_hash, t.created_at AS tcreated, t.expires_at, t.revoked_at,
    t.last_used_at, t.scope FROM api_tokens t JOIN users u ON u.uuid = t.user_uuid";

impl Catalog {
    /// How many users exist.
    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Adds a user; `false` if the name is taken. The audit entry is written with it.
    pub async fn add_user(&self, u: &User, audit: &AuditEntry, now: i64) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "INSERT INTO users (uuid, name, role, targets, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&u.uuid)
        .bind(&u.name)
        .bind(u.role.as_str())
        .bind(targets_text(&u.targets))
        .bind(&u.password_hash)
        .bind(u.created_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert(&mut tx, audit, "ok", now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// One user by name.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.name = ?"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Sets a user's password hash, lifts a lock, and ends its sessions. `false` if no such user.
    pub async fn set_password(
        &self,
        name: &str,
        hash: &str,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let uuid: Option<String> = sqlx::query_scalar("SELECT uuid FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(uuid) = uuid else { return Ok(false) };
        sqlx::query("UPDATE users SET password_hash = ?, locked_until = NULL WHERE uuid = ?")
            .bind(hash)
            .bind(&uuid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_uuid = ?")
            .bind(&uuid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM login_failures WHERE key = ?")
            .bind(format!("user:{name}"))
            .execute(&mut *tx)
            .await?;
        insert(&mut tx, audit, "ok", now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a user with its sessions and tokens. `false` if no such user.
    pub async fn remove_user(&self, name: &str, audit: &AuditEntry, now: i64) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert(&mut tx, audit, "ok", now).await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---- failed logins ----

    /// Failed logins under `key` (`user:NAME`, `addr:IP`) since `since`.
    pub async fn count_failures(&self, key: &str, since: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE key = ? AND at >= ?")
                .bind(key)
                .bind(since)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Records a failed login under each key, locks `lock` (a user name) until `until` when
    /// asked, and writes the audit row: all in one transaction. Old failures (before `forget`)
    /// are dropped.
    pub async fn record_failed_login(
        &self,
        keys: &[String],
        lock: Option<(&str, i64)>,
        audit: &AuditEntry,
        outcome: &str,
        now: i64,
        forget: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM login_failures WHERE at < ?")
            .bind(forget)
            .execute(&mut *tx)
            .await?;
        for key in keys {
            sqlx::query("INSERT INTO login_failures (key, at) VALUES (?, ?)")
                .bind(key)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        if let Some((name, until)) = lock {
            sqlx::query("UPDATE users SET locked_until = ? WHERE name = ?")
                .bind(until)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        insert(&mut tx, audit, outcome, now).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- sessions ----

    /// Starts a session for a user (a successful login), clears its failures, and writes the
    /// audit row, in one transaction.
    pub async fn create_session(
        &self,
        user: &User,
        token_hash: &str,
        csrf: &str,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_uuid, csrf, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(&user.uuid)
        .bind(csrf)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM login_failures WHERE key = ?")
            .bind(format!("user:{}", user.name))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET locked_until = NULL WHERE uuid = ?")
            .bind(&user.uuid)
            .execute(&mut *tx)
            .await?;
        insert(&mut tx, audit, "ok", now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session with this token hash, if any.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.csrf, s.created_at AS s_created, s.last_seen
             FROM sessions s JOIN users u ON u.uuid = s.user_uuid WHERE s.token_hash = ?"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                user: user_from_row(&r)?,
                csrf: r.get("csrf"),
                created_at: r.get("s_created"),
                last_seen: r.get("last_seen"),
            })
        })
        .transpose()
    }

    /// Marks a session used now (only when the last mark is older than a minute, to spare
    /// writes).
    pub async fn touch_session(&self, token_hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen = ? WHERE token_hash = ? AND last_seen < ?")
            .bind(now)
            .bind(token_hash)
            .bind(now - 60)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session (logout, or expiry found on use).
    pub async fn end_session(&self, token_hash: &str) -> Result<()> {
        self.write_one(sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash))
            .await?;
        Ok(())
    }

    // ---- API tokens ----

    /// Stores a new token (its secret already hashed).
    pub async fn create_token(&self, t: &Token) -> Result<()> {
        crate::audit::note_object("token", &t.id);
        self.write_one(
            sqlx::query(
                "INSERT INTO api_tokens (id, user_uuid, name, secret_hash, role, targets, created_at, expires_at, scope)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&t.id)
            .bind(&t.user_uuid)
            .bind(&t.name)
            .bind(&t.secret_hash)
            .bind(t.role.as_str())
            .bind(targets_text(&t.targets))
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(&t.scope),
        )
        .await?;
        Ok(())
    }

    /// One token by id, with its owner.
    pub async fn token(&self, id: &str) -> Result<Option<(Token, User)>> {
        let row = sqlx::query(&format!("{TOKEN_SELECT} WHERE t.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        let user = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.uuid = ?"
        ))
        .bind(&token.user_uuid)
        .fetch_one(&self.pool)
        .await?;
        Ok(Some((token, user_from_row(&user)?)))
    }

    /// Tokens of one user, or of everyone; newest first.
    pub async fn list_tokens(&self, user_uuid: Option<&str>) -> Result<Vec<Token>> {
        let rows = sqlx::query(&format!(
            "{TOKEN_SELECT} WHERE (?1 IS NULL OR t.user_uuid = ?1) ORDER BY t.created_at DESC, t.id"
        ))
        .bind(user_uuid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token; `false` if it does not exist or was revoked already.
    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool> {
        let r = self
            .write_one(
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(id),
            )
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Marks a token used now (at most once a minute).
    pub async fn touch_token(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
            .bind(now)
            .bind(id)
            .bind(now - 60)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Resolves a target's name or uuid to its uuid.
    pub async fn target_by_ref(&self, reference: &str) -> Result<Option<TargetId>> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT uuid FROM targets WHERE uuid = ?1 OR name = ?1 LIMIT 1")
                .bind(reference)
                .fetch_optional(&self.pool)
                .await?;
        id.map(|s| crate::parse_id("target", &s)).transpose()
    }

    /// The target a job, archive or task concerns (for target-limited callers).
    pub async fn target_of(&self, kind: &str, uuid: &str) -> Result<Option<Option<TargetId>>> {
        let sql = match kind {
            "job" => "SELECT target_uuid FROM jobs WHERE uuid = ?",
            "archive" => "SELECT target_uuid FROM archives WHERE uuid = ?",
            "task" => "SELECT target_uuid FROM tasks WHERE uuid = ?",
            "target" => "SELECT uuid FROM targets WHERE uuid = ?",
            _ => return Ok(Some(None)),
        };
        let row: Option<Option<String>> = sqlx::query_scalar(sql)
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|t| t.map(|s| crate::parse_id("target", &s)).transpose())
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_limits_round_trip() {
        let ids = vec![TargetId::new_random(), TargetId::new_random()];
        let text = targets_text(&Some(ids.clone()));
        assert_eq!(parse_targets(text).unwrap(), Some(ids));
        assert_eq!(parse_targets(None).unwrap(), None);
        assert_eq!(parse_targets(Some("[]".into())).unwrap(), Some(vec![]));
        assert!(parse_targets(Some("nonsense".into())).is_err());
    }
}
