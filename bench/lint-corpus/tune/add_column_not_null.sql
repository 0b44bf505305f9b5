ALTER TABLE users ADD COLUMN country_code char(2) NOT NULL;
