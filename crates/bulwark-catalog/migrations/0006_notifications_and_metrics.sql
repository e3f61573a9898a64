-- Notifications: channels that are told of events (a webhook, an email address), what each was
-- sent, and what each job was last said to be, so a late job is announced once and its recovery
-- once.

CREATE TABLE notification_channels (
    uuid       TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    -- 'webhook' or 'email'.
    kind       TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    -- A JSON object; its secret values (a webhook's signing secret, an SMTP password) are
    -- sealed as endpoint secrets are.
    config     TEXT NOT NULL,
    -- A JSON array of event names the channel wants.
    events     TEXT NOT NULL,
    -- A JSON array of job UUIDs; empty for every job.
    jobs       TEXT NOT NULL DEFAULT '[]',
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE notification_deliveries (
    uuid         TEXT PRIMARY KEY,
    channel_uuid TEXT NOT NULL REFERENCES notification_channels (uuid) ON DELETE CASCADE,
    event        TEXT NOT NULL,
    -- The JSON document sent (a webhook's body; an email is written from it).
    payload      TEXT NOT NULL,
    -- 'pending' (to be tried, or tried again at next_at), 'sent', or 'failed' (given up).
    status       TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER,
    last_error   TEXT NOT NULL DEFAULT '',
    job_uuid     TEXT,
    task_uuid    TEXT,
    created_at   INTEGER NOT NULL,
    sent_at      INTEGER
);

CREATE INDEX notification_deliveries_due ON notification_deliveries (status, next_at);
CREATE INDEX notification_deliveries_newest ON notification_deliveries (created_at);

-- What each job was last announced as: 'failing', 'late', or 'ok'.
CREATE TABLE job_alerts (
    job_uuid TEXT PRIMARY KEY REFERENCES jobs (uuid) ON DELETE CASCADE,
    state    TEXT NOT NULL CHECK (state IN ('ok', 'failing', 'late')),
    since    INTEGER NOT NULL
);

-- An API token's scope: NULL for every route its role allows, 'metrics' for GET /metrics only.
ALTER TABLE api_tokens ADD COLUMN scope TEXT CHECK (scope IS NULL OR scope IN ('metrics'));
