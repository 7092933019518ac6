DROP TABLE credential_resets;
DROP TABLE password_credentials;
