INSERT INTO settings (key, value) VALUES ('signup_enabled', 'true')
ON CONFLICT (key) DO NOTHING;
