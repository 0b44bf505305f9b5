DROP TABLE IF EXISTS "legacy_reports";
