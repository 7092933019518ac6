-- Keygate initial schema. Timestamps are microseconds since the Unix epoch (UTC),
-- stored as BIGINT so that one diesel schema serves SQLite and PostgreSQL alike.
-- Ids are opaque random strings (see crates/keypair-store/src/ids.rs).

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX accounts_listing ON accounts (created_at, id);

CREATE TABLE environments (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX environments_listing ON environments (account_id, created_at, id);

-- account_id is set for account- and environment-owned keypairs (the environment's
-- account, denormalised so that closing an account is one delete); both are NULL only
-- for operator keypairs made by `keygate bootstrap`.
CREATE TABLE keypairs (
    client_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    environment_id TEXT REFERENCES environments (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    comment TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    secret_digest BYTEA NOT NULL,
    secret_hint TEXT NOT NULL,
    token_lifetime_seconds BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_used_at BIGINT,
    CHECK (environment_id IS NULL OR account_id IS NOT NULL)
);
CREATE INDEX keypairs_account_listing ON keypairs (account_id, environment_id, created_at, client_id);
CREATE INDEX keypairs_environment_listing ON keypairs (environment_id, created_at, client_id);

-- Private keys are sealed (AES-256-GCM) by the token endpoint before they get here.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    algorithm TEXT NOT NULL,
    private_key_sealed BYTEA NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
CREATE INDEX signing_keys_created ON signing_keys (created_at, kid);

-- Append-only. No foreign key: records outlive the account they describe.
CREATE TABLE audit_records (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_records_listing ON audit_records (account_id, at, id);
