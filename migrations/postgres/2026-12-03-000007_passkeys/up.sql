-- Passkeys (WebAuthn credentials) and the ceremonies that register and use them.
-- Timestamps are microseconds since the epoch, UTC.
--
-- passkey_credentials: any number per person. credential_id is the authenticator's
-- credential id (at most 1023 bytes, WebAuthn); user_handle is the WebAuthn user
-- handle the person's passkeys share (a random UUID, never the user id, so an
-- authenticator holds nothing that names the person here); passkey is webauthn-rs's
-- Passkey as JSON (public key, signature counter, backup flags): no secret.
CREATE TABLE passkey_credentials (
    credential_id BYTEA PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    user_handle TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkey_credentials_user ON passkey_credentials (user_id);
CREATE INDEX passkey_credentials_handle ON passkey_credentials (user_handle);

-- passkey_ceremonies: a registration or sign-in in progress, between the challenge
-- given to the browser and its answer. id_digest is the SHA-256 of the ceremony id
-- (256 random bits, in a short-lived cookie); state is webauthn-rs's ceremony state
-- as JSON (the challenge). A ceremony is deleted when it is answered, so each
-- challenge is answered at most once; expired ones are deleted as new ones begin.
CREATE TABLE passkey_ceremonies (
    id_digest BYTEA PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    user_handle TEXT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);
