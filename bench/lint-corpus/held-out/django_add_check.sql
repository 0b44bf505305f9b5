--
-- Create constraint price_gte_0 on model product
--
ALTER TABLE "app_product" ADD CONSTRAINT "price_gte_0" CHECK ("price" >= 0);
