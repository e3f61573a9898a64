-- Repository stores, sealed stream keys, and maintenance tasks.

-- The store's secret, sealed with the daemon's master key: a repository store's password, or
-- the age key a plugin store's streams are sealed with. NULL for stores made before this
-- migration (their streams are kept as the target wrote them).
ALTER TABLE stores ADD COLUMN secret TEXT;
-- When the store's repository is pruned (a schedule); '' means the daemon's default.
ALTER TABLE stores ADD COLUMN prune_schedule TEXT NOT NULL DEFAULT '';
-- When the scheduler last queued this store's prune and check (Unix seconds).
ALTER TABLE stores ADD COLUMN prune_fired_at INTEGER;
ALTER TABLE stores ADD COLUMN check_fired_at INTEGER;

-- How the archive's data is kept: 'raw' (the stream as the target wrote it), 'sealed' (zstd,
-- then age, by the runner), 'stream' (a repository snapshot of one file), 'tree' (a repository
-- snapshot of a directory tree).
ALTER TABLE archives ADD COLUMN format TEXT NOT NULL DEFAULT 'raw';
-- Bytes the store grew by for this archive, when the store says (repositories do).
ALTER TABLE archives ADD COLUMN added INTEGER;

-- Options of a maintenance task (check's read subset).
ALTER TABLE tasks ADD COLUMN options TEXT NOT NULL DEFAULT '';
