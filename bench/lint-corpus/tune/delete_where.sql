DELETE FROM sessions WHERE expires_at < now() - interval '90 days';
