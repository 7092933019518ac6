-- Keypair lifecycle: several secrets per keypair (rotation with overlap), an expiry
-- date and an address allowlist.
--
-- Each live secret is a row: its SHA-256 digest, its hint (the first characters of
-- the secret, unique per keypair), when it was made and when it stops working (NULL:
-- never). A secret ended at once is deleted; one that ran out at its chosen time stays
-- until the keypair's next rotation clears it. The digests move here from keypairs.
CREATE TABLE keypair_secrets (
    client_id TEXT NOT NULL REFERENCES keypairs (client_id) ON DELETE CASCADE,
    hint TEXT NOT NULL,
    digest BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    PRIMARY KEY (client_id, hint)
);
INSERT INTO keypair_secrets (client_id, hint, digest, created_at, expires_at)
    SELECT client_id, secret_hint, secret_digest, created_at, NULL FROM keypairs;
ALTER TABLE keypairs DROP COLUMN secret_digest;

-- After expires_at (microseconds since the epoch, UTC; NULL: never) the keypair gets
-- no token. allowed_addresses: CIDRs separated by spaces; empty: any address.
ALTER TABLE keypairs ADD COLUMN expires_at BIGINT;
ALTER TABLE keypairs ADD COLUMN allowed_addresses TEXT NOT NULL DEFAULT '';
