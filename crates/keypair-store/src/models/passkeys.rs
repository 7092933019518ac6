//! Passkeys (WebAuthn credentials) and their ceremonies, as stored. The store does not
//! speak WebAuthn: it keeps what the console's WebAuthn library hands it (a passkey's
//! public key and counter, a ceremony's challenge, both as JSON) and gives it back,
//! under the rules that make the ceremonies safe:
//!
//! - a ceremony is found by the digest of its id, and answered at most once (taking
//!   it deletes it), before it expires;
//! - at most `PoolSettings::max_passkey_ceremonies` of each purpose wait at once,
//!   so starting ceremonies cannot fill the database, and a flood of one purpose
//!   leaves the others alone;
//! - a sign-in makes its session in the transaction that finds the passkey still the
//!   person's and the person not disabled.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::UserId;
use crate::models::credentials::{self, SignInError, SignInRefusal};
use crate::models::people::{Session, SessionId, User};
use crate::random_secret::CeremonyId;
use crate::schema::{passkey_ceremonies, passkey_credentials, users};
use crate::timestamp::to_micros;
use crate::tx::Tx;
use crate::{Store, StoreError, StoreResult};

/// The default bound on ceremonies waiting for an answer at once, across every
/// process. Past it, new ones are refused as [`StoreError::Unavailable`] until some
/// expire.
pub const DEFAULT_MAX_PASSKEY_CEREMONIES: u32 = 10_000;

/// Longest credential id WebAuthn allows, in bytes.
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;

/// A passkey to store: what the WebAuthn library made of a registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPasskey {
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// The WebAuthn user handle the person's passkeys share.
    pub user_handle: String,
    /// The library's passkey (public key, counter), as JSON.
    pub passkey: String,
}

/// A stored passkey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPasskey {
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// Whose it is.
    pub user_id: UserId,
    /// The WebAuthn user handle the person's passkeys share.
    pub user_handle: String,
    /// The library's passkey, as JSON.
    pub passkey: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// The last sign-in with it.
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a ceremony is for: a challenge answered for one purpose is never accepted
/// for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyPurpose {
    /// Registering a passkey through a setup link (a new or reset person).
    Register,
    /// A signed-in person adding a passkey.
    AddPasskey,
    /// Signing in with a passkey.
    SignIn,
}

impl CeremonyPurpose {
    fn as_str(self) -> &'static str {
        match self {
            CeremonyPurpose::Register => "register",
            CeremonyPurpose::AddPasskey => "add_passkey",
            CeremonyPurpose::SignIn => "sign_in",
        }
    }
}

/// A ceremony taken for its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ceremony {
    /// The library's ceremony state, as JSON.
    pub state: String,
    /// For a registration: the user handle the new passkey gets.
    pub user_handle: Option<String>,
}

impl NewPasskey {
    /// Stores the passkey for `user`. A credential id already stored (for anyone) is
    /// a conflict: one authenticator credential belongs to one person.
    pub(crate) fn store(
        &self,
        tx: &mut Tx<'_>,
        user: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        if self.credential_id.is_empty() || self.credential_id.len() > MAX_CREDENTIAL_ID_BYTES {
            return Err(StoreError::invalid(
                "credential_id",
                "must be 1 to 1023 bytes",
            ));
        }
        let taken = passkey_credentials::table
            .find(&self.credential_id)
            .count()
            .get_result::<i64>(&mut **tx)?;
        if taken > 0 {
            return Err(StoreError::Conflict("passkey already registered".into()));
        }
        diesel::insert_into(passkey_credentials::table)
            .values((
                passkey_credentials::credential_id.eq(&self.credential_id),
                passkey_credentials::user_id.eq(user.as_str()),
                passkey_credentials::user_handle.eq(&self.user_handle),
                passkey_credentials::passkey.eq(&self.passkey),
                passkey_credentials::created_at.eq(to_micros(now)),
            ))
            .execute(&mut **tx)?;
        Ok(())
    }
}

/// Deletes every passkey of a person; returns how many there were.
pub(crate) fn delete_all(tx: &mut Tx<'_>, user: &UserId) -> StoreResult<usize> {
    Ok(diesel::delete(
        passkey_credentials::table.filter(passkey_credentials::user_id.eq(user.as_str())),
    )
    .execute(&mut **tx)?)
}

type PasskeyRow = (Vec<u8>, String, String, String, i64, Option<i64>);

fn stored(
    (credential_id, user_id, user_handle, passkey, created, used): PasskeyRow,
) -> StoredPasskey {
    StoredPasskey {
        credential_id,
        user_id: UserId::from_db(user_id),
        user_handle,
        passkey,
        created_at: crate::timestamp::from_micros(created),
        last_used_at: used.map(crate::timestamp::from_micros),
    }
}

const PASSKEY_COLUMNS: (
    passkey_credentials::credential_id,
    passkey_credentials::user_id,
    passkey_credentials::user_handle,
    passkey_credentials::passkey,
    passkey_credentials::created_at,
    passkey_credentials::last_used_at,
) = (
    passkey_credentials::credential_id,
    passkey_credentials::user_id,
    passkey_credentials::user_handle,
    passkey_credentials::passkey,
    passkey_credentials::created_at,
    passkey_credentials::last_used_at,
);

/// The passkeys with this user handle (a discoverable sign-in names the handle).
fn by_handle(conn: &mut DbConnection, handle: &str) -> StoreResult<Vec<StoredPasskey>> {
    let rows: Vec<PasskeyRow> = passkey_credentials::table
        .filter(passkey_credentials::user_handle.eq(handle))
        .order(passkey_credentials::created_at)
        .select(PASSKEY_COLUMNS)
        .load(conn)?;
    Ok(rows.into_iter().map(stored).collect())
}

fn audit(
    tx: &mut Tx<'_>,
    user: &UserId,
    action: AuditAction,
    now: OffsetDateTime,
) -> StoreResult<()> {
    AuditEntry {
        actor: &Actor::User(user.clone()),
        action,
        target: user.as_str(),
        account_id: None,
        environment_id: None,
        detail: String::new(),
        now,
    }
    .write(tx)?;
    Ok(())
}

impl Store {
    /// Adds a passkey to a signed-in person's credentials (audited as
    /// `passkey.register`, by the person). A disabled or unknown person: `NotFound`.
    pub fn add_passkey(
        &self,
        user: &UserId,
        passkey: &NewPasskey,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| {
            if User::find(tx, user)?.disabled {
                return Err(StoreError::NotFound("user"));
            }
            passkey.store(tx, user, now)?;
            audit(tx, user, AuditAction::PasskeyRegister, now)
        })
    }

    /// Removes one of a person's passkeys (audited as `passkey.remove`). Not theirs:
    /// `NotFound`. Their only way left to sign in (no password, no other passkey):
    /// `Conflict`, and nothing changes; a reset is the way to start over.
    pub fn remove_passkey(
        &self,
        user: &UserId,
        credential_id: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| {
            // The person's row lock first (PostgreSQL; SQLite's write lock already
            // serialises writers): two removals at once cannot each see the other's
            // passkey still there and leave the person with none.
            diesel::update(users::table.find(user.as_str()))
                .set(users::disabled.eq(users::disabled))
                .execute(&mut **tx)?;
            let deleted = diesel::delete(
                passkey_credentials::table
                    .filter(passkey_credentials::credential_id.eq(credential_id))
                    .filter(passkey_credentials::user_id.eq(user.as_str())),
            )
            .execute(&mut **tx)?;
            if deleted == 0 {
                return Err(StoreError::NotFound("passkey"));
            }
            if credentials::count(tx, user)? == 0 {
                // Rolled back with the transaction.
                return Err(StoreError::Conflict("the person's last credential".into()));
            }
            audit(tx, user, AuditAction::PasskeyRemove, now)
        })
    }

    /// Begins a ceremony: stores its state, to be answered within `lifetime`, and
    /// returns its id, the only time it exists outside the cookie. Expired ceremonies
    /// are deleted first; with the store's bound of this purpose already waiting,
    /// `Unavailable`.
    pub fn begin_ceremony(
        &self,
        purpose: CeremonyPurpose,
        state: &str,
        user_handle: Option<&str>,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<CeremonyId> {
        let id = CeremonyId::generate();
        let now_us = to_micros(now);
        self.write(|tx| {
            diesel::delete(
                passkey_ceremonies::table.filter(passkey_ceremonies::expires_at.le(now_us)),
            )
            .execute(&mut **tx)?;
            // Each purpose has its own bound: a flood of sign-in starts cannot keep
            // new people from registering, nor the other way round.
            let waiting = passkey_ceremonies::table
                .filter(passkey_ceremonies::purpose.eq(purpose.as_str()))
                .count()
                .get_result::<i64>(&mut **tx)?;
            if waiting >= self.max_passkey_ceremonies {
                return Err(StoreError::Unavailable(
                    "too many passkey ceremonies in progress".into(),
                ));
            }
            diesel::insert_into(passkey_ceremonies::table)
                .values((
                    passkey_ceremonies::id_digest.eq(id.digest()),
                    passkey_ceremonies::purpose.eq(purpose.as_str()),
                    passkey_ceremonies::state.eq(state),
                    passkey_ceremonies::user_handle.eq(user_handle),
                    passkey_ceremonies::expires_at.eq(to_micros(now + lifetime)),
                ))
                .execute(&mut **tx)?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Takes the ceremony with this id for its answer: deletes it and returns its
    /// state, if it exists, is for `purpose` and has not expired at `now`. Taken once:
    /// a second answer finds nothing.
    pub fn take_ceremony(
        &self,
        id: &CeremonyId,
        purpose: CeremonyPurpose,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Ceremony>> {
        let digest = id.digest();
        self.write(|tx| {
            let found: Option<(String, String, Option<String>, i64)> = passkey_ceremonies::table
                .find(&digest)
                .select((
                    passkey_ceremonies::purpose,
                    passkey_ceremonies::state,
                    passkey_ceremonies::user_handle,
                    passkey_ceremonies::expires_at,
                ))
                .first(&mut **tx)
                .optional()?;
            let Some((stored_purpose, state, user_handle, expires_at)) = found else {
                return Ok(None);
            };
            let deleted =
                diesel::delete(passkey_ceremonies::table.find(&digest)).execute(&mut **tx)?;
            // Another process took it between the read and the delete.
            let live =
                deleted == 1 && stored_purpose == purpose.as_str() && expires_at > to_micros(now);
            Ok(live.then_some(Ceremony { state, user_handle }))
        })
    }

    /// The passkeys with this WebAuthn user handle, oldest first.
    pub fn passkeys_by_handle(&self, handle: &str) -> StoreResult<Vec<StoredPasskey>> {
        self.read(|c| by_handle(c, handle))
    }

    /// A person's passkeys, oldest first.
    pub fn passkeys_of(&self, user: &UserId) -> StoreResult<Vec<StoredPasskey>> {
        self.read(|c| {
            let rows: Vec<PasskeyRow> = passkey_credentials::table
                .filter(passkey_credentials::user_id.eq(user.as_str()))
                .order(passkey_credentials::created_at)
                .select(PASSKEY_COLUMNS)
                .load(c)?;
            Ok(rows.into_iter().map(stored).collect())
        })
    }

    /// Completes a passkey sign-in that the WebAuthn library verified against
    /// `verified`: stores the passkey's updated state (its counter) and makes a new
    /// session, in one transaction that finds the passkey still the same person's and
    /// that person not disabled. A passkey deleted since it was read (a reset):
    /// `NoPassword`'s passkey twin, reported as `UnknownCredential`.
    pub fn sign_in_with_passkey(
        &self,
        verified: &StoredPasskey,
        updated_passkey: &str,
        now: OffsetDateTime,
    ) -> Result<(User, SessionId), SignInError> {
        let outcome = self.write(|tx| {
            // A disabled person is refused before anything is written. (The person
            // cannot be deleted, only disabled; a reset deletes the passkey, which the
            // update below finds.)
            let user = match User::find(tx, &verified.user_id) {
                Ok(u) if u.disabled => return Ok(Err(SignInRefusal::Disabled)),
                Ok(u) => u,
                Err(StoreError::NotFound(_)) => return Ok(Err(SignInRefusal::UnknownCredential)),
                Err(e) => return Err(e),
            };
            // Only if the passkey is still as it was read: a concurrent sign-in with
            // it (or a reset) since then refuses this one, so a counter never goes
            // back.
            let still = diesel::update(
                passkey_credentials::table
                    .filter(passkey_credentials::credential_id.eq(&verified.credential_id))
                    .filter(passkey_credentials::user_id.eq(verified.user_id.as_str()))
                    .filter(passkey_credentials::passkey.eq(&verified.passkey)),
            )
            .set((
                passkey_credentials::passkey.eq(updated_passkey),
                passkey_credentials::last_used_at.eq(Some(to_micros(now))),
            ))
            .execute(&mut **tx)?;
            if still == 0 {
                return Ok(Err(SignInRefusal::UnknownCredential));
            }
            match Session::create(tx, &user.id, now) {
                Ok(session) => Ok(Ok((user, session))),
                Err(StoreError::Conflict(_)) => Ok(Err(SignInRefusal::Disabled)),
                Err(e) => Err(e),
            }
        })?;
        outcome.map_err(SignInError::Refused)
    }
}
