ALTER TABLE orders ALTER COLUMN amount TYPE numeric(14, 2);
