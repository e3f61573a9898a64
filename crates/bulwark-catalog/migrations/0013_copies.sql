-- Further stores a job copies each new archive into, each with a retention policy of its own
-- and its own retries. A store or policy a copy uses cannot be deleted; deleting the job drops
-- its copies (the archives copied keep the copy's rules, as a deleted job's archives do).
CREATE TABLE job_copies (
    job_uuid       TEXT NOT NULL REFERENCES jobs (uuid) ON DELETE CASCADE,
    store_uuid     TEXT NOT NULL REFERENCES stores (uuid),
    retention_uuid TEXT NOT NULL REFERENCES retention (uuid),
    retries        INTEGER NOT NULL DEFAULT 3 CHECK (retries >= 0),
    retry_delay    INTEGER NOT NULL DEFAULT 300 CHECK (retry_delay > 0),
    position       INTEGER NOT NULL,
    PRIMARY KEY (job_uuid, store_uuid)
);
CREATE INDEX job_copies_store ON job_copies (store_uuid);
CREATE INDEX job_copies_retention ON job_copies (retention_uuid);

-- The archive a copy was made from; NULL for an archive a backup made. No foreign key: the
-- origin's row may go with its store while the copy lives on.
ALTER TABLE archives ADD COLUMN origin_uuid TEXT;

-- A task that must not start before this time (a retry's wait); NULL: at once.
ALTER TABLE tasks ADD COLUMN run_after INTEGER;
-- Which try this is of the same work: 0 for the first.
ALTER TABLE tasks ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
