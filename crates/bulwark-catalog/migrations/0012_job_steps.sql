-- A job's steps before and after its backups and restores: a JSON list of
-- {name, when, command | http | plugin_action, timeout, on_failure, always, secrets}, checked by
-- the API before it is stored. Secrets are never inline: a step names endpoint keys of the
-- job's target (sealed there), which it is given when it runs.
ALTER TABLE jobs ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';

-- A job's bandwidth limit: at most this many bytes a second go to its store; NULL for none.
ALTER TABLE jobs ADD COLUMN bandwidth INTEGER CHECK (bandwidth IS NULL OR bandwidth > 0);
