-- Users, sessions, API tokens, failed logins and the audit log.

-- A person (or robot) who logs in. The password is an argon2id PHC string; there is no default
-- user and no default password. `targets` limits a viewer or operator to some targets: NULL for
-- every target, else a JSON array of target uuids.
CREATE TABLE users (
    uuid TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    targets TEXT,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set by too many failed logins; logins are refused until then.
    locked_until INTEGER
);

-- A login session. Only the SHA-256 of its token is kept, and so is the CSRF token that
-- cookie-authenticated state changes must echo.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_uuid TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_uuid);

-- An API token: shown once at creation, kept as the SHA-256 of its secret part. Its rights are
-- its own role and target limit, cut down to its owner's on every request.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_uuid TEXT NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    targets TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_uuid);

-- Failed logins, by user name ('user:NAME') and by address ('addr:IP'), for rate limits.
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);

-- What was done, by whom, from where, to what, with which outcome. Written in the same
-- transaction as the change it records; never updated, never deleted.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL DEFAULT '',
    object_uuid TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at);
CREATE TRIGGER audit_rows_are_never_deleted BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never deleted');
END;
CREATE TRIGGER audit_rows_are_never_changed BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are never changed');
END;
