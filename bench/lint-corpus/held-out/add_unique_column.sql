ALTER TABLE accounts ADD COLUMN api_key text UNIQUE;
