//! A keypair's secrets: rotation with overlap (Stripe's "roll key", Okta's two
//! secrets) and ending one at once.
//!
//! Each secret is a row of `keypair_secrets`: digest, hint, creation and expiry. At
//! most [`MAX_LIVE_SECRETS`] are live at once. A secret ended at once is deleted; one
//! that ran out at its chosen time stays (not live) until the next rotation clears it.
//! Both writes start by updating the keypair row, which takes its row lock on
//! PostgreSQL and the database's write lock on SQLite, so concurrent rotations of one
//! keypair run one after the other and never leave three secrets live.

use std::collections::HashMap;

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::{AccountId, ClientId, EnvironmentId};
use crate::models::keypair::Keypair;
use crate::models::status::Generation;
use crate::schema::{keypair_secrets, keypairs};
use crate::secret::{ClientSecret, SecretDigest};
use crate::timestamp::{from_micros, to_micros};
use crate::tx::{Change, Tx};
use crate::{StoreError, StoreResult};

/// Most secrets a keypair has live at once.
pub const MAX_LIVE_SECRETS: usize = 2;

/// The longest overlap a rotation may give the previous secret: 30 days.
pub const MAX_OVERLAP_SECONDS: u32 = 30 * 24 * 3600;

/// One secret of a keypair as administrators see it: never the secret or its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretInfo {
    /// The first characters of the secret, unique among the keypair's secrets.
    pub hint: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops working (`None`: never).
    pub expires_at: Option<OffsetDateTime>,
}

impl SecretInfo {
    /// Whether it still works at `now`.
    pub fn live_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

/// A rotation: `POST /keypairs/{client_id}/secrets`.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    /// How long the secrets live now keep working (0: they end at once), at most
    /// [`MAX_OVERLAP_SECONDS`]. A secret that was due to end sooner keeps its end.
    pub previous_secret_expires_in_seconds: u32,
    /// With two secrets live, end the oldest now instead of refusing (409).
    pub end_oldest: bool,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = keypair_secrets)]
pub(crate) struct SecretRow {
    client_id: String,
    hint: String,
    digest: Vec<u8>,
    created_at: i64,
    expires_at: Option<i64>,
}

impl SecretRow {
    pub(crate) fn new(client_id: &str, secret: &ClientSecret, now: OffsetDateTime) -> Self {
        SecretRow {
            client_id: client_id.to_owned(),
            hint: secret.hint(),
            digest: secret.digest().as_bytes().to_vec(),
            created_at: to_micros(now),
            expires_at: None,
        }
    }

    /// The secrets of one keypair, newest first.
    pub(crate) fn of(conn: &mut DbConnection, client_id: &ClientId) -> StoreResult<Vec<Self>> {
        use keypair_secrets::dsl as s;
        Ok(s::keypair_secrets
            .filter(s::client_id.eq(client_id.as_str()))
            .order((s::created_at.desc(), s::hint.desc()))
            .select(SecretRow::as_select())
            .load(conn)?)
    }

    /// The secrets of several keypairs, newest first, by client id.
    pub(crate) fn of_many(
        conn: &mut DbConnection,
        client_ids: &[&str],
    ) -> StoreResult<HashMap<String, Vec<Self>>> {
        use keypair_secrets::dsl as s;
        let mut out: HashMap<String, Vec<Self>> = HashMap::new();
        if client_ids.is_empty() {
            return Ok(out);
        }
        let rows: Vec<SecretRow> = s::keypair_secrets
            .filter(s::client_id.eq_any(client_ids))
            .order((s::created_at.desc(), s::hint.desc()))
            .select(SecretRow::as_select())
            .load(conn)?;
        for row in rows {
            out.entry(row.client_id.clone()).or_default().push(row);
        }
        Ok(out)
    }

    pub(crate) fn info(&self) -> SecretInfo {
        SecretInfo {
            hint: self.hint.clone(),
            created_at: from_micros(self.created_at),
            expires_at: self.expires_at.map(from_micros),
        }
    }

    /// The digest and expiry authentication compares against (the expiry in Unix
    /// microseconds, `i64::MAX` for none).
    pub(crate) fn verifier(&self) -> StoreResult<(SecretDigest, i64)> {
        let digest = SecretDigest::from_db(&self.digest).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "keypair {}: stored secret digest has the wrong length",
                self.client_id
            ))
        })?;
        Ok((digest, self.expires_at.unwrap_or(i64::MAX)))
    }

    fn live_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

/// Takes the keypair's lock (see the module documentation), stamps `updated_at`, and
/// returns its account and environment (for the audit record) and whether it is
/// enabled. `NotFound` if there is no such keypair.
fn lock_keypair(
    tx: &mut Tx<'_>,
    client_id: &ClientId,
    now: OffsetDateTime,
) -> StoreResult<(Option<AccountId>, Option<EnvironmentId>, bool)> {
    let updated = diesel::update(keypairs::table.find(client_id.as_str()))
        .set(keypairs::updated_at.eq(to_micros(now)))
        .execute(&mut **tx)?;
    if updated == 0 {
        return Err(StoreError::NotFound("keypair"));
    }
    let (account_id, environment_id, enabled): (Option<String>, Option<String>, bool) =
        keypairs::table
            .find(client_id.as_str())
            .select((
                keypairs::account_id,
                keypairs::environment_id,
                keypairs::enabled,
            ))
            .first(&mut **tx)?;
    Ok((
        account_id.map(AccountId::from_db),
        environment_id.map(EnvironmentId::from_db),
        enabled,
    ))
}

/// The live secrets after clearing the ones that ran out, newest first.
fn live_secrets(
    tx: &mut Tx<'_>,
    client_id: &ClientId,
    now: OffsetDateTime,
) -> StoreResult<Vec<SecretRow>> {
    use keypair_secrets::dsl as s;
    let now = to_micros(now);
    diesel::delete(
        s::keypair_secrets
            .filter(s::client_id.eq(client_id.as_str()))
            .filter(s::expires_at.le(now)),
    )
    .execute(&mut **tx)?;
    Ok(SecretRow::of(tx, client_id)?
        .into_iter()
        .filter(|r| r.live_at(now))
        .collect())
}

fn delete_secret(tx: &mut Tx<'_>, row: &SecretRow) -> StoreResult<()> {
    use keypair_secrets::dsl as s;
    diesel::delete(
        s::keypair_secrets
            .filter(s::client_id.eq(&row.client_id))
            .filter(s::hint.eq(&row.hint)),
    )
    .execute(&mut **tx)?;
    Ok(())
}

/// Keeps `keypairs.secret_hint` the hint of the newest live secret.
fn set_current_hint(tx: &mut Tx<'_>, client_id: &ClientId, hint: &str) -> StoreResult<()> {
    diesel::update(keypairs::table.find(client_id.as_str()))
        .set(keypairs::secret_hint.eq(hint))
        .execute(&mut **tx)?;
    Ok(())
}

impl Keypair {
    /// Rotates the keypair's secret: a new secret, returned this once, and the secrets
    /// live so far keep working for the rotation's overlap. With two secrets live this
    /// is `Conflict`, unless the rotation ends the oldest. Ending a secret before its
    /// chosen expiry (overlap 0, or `end_oldest`), or rotating a disabled keypair,
    /// invalidates the tokens issued so far. Audited as `keypair.secret_rotate`.
    pub fn rotate_secret(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        rotation: &Rotation,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        if rotation.previous_secret_expires_in_seconds > MAX_OVERLAP_SECONDS {
            return Err(StoreError::invalid(
                "previous_secret_expires_in_seconds",
                format!("must be between 0 and {MAX_OVERLAP_SECONDS}"),
            ));
        }
        let (account, environment, enabled) = lock_keypair(tx, client_id, now)?;
        let mut live = live_secrets(tx, client_id, now)?;
        let mut ended_early = false;
        if live.len() >= MAX_LIVE_SECRETS {
            if !rotation.end_oldest {
                return Err(StoreError::Conflict(format!(
                    "{} secrets are live: end one first, or rotate with \"end_oldest\": true",
                    live.len()
                )));
            }
            while live.len() >= MAX_LIVE_SECRETS {
                let oldest = live.pop().ok_or(StoreError::NotFound("secret"))?;
                delete_secret(tx, &oldest)?;
                ended_early = true;
            }
        }
        let overlap = i64::from(rotation.previous_secret_expires_in_seconds);
        let until = to_micros(now + Duration::seconds(overlap));
        for row in &live {
            if overlap == 0 {
                delete_secret(tx, row)?;
                ended_early = true;
            } else if row.expires_at.is_none_or(|e| e > until) {
                use keypair_secrets::dsl as s;
                diesel::update(
                    s::keypair_secrets
                        .filter(s::client_id.eq(&row.client_id))
                        .filter(s::hint.eq(&row.hint)),
                )
                .set(s::expires_at.eq(Some(until)))
                .execute(&mut **tx)?;
            }
        }
        // A hint names one secret of the keypair: draw again on the rare collision.
        let secret = loop {
            let candidate = ClientSecret::generate();
            if !live.iter().any(|r| r.hint == candidate.hint()) {
                break candidate;
            }
        };
        // The new secret is the newest, in the order rotations committed: a rotation
        // that read its `now` before a concurrent one but took the lock after it
        // still lands after it (`end_oldest` and `secret_hint` follow this order).
        let mut row = SecretRow::new(client_id.as_str(), &secret, now);
        if let Some(newest) = live.iter().map(|r| r.created_at).max() {
            row.created_at = row.created_at.max(newest.saturating_add(1));
        }
        diesel::insert_into(keypair_secrets::table)
            .values(row)
            .execute(&mut **tx)?;
        set_current_hint(tx, client_id, &secret.hint())?;
        let invalidated = if ended_early || !enabled {
            Generation::invalidate(tx, client_id, now)?
        } else {
            false
        };
        AuditEntry {
            actor,
            action: AuditAction::KeypairSecretRotate,
            target: client_id.as_str(),
            account_id: account.as_ref(),
            environment_id: environment.as_ref(),
            detail: format!(
                "previous_secret_expires_in_seconds={overlap},end_oldest={},tokens_invalidated={invalidated}",
                rotation.end_oldest
            ),
            now,
        }
        .write(tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        Ok((Keypair::find(tx, client_id)?, secret))
    }

    /// Ends the live secret with this hint at once, and with it the tokens issued so
    /// far. `Conflict` if it is the only live secret. Audited as `keypair.secret_end`.
    pub fn end_secret(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        hint: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let (account, environment, _) = lock_keypair(tx, client_id, now)?;
        let live = live_secrets(tx, client_id, now)?;
        let Some(position) = live.iter().position(|r| r.hint == hint) else {
            return Err(StoreError::NotFound("secret"));
        };
        if live.len() == 1 {
            return Err(StoreError::Conflict(
                "this is the keypair's only live secret: rotate first, or delete the keypair"
                    .into(),
            ));
        }
        delete_secret(tx, &live[position])?;
        if let Some(newest) = live.iter().enumerate().find(|(i, _)| *i != position) {
            set_current_hint(tx, client_id, &newest.1.hint)?;
        }
        let invalidated = Generation::invalidate(tx, client_id, now)?;
        AuditEntry {
            actor,
            action: AuditAction::KeypairSecretEnd,
            target: client_id.as_str(),
            account_id: account.as_ref(),
            environment_id: environment.as_ref(),
            detail: format!("hint={hint},tokens_invalidated={invalidated}"),
            now,
        }
        .write(tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        Ok(())
    }
}

impl crate::Store {
    /// Rotates a keypair's secret ([`Keypair::rotate_secret`]).
    pub fn rotate_secret(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        rotation: Rotation,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        self.write(|tx| Keypair::rotate_secret(tx, actor, client_id, &rotation, now))
    }

    /// Ends one live secret of a keypair at once ([`Keypair::end_secret`]).
    pub fn end_secret(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        hint: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| Keypair::end_secret(tx, actor, client_id, hint, now))
    }
}
