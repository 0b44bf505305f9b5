ALTER TABLE users ALTER COLUMN age TYPE smallint;
