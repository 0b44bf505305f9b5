ALTER TABLE accounts ADD COLUMN external_id uuid NOT NULL DEFAULT uuid_generate_v4();
