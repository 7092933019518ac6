-- When a signing key starts signing (microseconds since the epoch, UTC). A key is
-- published in the JWKS from `created_at` and signs from `activates_at`, so guards
-- can fetch it before they meet it. NULL (rows written before this migration) means
-- `created_at`: those keys signed from the moment they were made.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
