-- Restore drills: a job may name a schedule on which its newest good archive is restored into a
-- scratch destination and checked, and the scratch target that is (none: a temporary directory
-- on the daemon's host, for fs and sqlite jobs).
ALTER TABLE jobs ADD COLUMN drill_schedule_uuid TEXT REFERENCES schedules (uuid);
ALTER TABLE jobs ADD COLUMN drill_target_uuid TEXT REFERENCES targets (uuid);
ALTER TABLE jobs ADD COLUMN drill_fired_at INTEGER;

-- What each drill found: passed (restored and verified), unverified (restored; the plugin
-- cannot verify) or failed; the time to restore in seconds (RTO) when the restore finished.
CREATE TABLE drills (
    task_uuid    TEXT PRIMARY KEY NOT NULL REFERENCES tasks (uuid) ON DELETE CASCADE,
    job_uuid     TEXT REFERENCES jobs (uuid) ON DELETE CASCADE,
    archive_uuid TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('passed', 'unverified', 'failed')),
    rto          REAL,
    detail       TEXT NOT NULL DEFAULT '',
    finished_at  INTEGER NOT NULL
);
CREATE INDEX drills_job ON drills (job_uuid, finished_at);
