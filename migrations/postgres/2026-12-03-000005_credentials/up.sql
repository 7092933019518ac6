-- People's credentials and reset links. Timestamps are microseconds since the epoch,
-- UTC.
--
-- password_credentials: at most one password per person, as an Argon2id PHC string
-- (algorithm, version, parameters, salt and hash; docs/security.md). The password
-- itself is never stored. last_used_at: the last sign-in with it.
CREATE TABLE password_credentials (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    phc TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

-- credential_resets: one-time setup links made by `keygate users reset` for an
-- existing person, whose credentials and sessions the reset ended. Accepting one sets
-- new credentials and grants no role binding, so resets live apart from invitations
-- (whose role is always a binding). reset_id shares the invitations' `inv_` ids;
-- code_digest is the SHA-256 of the code (256 random bits), never the code. A newer
-- reset of the same person withdraws the older pending ones.
CREATE TABLE credential_resets (
    reset_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    code_digest BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    withdrawn_at BIGINT,
    created_by TEXT NOT NULL
);
CREATE INDEX credential_resets_user ON credential_resets (user_id);
