--
-- Remove field legacy_code from product
--
ALTER TABLE "app_product" DROP COLUMN "legacy_code" CASCADE;
