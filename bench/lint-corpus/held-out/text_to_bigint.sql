ALTER TABLE orders ALTER COLUMN reference TYPE bigint USING reference::bigint;
