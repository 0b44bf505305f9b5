UPDATE accounts SET is_active = true WHERE id BETWEEN 1 AND 10000 AND is_active IS NULL;
