ALTER TABLE keypairs DROP COLUMN allowed_addresses;
ALTER TABLE keypairs DROP COLUMN expires_at;
ALTER TABLE keypairs ADD COLUMN secret_digest BYTEA NOT NULL DEFAULT ''::bytea;
-- The newest secret becomes the only one.
UPDATE keypairs SET secret_digest = (
    SELECT s.digest FROM keypair_secrets s WHERE s.client_id = keypairs.client_id
    ORDER BY s.created_at DESC LIMIT 1
) WHERE EXISTS (SELECT 1 FROM keypair_secrets s WHERE s.client_id = keypairs.client_id);
DROP TABLE keypair_secrets;
