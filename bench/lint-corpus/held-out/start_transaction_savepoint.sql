START TRANSACTION;
ALTER TABLE accounts ADD COLUMN referrer text;
SAVEPOINT before_seed;
INSERT INTO settings (key, value) VALUES ('referrals', 'on');
COMMIT;
