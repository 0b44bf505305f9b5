LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;
UPDATE orders SET status = 'archived' WHERE created_at < '2020-01-01';
