--
-- Alter field amount on order
--
ALTER TABLE "app_order" ALTER COLUMN "amount" TYPE numeric(12, 2) USING "amount"::numeric(12, 2);
