//! Resets (`keygate users reset EMAIL`): an operator at the command line ends a
//! person's credentials and sessions and gets a new one-time setup link through which
//! that same person sets new credentials.
//!
//! A reset link is a setup link like an invitation's (an `inv_…` id, a 256-bit code
//! stored only as its SHA-256 digest, the same lifetime, single use), but it grants no
//! role binding and is tied to the person, not to an email, so resets live in their
//! own table (`credential_resets`) rather than among invitations, whose role is always
//! a binding. [`crate::Invitation::find_pending`] and [`crate::Invitation::accept`]
//! look here when a code is not an invitation's.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::{InvitationId, UserId};
use crate::models::credentials;
use crate::models::people::{Acceptor, InvitationCode, PendingInvitation, Session, User};
use crate::schema::credential_resets;
use crate::timestamp::{from_micros, to_micros};
use crate::tx::Tx;
use crate::{Store, StoreError, StoreResult};

/// A reset link, as made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialReset {
    /// Opaque id (`inv_…`, like an invitation's).
    pub id: InvitationId,
    /// The person reset.
    pub user_id: UserId,
    /// The person's email.
    pub email: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// After this it cannot be used.
    pub expires_at: OffsetDateTime,
    /// The recorded actor who reset.
    pub created_by: String,
}

impl CredentialReset {
    /// What the link does, in the place of an invitation's role: `reset`.
    pub fn role(&self) -> &'static str {
        "reset"
    }

    /// Resets the person with `email` (compared case-insensitively): deletes their
    /// password (and any other credential) and every session, withdraws their earlier
    /// pending reset links, and makes a new one valid for `lifetime`. One transaction;
    /// audited as `user.reset`. Returns it with its code, the only time the code
    /// exists outside the link. An unknown email: `NotFound`. A disabled person stays
    /// disabled, and can use the link only once enabled.
    pub fn create(
        tx: &mut Tx<'_>,
        actor: &Actor,
        email: &str,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<(CredentialReset, InvitationCode)> {
        if lifetime <= Duration::ZERO {
            return Err(StoreError::invalid("lifetime", "must be positive"));
        }
        let user = User::find_by_email(tx, email)?;
        let ended_credentials = credentials::delete_all(tx, &user.id)?;
        let ended_sessions = Session::delete_all(tx, &user.id)?;
        diesel::update(
            credential_resets::table
                .filter(credential_resets::user_id.eq(user.id.as_str()))
                .filter(credential_resets::used_at.is_null())
                .filter(credential_resets::withdrawn_at.is_null()),
        )
        .set(credential_resets::withdrawn_at.eq(Some(to_micros(now))))
        .execute(&mut **tx)?;
        let code = InvitationCode::generate();
        let reset = CredentialReset {
            id: InvitationId::generate(),
            user_id: user.id.clone(),
            email: user.email.clone(),
            created_at: now,
            expires_at: now + lifetime,
            created_by: actor.recorded(),
        };
        diesel::insert_into(credential_resets::table)
            .values((
                credential_resets::reset_id.eq(reset.id.as_str()),
                credential_resets::user_id.eq(user.id.as_str()),
                credential_resets::code_digest.eq(code.digest()),
                credential_resets::created_at.eq(to_micros(now)),
                credential_resets::expires_at.eq(to_micros(reset.expires_at)),
                credential_resets::created_by.eq(&reset.created_by),
            ))
            .execute(&mut **tx)?;
        AuditEntry {
            actor,
            action: AuditAction::UserReset,
            target: user.id.as_str(),
            account_id: None,
            environment_id: None,
            detail: format!(
                "setup_link={},credentials_ended={ended_credentials},sessions_ended={ended_sessions}",
                reset.id
            ),
            now,
        }
        .write(tx)?;
        Ok((reset, code))
    }

    /// The reset link with this code if it is still pending at `now` (not used, not
    /// withdrawn, not expired), as a [`PendingInvitation`] that grants nothing and sets
    /// credentials. Does not use it up.
    pub(crate) fn find_pending(
        conn: &mut DbConnection,
        code: &InvitationCode,
        now: OffsetDateTime,
    ) -> StoreResult<Option<PendingInvitation>> {
        let found: Option<(String, String, i64)> = credential_resets::table
            .filter(credential_resets::code_digest.eq(code.digest()))
            .filter(credential_resets::used_at.is_null())
            .filter(credential_resets::withdrawn_at.is_null())
            .filter(credential_resets::expires_at.gt(to_micros(now)))
            .select((
                credential_resets::reset_id,
                credential_resets::user_id,
                credential_resets::expires_at,
            ))
            .first(conn)
            .optional()?;
        let Some((id, user_id, expires_at)) = found else {
            return Ok(None);
        };
        let user = User::find(conn, &UserId::from_db(user_id))?;
        Ok(Some(PendingInvitation {
            id: InvitationId::from_db(id),
            email: user.email,
            expires_at: from_micros(expires_at),
            grants: None,
            existing_user: Some(user.id),
            sets_credentials: true,
        }))
    }

    /// Uses the reset link with this code at `now`: sets the acceptor's new credential
    /// on the person it was made for, and grants no binding. The link is used up in
    /// the same `UPDATE` that checks it is pending (so at most once); a refusal below
    /// rolls that back. `Ok(None)`: no pending reset link has this code. Only
    /// [`Acceptor::NewUser`] (credentials set through the link) can use it; a disabled
    /// person cannot.
    pub(crate) fn accept(
        tx: &mut Tx<'_>,
        code: &InvitationCode,
        acceptor: &Acceptor,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let won = diesel::update(
            credential_resets::table
                .filter(credential_resets::code_digest.eq(code.digest()))
                .filter(credential_resets::used_at.is_null())
                .filter(credential_resets::withdrawn_at.is_null())
                .filter(credential_resets::expires_at.gt(to_micros(now))),
        )
        .set(credential_resets::used_at.eq(Some(to_micros(now))))
        .execute(&mut **tx)?;
        if won == 0 {
            return Ok(None);
        }
        let (id, user_id): (String, String) = credential_resets::table
            .filter(credential_resets::code_digest.eq(code.digest()))
            .select((credential_resets::reset_id, credential_resets::user_id))
            .first(&mut **tx)?;
        let Acceptor::NewUser { credential, .. } = acceptor else {
            return Err(StoreError::Conflict(
                "a reset link sets new credentials: open it signed out".into(),
            ));
        };
        let user = User::find(tx, &UserId::from_db(user_id))?;
        if user.disabled {
            return Err(StoreError::Conflict("user disabled".into()));
        }
        credential.store(tx, &user.id, now)?;
        AuditEntry {
            actor: &Actor::User(user.id.clone()),
            action: AuditAction::InvitationAccept,
            target: &id,
            account_id: None,
            environment_id: None,
            detail: "role=reset".into(),
            now,
        }
        .write(tx)?;
        Ok(Some(user))
    }
}

impl Store {
    /// Resets a person's credentials and sessions and makes a new setup link for them
    /// ([`CredentialReset::create`]).
    pub fn reset_user(
        &self,
        actor: &Actor,
        email: &str,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<(CredentialReset, InvitationCode)> {
        self.write(|tx| CredentialReset::create(tx, actor, email, lifetime, now))
    }
}
