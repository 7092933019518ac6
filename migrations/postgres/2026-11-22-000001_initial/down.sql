DROP TABLE audit_records;
DROP TABLE signing_keys;
DROP TABLE keypairs;
DROP TABLE environments;
DROP TABLE accounts;
