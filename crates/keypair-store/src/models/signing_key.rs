//! Signing keys at rest. The private key arrives already sealed (AES-256-GCM) by the
//! token endpoint; this module only stores and lists them.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::db::DbConnection;
use crate::schema::signing_keys;
use crate::timestamp::{from_micros, to_micros};
use crate::tx::{Change, Tx};
use crate::{Store, StoreResult};

/// A signing key as stored.
#[derive(Clone)]
pub struct StoredSigningKey {
    /// Key id (the JWT `kid`).
    pub kid: String,
    /// JWS algorithm name (`EdDSA`, `ES256`, `RS256`).
    pub algorithm: String,
    /// The sealed private key.
    pub private_key_sealed: Vec<u8>,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// When it was created (and started signing).
    pub created_at: OffsetDateTime,
    /// When a newer key replaced it; `None` for the current key.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct SigningKeyRow {
    kid: String,
    algorithm: String,
    private_key_sealed: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl From<SigningKeyRow> for StoredSigningKey {
    fn from(r: SigningKeyRow) -> Self {
        StoredSigningKey {
            kid: r.kid,
            algorithm: r.algorithm,
            private_key_sealed: r.private_key_sealed,
            public_jwk: r.public_jwk,
            created_at: from_micros(r.created_at),
            retired_at: r.retired_at.map(from_micros),
        }
    }
}

impl StoredSigningKey {
    /// Adds a key that signs from `now` on and retires every current key.
    pub fn rotate_in(&self, tx: &mut Tx<'_>, now: OffsetDateTime) -> StoreResult<()> {
        diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
            .set(signing_keys::retired_at.eq(to_micros(now)))
            .execute(&mut **tx)?;
        diesel::insert_into(signing_keys::table)
            .values(SigningKeyRow {
                kid: self.kid.clone(),
                algorithm: self.algorithm.clone(),
                private_key_sealed: self.private_key_sealed.clone(),
                public_jwk: self.public_jwk.clone(),
                created_at: to_micros(self.created_at),
                retired_at: None,
            })
            .execute(&mut **tx)?;
        tx.changed(Change::SigningKeys);
        Ok(())
    }

    /// Every stored key, newest first.
    pub fn all(conn: &mut DbConnection) -> StoreResult<Vec<StoredSigningKey>> {
        let rows: Vec<SigningKeyRow> = signing_keys::table
            .select(SigningKeyRow::as_select())
            .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
            .load(conn)?;
        Ok(rows.into_iter().map(StoredSigningKey::from).collect())
    }

    /// Deletes keys retired before `cutoff` (no live token can carry their signature).
    /// Nothing reads a key that old, so this records no change.
    pub fn purge_retired_before(tx: &mut Tx<'_>, cutoff: OffsetDateTime) -> StoreResult<usize> {
        Ok(diesel::delete(
            signing_keys::table.filter(signing_keys::retired_at.lt(to_micros(cutoff))),
        )
        .execute(&mut **tx)?)
    }
}

impl Store {
    /// Adds a key that signs from `now` on and retires every current key, in one
    /// transaction ([`StoredSigningKey::rotate_in`]).
    pub fn rotate_signing_key(
        &self,
        key: &StoredSigningKey,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| key.rotate_in(tx, now))
    }

    /// Every stored key, newest first.
    pub fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.read(StoredSigningKey::all)
    }

    /// Deletes keys retired before `cutoff`.
    pub fn purge_signing_keys_retired_before(&self, cutoff: OffsetDateTime) -> StoreResult<usize> {
        self.write(|tx| StoredSigningKey::purge_retired_before(tx, cutoff))
    }
}
