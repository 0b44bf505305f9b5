COMMENT ON COLUMN orders.reference IS 'external order reference';
