//! Diesel table definitions, identical for SQLite and PostgreSQL.
//! Keep in step with `migrations/{sqlite,postgres}`.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    environments (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    keypairs (client_id) {
        client_id -> Text,
        account_id -> Nullable<Text>,
        environment_id -> Nullable<Text>,
        scopes -> Text,
        comment -> Text,
        enabled -> Bool,
        secret_hint -> Text,
        token_lifetime_seconds -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
        allowed_addresses -> Text,
    }
}

diesel::table! {
    keypair_secrets (client_id, hint) {
        client_id -> Text,
        hint -> Text,
        digest -> Binary,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        private_key_sealed -> Binary,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        activates_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_records (id) {
        id -> Text,
        account_id -> Nullable<Text>,
        actor -> Text,
        action -> Text,
        target -> Text,
        detail -> Text,
        at -> BigInt,
        environment_id -> Nullable<Text>,
    }
}

diesel::table! {
    status_lists (id) {
        id -> Text,
        capacity -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    status_entries (list_id, idx) {
        list_id -> Text,
        idx -> BigInt,
        client_id -> Text,
        status -> SmallInt,
        created_at -> BigInt,
        invalidated_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    status_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    users (user_id) {
        user_id -> Text,
        email -> Text,
        email_key -> Text,
        name -> Text,
        created_at -> BigInt,
        last_sign_in_at -> Nullable<BigInt>,
        disabled -> Bool,
    }
}

diesel::table! {
    role_bindings (user_id, owner_key) {
        user_id -> Text,
        role -> Text,
        owner_key -> Text,
        account_id -> Nullable<Text>,
        environment_id -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    invitations (invitation_id) {
        invitation_id -> Text,
        email -> Text,
        email_key -> Text,
        role -> Text,
        owner_key -> Text,
        account_id -> Nullable<Text>,
        environment_id -> Nullable<Text>,
        code_digest -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        accepted_at -> Nullable<BigInt>,
        withdrawn_at -> Nullable<BigInt>,
        created_by -> Text,
    }
}

diesel::table! {
    sessions (id_digest) {
        id_digest -> Binary,
        user_id -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
    }
}

diesel::table! {
    password_credentials (user_id) {
        user_id -> Text,
        phc -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    credential_resets (reset_id) {
        reset_id -> Text,
        user_id -> Text,
        code_digest -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        withdrawn_at -> Nullable<BigInt>,
        created_by -> Text,
    }
}

diesel::joinable!(environments -> accounts (account_id));
diesel::joinable!(keypair_secrets -> keypairs (client_id));
diesel::joinable!(role_bindings -> users (user_id));
diesel::table! {
    passkey_credentials (credential_id) {
        credential_id -> Binary,
        user_id -> Text,
        user_handle -> Text,
        passkey -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    passkey_ceremonies (id_digest) {
        id_digest -> Binary,
        purpose -> Text,
        state -> Text,
        user_handle -> Nullable<Text>,
        expires_at -> BigInt,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(passkey_credentials -> users (user_id));
diesel::joinable!(password_credentials -> users (user_id));
diesel::joinable!(credential_resets -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    environments,
    keypairs,
    keypair_secrets,
    signing_keys,
    audit_records,
    status_lists,
    status_entries,
    status_version,
    users,
    role_bindings,
    invitations,
    sessions,
    password_credentials,
    credential_resets,
    passkey_credentials,
    passkey_ceremonies
);
