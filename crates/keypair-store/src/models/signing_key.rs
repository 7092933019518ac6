//! Signing keys at rest. The private key arrives already sealed (AES-256-GCM) by the
//! token endpoint; this module only stores and lists them.
//!
//! A key is published (in the JWKS) from `created_at` and signs from `activates_at`,
//! which a rotation may set in the future so that every guard can fetch the key before
//! it meets a signature by it (a two-phase rotation). At most one key waits to sign at
//! any time: [`StoredSigningKey::rotate_in`] refuses another.

use diesel::prelude::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::db::DbConnection;
use crate::schema::signing_keys;
use crate::timestamp::{from_micros, to_micros};
use crate::tx::{Change, Tx};
use crate::{Store, StoreError, StoreResult};

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
    /// When it was created (and published).
    pub created_at: OffsetDateTime,
    /// When it starts signing: `created_at` or later. Keys stored before activation
    /// times existed read as `created_at`.
    pub activates_at: OffsetDateTime,
    /// When a newer key took (or takes) over signing from it: the newer key's
    /// `activates_at`, which may be in the future. `None` while no newer key exists.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
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
    activates_at: Option<i64>,
}

impl From<SigningKeyRow> for StoredSigningKey {
    fn from(r: SigningKeyRow) -> Self {
        StoredSigningKey {
            kid: r.kid,
            algorithm: r.algorithm,
            private_key_sealed: r.private_key_sealed,
            public_jwk: r.public_jwk,
            created_at: from_micros(r.created_at),
            activates_at: from_micros(r.activates_at.unwrap_or(r.created_at)),
            retired_at: r.retired_at.map(from_micros),
        }
    }
}

impl StoredSigningKey {
    /// Adds this key, which signs from its `activates_at` on, and retires every key
    /// not yet retired as of that time. Refused with [`StoreError::Conflict`] (and
    /// nothing written) while another key waits to sign (its activation is after
    /// `now`): a pending rotation completes before the next one starts.
    pub fn rotate_in(&self, tx: &mut Tx<'_>, now: OffsetDateTime) -> StoreResult<()> {
        if self.activates_at < self.created_at {
            return Err(StoreError::invalid(
                "activates_at",
                "a signing key cannot sign before it is published",
            ));
        }
        // Retire first: on PostgreSQL the update locks the unretired rows, so two
        // concurrent rotations queue here and the second sees the first's key below.
        diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
            .set(signing_keys::retired_at.eq(to_micros(self.activates_at)))
            .execute(&mut **tx)?;
        let pending: Option<(String, i64)> = signing_keys::table
            .filter(signing_keys::activates_at.gt(to_micros(now)))
            .select((
                signing_keys::kid,
                signing_keys::activates_at.assume_not_null(),
            ))
            .order(signing_keys::activates_at.desc())
            .first(&mut **tx)
            .optional()?;
        if let Some((kid, at)) = pending {
            let at = from_micros(at).format(&Rfc3339).unwrap_or_default();
            return Err(StoreError::Conflict(format!(
                "signing key {kid} is already published and starts signing at {at}; \
                 rotate again after that"
            )));
        }
        diesel::insert_into(signing_keys::table)
            .values(SigningKeyRow {
                kid: self.kid.clone(),
                algorithm: self.algorithm.clone(),
                private_key_sealed: self.private_key_sealed.clone(),
                public_jwk: self.public_jwk.clone(),
                created_at: to_micros(self.created_at),
                retired_at: None,
                activates_at: Some(to_micros(self.activates_at)),
            })
            .execute(&mut **tx)?;
        tx.changed(Change::SigningKeys);
        Ok(())
    }

    /// Every stored key, newest first: by activation time, then creation time, then id.
    pub fn all(conn: &mut DbConnection) -> StoreResult<Vec<StoredSigningKey>> {
        let rows: Vec<SigningKeyRow> = signing_keys::table
            .select(SigningKeyRow::as_select())
            .load(conn)?;
        let mut keys: Vec<StoredSigningKey> =
            rows.into_iter().map(StoredSigningKey::from).collect();
        keys.sort_by(|a, b| {
            (b.activates_at, b.created_at, &b.kid).cmp(&(a.activates_at, a.created_at, &a.kid))
        });
        Ok(keys)
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
    /// Adds a key that signs from its `activates_at` on and retires the keys before
    /// it, in one transaction; refused while another key waits to sign
    /// ([`StoredSigningKey::rotate_in`]).
    pub fn rotate_signing_key(
        &self,
        key: &StoredSigningKey,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| key.rotate_in(tx, now))
    }

    /// Every stored key, newest first (by activation time).
    pub fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.read(StoredSigningKey::all)
    }

    /// Deletes keys retired before `cutoff`.
    pub fn purge_signing_keys_retired_before(&self, cutoff: OffsetDateTime) -> StoreResult<usize> {
        self.write(|tx| StoredSigningKey::purge_retired_before(tx, cutoff))
    }
}
