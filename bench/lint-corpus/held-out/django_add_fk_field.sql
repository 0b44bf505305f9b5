--
-- Add field customer to order
--
ALTER TABLE "app_order" ADD COLUMN "customer_id" bigint NULL CONSTRAINT "app_order_customer_id_fk_app_customer_id" REFERENCES "app_customer"("id") DEFERRABLE INITIALLY DEFERRED;
SET CONSTRAINTS "app_order_customer_id_fk_app_customer_id" IMMEDIATE;
