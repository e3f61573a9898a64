-- Job health: a job's own recovery point objective, and the index its last runs are found by.

-- Seconds the newest good archive of the job may be old before the job is late; NULL derives it
-- from the schedule.
ALTER TABLE jobs ADD COLUMN rpo INTEGER;

CREATE INDEX tasks_job_runs ON tasks (job_uuid, op, status, stopped_at);

-- Storage usage: the bytes of a repository store's pack files when they were last measured (after
-- a prune), and when.
ALTER TABLE stores ADD COLUMN repo_bytes INTEGER;
ALTER TABLE stores ADD COLUMN repo_bytes_at INTEGER;
