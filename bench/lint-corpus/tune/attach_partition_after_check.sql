ALTER TABLE measurements_2028 ADD CONSTRAINT measurements_2028_bound
  CHECK (at >= '2028-01-01' AND at < '2029-01-01') NOT VALID;
ALTER TABLE measurements_2028 VALIDATE CONSTRAINT measurements_2028_bound;
ALTER TABLE measurements ATTACH PARTITION measurements_2028
  FOR VALUES FROM ('2028-01-01') TO ('2029-01-01');
