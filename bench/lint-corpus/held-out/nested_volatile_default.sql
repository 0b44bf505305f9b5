ALTER TABLE accounts ADD COLUMN shard smallint NOT NULL DEFAULT (random() * 100)::smallint;
