-- An operator may pin an archive: retention never purges it (an explicit delete still can).
ALTER TABLE archives ADD COLUMN keep INTEGER NOT NULL DEFAULT 0 CHECK (keep IN (0, 1));
