-- What the task engine needs: archive sizes, task priority and store, and when each job's
-- schedule last fired.

-- Bytes the target produced for this archive.
ALTER TABLE archives ADD COLUMN size INTEGER NOT NULL DEFAULT 0;

-- 0 runs first. Backups take their job's priority; restores 0; purges 100.
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 50;
-- The store a backup writes into, recorded when it starts, so that a backup cut short (even by
-- a crash) can have its partial data removed from the right store.
ALTER TABLE tasks ADD COLUMN store_uuid TEXT REFERENCES stores (uuid) ON DELETE SET NULL;
CREATE INDEX tasks_queue ON tasks (status, priority, requested_at);
CREATE INDEX tasks_archive ON tasks (archive_uuid);

-- When the scheduler last fired this job (Unix seconds); NULL until it first looks at it.
ALTER TABLE jobs ADD COLUMN last_fired_at INTEGER;
