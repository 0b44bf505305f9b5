ALTER TABLE users ADD COLUMN invite_code text DEFAULT md5(random()::text);
