-- The target plugin that made each archive: a restore into a target of another plugin is refused
-- before it starts. Archives made before this are given their target's plugin.
ALTER TABLE archives ADD COLUMN plugin TEXT;
UPDATE archives SET plugin = (SELECT plugin FROM targets WHERE targets.uuid = archives.target_uuid);
