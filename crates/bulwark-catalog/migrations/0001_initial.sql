-- The catalog of seed 003: targets, stores, schedules, retention, jobs, archives, tasks.
-- UUIDs are stored as text, times as Unix seconds. Foreign keys are enforced
-- (the daemon opens every connection with PRAGMA foreign_keys = ON).

CREATE TABLE targets (
    uuid     TEXT PRIMARY KEY NOT NULL,
    name     TEXT NOT NULL,
    summary  TEXT NOT NULL DEFAULT '',
    plugin   TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    agent    TEXT NOT NULL
);

CREATE TABLE stores (
    uuid     TEXT PRIMARY KEY NOT NULL,
    name     TEXT NOT NULL,
    summary  TEXT NOT NULL DEFAULT '',
    plugin   TEXT NOT NULL,
    endpoint TEXT NOT NULL
);

CREATE TABLE schedules (
    uuid     TEXT PRIMARY KEY NOT NULL,
    name     TEXT NOT NULL,
    summary  TEXT NOT NULL DEFAULT '',
    timespec TEXT NOT NULL
);

CREATE TABLE retention (
    uuid    TEXT PRIMARY KEY NOT NULL,
    name    TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    expiry  INTEGER NOT NULL CHECK (expiry > 0)
);

CREATE TABLE jobs (
    uuid           TEXT PRIMARY KEY NOT NULL,
    target_uuid    TEXT NOT NULL REFERENCES targets (uuid),
    store_uuid     TEXT NOT NULL REFERENCES stores (uuid),
    schedule_uuid  TEXT NOT NULL REFERENCES schedules (uuid),
    retention_uuid TEXT NOT NULL REFERENCES retention (uuid),
    priority       INTEGER NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    paused         INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    name           TEXT NOT NULL,
    summary        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX jobs_target ON jobs (target_uuid);
CREATE INDEX jobs_store ON jobs (store_uuid);
CREATE INDEX jobs_schedule ON jobs (schedule_uuid);
CREATE INDEX jobs_retention ON jobs (retention_uuid);

CREATE TABLE archives (
    uuid        TEXT PRIMARY KEY NOT NULL,
    target_uuid TEXT NOT NULL REFERENCES targets (uuid),
    store_uuid  TEXT NOT NULL REFERENCES stores (uuid),
    store_key   TEXT NOT NULL,
    taken_at    INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    notes       TEXT NOT NULL DEFAULT '',
    -- valid: the data is in the store; purging: deletion requested; purged: the data is gone.
    status      TEXT NOT NULL DEFAULT 'valid'
);
CREATE INDEX archives_target ON archives (target_uuid);
CREATE INDEX archives_store ON archives (store_uuid);
CREATE INDEX archives_taken_at ON archives (taken_at);

CREATE TABLE tasks (
    uuid         TEXT PRIMARY KEY NOT NULL,
    owner        TEXT NOT NULL DEFAULT 'anon',
    op           TEXT NOT NULL,
    job_uuid     TEXT REFERENCES jobs (uuid) ON DELETE SET NULL,
    archive_uuid TEXT REFERENCES archives (uuid) ON DELETE SET NULL,
    target_uuid  TEXT REFERENCES targets (uuid) ON DELETE SET NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'canceled', 'failed', 'done')),
    requested_at INTEGER NOT NULL,
    started_at   INTEGER,
    stopped_at   INTEGER,
    log          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tasks_status ON tasks (status);
CREATE INDEX tasks_job ON tasks (job_uuid);
CREATE INDEX tasks_requested_at ON tasks (requested_at);
