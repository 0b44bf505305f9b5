-- the down file backfills before it restores NOT NULL, so the rollback cannot fail on NULLs
ALTER TABLE users ALTER COLUMN name DROP NOT NULL;
