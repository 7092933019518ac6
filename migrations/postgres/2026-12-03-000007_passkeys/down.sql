DROP TABLE passkey_ceremonies;
DROP TABLE passkey_credentials;
