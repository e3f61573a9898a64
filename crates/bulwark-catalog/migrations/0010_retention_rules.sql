-- Retention rules (restic's forget semantics) beside the seed's one expiry. `expiry_set` is 0
-- for a policy made of rules alone (its `expiry` column then holds a placeholder and means
-- nothing); `min_good` never lets a job fall below that many archives.
ALTER TABLE retention ADD COLUMN expiry_set INTEGER NOT NULL DEFAULT 1 CHECK (expiry_set IN (0, 1));
ALTER TABLE retention ADD COLUMN keep_last INTEGER CHECK (keep_last >= 0);
ALTER TABLE retention ADD COLUMN keep_hourly INTEGER CHECK (keep_hourly >= 0);
ALTER TABLE retention ADD COLUMN keep_daily INTEGER CHECK (keep_daily >= 0);
ALTER TABLE retention ADD COLUMN keep_weekly INTEGER CHECK (keep_weekly >= 0);
ALTER TABLE retention ADD COLUMN keep_monthly INTEGER CHECK (keep_monthly >= 0);
ALTER TABLE retention ADD COLUMN keep_yearly INTEGER CHECK (keep_yearly >= 0);
ALTER TABLE retention ADD COLUMN keep_within INTEGER CHECK (keep_within > 0);
ALTER TABLE retention ADD COLUMN min_good INTEGER NOT NULL DEFAULT 1 CHECK (min_good >= 0);

-- Each archive knows the job that made it; while that job exists its policy decides, and when
-- it is deleted the policy's rules are copied into `rules` (JSON) so the archive keeps them.
-- Archives made before this are given the one job of their target and store when there is
-- exactly one; the others keep the expiry they were given, as rules of their own.
ALTER TABLE archives ADD COLUMN job_uuid TEXT;
ALTER TABLE archives ADD COLUMN rules TEXT;
UPDATE archives SET job_uuid = (
    SELECT j.uuid FROM jobs j WHERE j.target_uuid = archives.target_uuid AND j.store_uuid = archives.store_uuid)
  WHERE (SELECT COUNT(*) FROM jobs j
          WHERE j.target_uuid = archives.target_uuid AND j.store_uuid = archives.store_uuid) = 1;
UPDATE archives SET rules = json_object('expires', MAX(expires_at - taken_at, 1), 'min_good', 1)
  WHERE job_uuid IS NULL;
CREATE INDEX archives_job ON archives (job_uuid);

-- Retries of failed scheduled backups, and what a run that finds the previous one still
-- running does (`grace`: seconds the old one may have before it is canceled for a new one).
ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0 CHECK (retries BETWEEN 0 AND 100);
ALTER TABLE jobs ADD COLUMN retry_delay INTEGER NOT NULL DEFAULT 60 CHECK (retry_delay >= 1);
ALTER TABLE jobs ADD COLUMN grace INTEGER CHECK (grace >= 0);
ALTER TABLE jobs ADD COLUMN retry_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN retry_at INTEGER;

-- Scheduled runs that did not start, and why.
CREATE TABLE skipped_runs (
    job_uuid  TEXT NOT NULL REFERENCES jobs (uuid) ON DELETE CASCADE,
    at        INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    task_uuid TEXT
);
CREATE INDEX skipped_runs_job ON skipped_runs (job_uuid, at);

-- A schedule keeps the text its author wrote; `timespec` stays its canonical form.
ALTER TABLE schedules ADD COLUMN author_text TEXT;
UPDATE schedules SET author_text = timespec;
