ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fk;
