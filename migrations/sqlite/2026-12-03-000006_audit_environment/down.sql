DROP INDEX audit_records_environment;
ALTER TABLE audit_records DROP COLUMN environment_id;
