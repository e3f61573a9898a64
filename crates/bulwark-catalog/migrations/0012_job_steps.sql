-- A job's steps before and after its backups and restores: a JSON list of
-- {name, when, command | http | plugin_action, timeout, on_failure, always, secrets}, checked by
-- the API before it is stored. Secrets are never inline: a step names endpoint keys of the
-- job's target (sealed there), which it is given when it runs.
ALTER TABLE jobs ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';

-- A job's bandwidth limit: at most this many bytes a second go to its store; NULL for none.
ALTER TABLE jobs ADD COLUMN bandwidth INTEGER CHECK (bandwidth IS NULL OR bandwidth > 0);

-- File-change triggers: back the job up when files under its fs target's directory change,
-- after `watch_settle` quiet seconds, at most once per `watch_min_interval` seconds. NULL: off.
ALTER TABLE jobs ADD COLUMN watch_settle INTEGER CHECK (watch_settle IS NULL OR watch_settle > 0);
ALTER TABLE jobs ADD COLUMN watch_min_interval INTEGER CHECK (watch_min_interval IS NULL OR watch_min_interval >= 0);
