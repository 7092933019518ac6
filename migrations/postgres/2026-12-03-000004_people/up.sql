-- Human administrators: people, their role bindings, pending invitations and
-- console sessions. Timestamps are microseconds since the epoch, UTC.
--
-- email is kept as given; email_key (its lowercase form) makes emails unique
-- case-insensitively. A binding's or invitation's owner_key is '' for operator, the
-- account id for account_admin and the environment id for environment_admin, so a
-- person holds each binding at most once. Closing an account or an environment
-- removes its bindings and invitations (ON DELETE CASCADE).
CREATE TABLE users (
    user_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE role_bindings (
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('operator', 'account_admin', 'environment_admin')),
    owner_key TEXT NOT NULL,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    environment_id TEXT REFERENCES environments (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, owner_key)
);
CREATE INDEX role_bindings_owner ON role_bindings (owner_key);

-- code_digest: SHA-256 of the one-time code (256 random bits); the code itself is
-- never stored. created_by: the recorded actor who invited.
CREATE TABLE invitations (
    invitation_id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'account_admin', 'environment_admin')),
    owner_key TEXT NOT NULL,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    environment_id TEXT REFERENCES environments (id) ON DELETE CASCADE,
    code_digest BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    withdrawn_at BIGINT,
    created_by TEXT NOT NULL
);
CREATE INDEX invitations_owner ON invitations (owner_key);

-- id_digest: SHA-256 of the session id (256 random bits); the id itself is never
-- stored.
CREATE TABLE sessions (
    id_digest BYTEA PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
