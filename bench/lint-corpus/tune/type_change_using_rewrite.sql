ALTER TABLE orders ALTER COLUMN amount TYPE numeric(10, 2) USING round(amount, 2);
