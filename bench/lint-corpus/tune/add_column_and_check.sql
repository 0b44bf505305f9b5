ALTER TABLE orders ADD COLUMN total_cents bigint NOT NULL DEFAULT 0,
  ADD CONSTRAINT orders_total_cents_nonneg CHECK (total_cents >= 0);
