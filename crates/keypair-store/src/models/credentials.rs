//! People's credentials: a password (an Argon2id PHC string, `crate::password`) and
//! any number of passkeys (`crate::models::passkeys`). Credentials are set only through a setup link (accepting an
//! invitation as a new person, or a reset link), and checked at sign-in.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::db::DbConnection;
use crate::ids::UserId;
use crate::models::passkeys::{self, NewPasskey};
use crate::models::people::{Session, SessionId, User};
use crate::password::{Password, PasswordHash};
use crate::schema::{passkey_credentials, password_credentials};
use crate::timestamp::to_micros;
use crate::tx::Tx;
use crate::{Store, StoreError, StoreResult};

/// A credential set through a setup link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewCredential {
    /// A password, hashed by [`Store::hash_password`].
    Password(PasswordHash),
    /// A passkey, registered through the WebAuthn ceremony.
    Passkey(NewPasskey),
}

impl NewCredential {
    /// Stores the credential for `user`, replacing a password the person had.
    pub(crate) fn store(
        &self,
        tx: &mut Tx<'_>,
        user: &UserId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        match self {
            NewCredential::Password(hash) => {
                diesel::delete(password_credentials::table.find(user.as_str()))
                    .execute(&mut **tx)?;
                diesel::insert_into(password_credentials::table)
                    .values((
                        password_credentials::user_id.eq(user.as_str()),
                        password_credentials::phc.eq(hash.phc()),
                        password_credentials::created_at.eq(to_micros(now)),
                    ))
                    .execute(&mut **tx)?;
            }
            NewCredential::Passkey(passkey) => passkey.store(tx, user, now)?,
        }
        Ok(())
    }
}

/// Deletes every credential of a person (a reset). Returns how many there were.
pub(crate) fn delete_all(tx: &mut Tx<'_>, user: &UserId) -> StoreResult<usize> {
    let passwords =
        diesel::delete(password_credentials::table.find(user.as_str())).execute(&mut **tx)?;
    Ok(passwords + passkeys::delete_all(tx, user)?)
}

/// How many credentials a person has: a password counts one, each passkey one.
pub(crate) fn count(conn: &mut DbConnection, user: &UserId) -> StoreResult<i64> {
    let passwords: i64 = password_credentials::table
        .filter(password_credentials::user_id.eq(user.as_str()))
        .count()
        .get_result(conn)?;
    let passkeys: i64 = passkey_credentials::table
        .filter(passkey_credentials::user_id.eq(user.as_str()))
        .count()
        .get_result(conn)?;
    Ok(passwords + passkeys)
}

/// Why a password sign-in was refused. Reasons are for logs and audit; a person is
/// told only that the email or password is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInRefusal {
    /// No person has this email.
    UnknownEmail,
    /// The password is not the person's.
    WrongPassword,
    /// The person has no password (never set, or ended by a reset).
    NoPassword,
    /// The password (or passkey) is right but the person is disabled.
    Disabled,
    /// The passkey is not (or no longer) registered to anyone.
    UnknownCredential,
    /// The passkey's answer did not verify (wrong signature, challenge, origin, a
    /// counter gone backwards, or a malformed answer).
    PasskeyNotVerified,
}

impl SignInRefusal {
    /// The reason code: `unknown_email`, `wrong_password`, `no_password`, `disabled`,
    /// `unknown_credential`, `passkey_not_verified`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInRefusal::UnknownEmail => "unknown_email",
            SignInRefusal::WrongPassword => "wrong_password",
            SignInRefusal::NoPassword => "no_password",
            SignInRefusal::Disabled => "disabled",
            SignInRefusal::UnknownCredential => "unknown_credential",
            SignInRefusal::PasskeyNotVerified => "passkey_not_verified",
        }
    }
}

/// Why [`Store::check_password`] did not return a person.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The attempt was checked and refused.
    #[error("sign-in refused: {}", .0.as_str())]
    Refused(SignInRefusal),
    /// It could not be checked: the database failed, or password hashing stayed at
    /// its concurrency bound ([`StoreError::Unavailable`], a 503).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Hashes a password with Argon2id and a fresh salt, in one of the store's
    /// bounded hashing turns ([`crate::PasswordHashing`]): when every turn stays taken
    /// for `max_wait`, [`StoreError::Unavailable`].
    #[tracing::instrument(skip_all)]
    pub fn hash_password(&self, password: &Password) -> StoreResult<PasswordHash> {
        self.hashing.hash(password)
    }

    /// Checks a sign-in: the person with `email` (compared case-insensitively) and
    /// `password`. Every attempt runs one Argon2id verification, in a bounded turn: an
    /// unknown email, and a person without a password, are checked against a dummy
    /// hash with the same parameters, so they cost what a wrong password costs. A
    /// disabled person is refused as `Disabled` only when the password is right
    /// (otherwise `WrongPassword`). On success records `now` as the password's last
    /// use and returns the person.
    #[tracing::instrument(skip_all)]
    pub fn check_password(
        &self,
        email: &str,
        password: &Password,
        now: OffsetDateTime,
    ) -> Result<User, SignInError> {
        self.check_password_then(email, password, now, |_, _| Ok(()))
            .map(|(user, ())| user)
    }

    /// [`Store::check_password`], then a new session for the person, in the same
    /// transaction that finds the checked password still theirs: a reset or a disable
    /// that lands while the hash is verified leaves no session behind (`NoPassword`,
    /// `Disabled`).
    #[tracing::instrument(skip_all)]
    pub fn sign_in_with_password(
        &self,
        email: &str,
        password: &Password,
        now: OffsetDateTime,
    ) -> Result<(User, SessionId), SignInError> {
        let (user, session) = self.check_password_then(email, password, now, |tx, user| {
            match Session::create(tx, &user.id, now) {
                Err(StoreError::Conflict(_)) => Ok(None),
                other => other.map(Some),
            }
        })?;
        match session {
            Some(id) => Ok((user, id)),
            None => Err(SignInError::Refused(SignInRefusal::Disabled)),
        }
    }

    /// The check, then `then` in the transaction that confirms the checked hash is
    /// still the stored one (the hash itself is verified outside any transaction).
    fn check_password_then<T>(
        &self,
        email: &str,
        password: &Password,
        now: OffsetDateTime,
        then: impl Fn(&mut Tx<'_>, &User) -> StoreResult<T>,
    ) -> Result<(User, T), SignInError> {
        let found = self.read(|c| {
            let user = match User::find_by_email(c, email) {
                Ok(u) => u,
                // Not an email at all: no person can have it.
                Err(StoreError::NotFound(_) | StoreError::Invalid { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let phc = password_credentials::table
                .find(user.id.as_str())
                .select(password_credentials::phc)
                .first::<String>(c)
                .optional()?;
            Ok(Some((user, phc)))
        })?;
        let phc = found.as_ref().and_then(|(_, p)| p.as_deref());
        let matches = self.hashing.verify(password, phc)?;
        let refused = |r| Err(SignInError::Refused(r));
        match found {
            None => refused(SignInRefusal::UnknownEmail),
            Some((_, None)) => refused(SignInRefusal::NoPassword),
            Some(_) if !matches => refused(SignInRefusal::WrongPassword),
            Some((user, _)) if user.disabled => refused(SignInRefusal::Disabled),
            Some((user, Some(phc))) => {
                // Only if the password checked is still the person's: a reset since
                // the read ended it.
                let outcome = self.write(|tx| {
                    let still = diesel::update(
                        password_credentials::table
                            .filter(password_credentials::user_id.eq(user.id.as_str()))
                            .filter(password_credentials::phc.eq(&phc)),
                    )
                    .set(password_credentials::last_used_at.eq(Some(to_micros(now))))
                    .execute(&mut **tx)?;
                    if still == 0 {
                        return Ok(None);
                    }
                    then(tx, &user).map(Some)
                })?;
                match outcome {
                    Some(t) => Ok((user, t)),
                    None => refused(SignInRefusal::NoPassword),
                }
            }
        }
    }

    /// Whether a person has a password.
    pub fn has_password(&self, user: &UserId) -> StoreResult<bool> {
        self.read(|c| {
            Ok(password_credentials::table
                .find(user.as_str())
                .count()
                .get_result::<i64>(c)?
                > 0)
        })
    }

    /// Holds one hashing turn until the permit is dropped (tests of the bound).
    #[cfg(feature = "test-helpers")]
    pub fn hold_password_hash_turn(&self) -> StoreResult<crate::password::HashPermit> {
        self.hashing.acquire()
    }

    /// Callers waiting for a hashing turn right now (tests of the bound).
    #[cfg(feature = "test-helpers")]
    pub fn password_hash_waiters(&self) -> usize {
        self.hashing.waiting()
    }
}
