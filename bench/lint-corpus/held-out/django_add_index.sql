--
-- Create index app_order_created_8f1d2a on field(s) created_at of model order
--
CREATE INDEX "app_order_created_8f1d2a" ON "app_order" ("created_at");
