//! The administrators of an account or an environment: inviting people, listing the
//! people bound and the invitations pending, removing a binding, withdrawing an
//! invitation. Reach is [`Principal::administrators`] of the owner, so only a caller
//! who manages an owner may make someone its administrator.

use std::fmt;

use keypair_store::{
    AccountId, Administrator, EnvironmentId, Invitation, InvitationCode, InvitationId, Owner,
    UserId,
};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::require;
use crate::access::Reach;
use crate::principal::Principal;
use crate::{AdminApi, AdminError};

/// `POST .../administrators`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    /// Whom to invite: an email address (at most 254 characters), a label compared
    /// case-insensitively, never proof of identity.
    pub email: String,
}

/// Whose administrators: an account's or an environment's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Administered {
    /// The account's (account administrators).
    Account(AccountId),
    /// The environment's (environment administrators).
    Environment(EnvironmentId),
}

/// The last segment of `DELETE .../administrators/{id}`: a person (`usr_…`, whose
/// binding is removed) or a pending invitation (`inv_…`, withdrawn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdministratorId {
    /// A person bound to the owner.
    User(UserId),
    /// A pending invitation to the owner.
    Invitation(InvitationId),
}

impl AdministratorId {
    /// Parses a path segment: 400 (`field: "id"`) unless it is a well-formed user or
    /// invitation id.
    pub fn parse(s: &str) -> Result<AdministratorId, AdminError> {
        if let Ok(u) = UserId::parse(s) {
            return Ok(AdministratorId::User(u));
        }
        if let Ok(i) = InvitationId::parse(s) {
            return Ok(AdministratorId::Invitation(i));
        }
        Err(AdminError::bad(
            "id",
            "must be a user id (usr_…) or an invitation id (inv_…)",
        ))
    }
}

/// A new invitation and its one-time setup link, `{issuer}/console/setup/{code}`: the
/// only time the link exists (keygate keeps a digest of the code). `Debug` never
/// prints the link.
#[derive(Clone)]
pub struct CreatedInvitation {
    /// The invitation (pending).
    pub invitation: Invitation,
    setup_url: String,
}

impl CreatedInvitation {
    /// The setup link, to hand to the person invited.
    pub fn setup_url(&self) -> &str {
        &self.setup_url
    }
}

impl fmt::Debug for CreatedInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedInvitation")
            .field("invitation", &self.invitation)
            .field("setup_url", &"***")
            .finish()
    }
}

/// One entry of an administrators listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdministratorEntry {
    /// A person bound to the owner.
    User(Administrator),
    /// An invitation to the owner still pending.
    Invitation(Invitation),
}

impl AdminApi {
    /// The owner whose administrators `target` names, if the caller reaches them as
    /// far as `need` (404 for an owner that does not exist or is out of reach, 403 for
    /// one seen but not managed).
    fn administered(
        &self,
        caller: &Principal,
        target: &Administered,
        need: Reach,
    ) -> Result<Owner, AdminError> {
        let owner = match target {
            Administered::Account(a) => {
                require(caller.administrators(&Owner::Account(a.clone())), need)?;
                self.store.get_account(a)?;
                Owner::Account(a.clone())
            }
            Administered::Environment(e) => {
                let env = self.store.get_environment(e)?;
                let owner = Owner::Environment {
                    account_id: env.account_id,
                    environment_id: env.id,
                };
                require(caller.administrators(&owner), need)?;
                owner
            }
        };
        Ok(owner)
    }

    /// `POST .../administrators`: a pending invitation for `email` to administer the
    /// target, valid for `users.invite_lifetime_seconds`, and its setup link. The same
    /// answer whether or not the email already has a user: the invitation grants
    /// nothing until accepted through the link, by a new person setting credentials or
    /// by the existing person signed in.
    pub fn invite_administrator(
        &self,
        caller: &Principal,
        target: &Administered,
        input: InviteInput,
        now: OffsetDateTime,
    ) -> Result<CreatedInvitation, AdminError> {
        let owner = self.administered(caller, target, Reach::Manage)?;
        let lifetime = Duration::seconds(i64::from(self.invite_lifetime_seconds));
        let (invitation, code) =
            self.store
                .invite(caller.actor(), &input.email, &owner, lifetime, now)?;
        Ok(CreatedInvitation {
            setup_url: self.setup_url(&code),
            invitation,
        })
    }

    /// `{issuer}/console/setup/{code}`.
    fn setup_url(&self, code: &InvitationCode) -> String {
        format!("{}/console/setup/{}", self.issuer, code.expose())
    }

    /// `GET .../administrators`: the people bound to the target (oldest binding first),
    /// then the invitations to it still pending at `now` (newest first). Never a code
    /// or a link.
    pub fn list_administrators(
        &self,
        caller: &Principal,
        target: &Administered,
        now: OffsetDateTime,
    ) -> Result<Vec<AdministratorEntry>, AdminError> {
        let owner = self.administered(caller, target, Reach::Read)?;
        let people = self.store.list_administrators(&owner)?;
        let pending = self.store.list_pending_invitations(&owner, now)?;
        Ok(people
            .into_iter()
            .map(AdministratorEntry::User)
            .chain(pending.into_iter().map(AdministratorEntry::Invitation))
            .collect())
    }

    /// `DELETE .../administrators/{id}`: removes that person's binding to the target
    /// (their sessions lose its reach from their next request), or withdraws that
    /// pending invitation to it. 404 for a person not bound to it, or an invitation to
    /// another owner or no longer pending.
    pub fn remove_administrator(
        &self,
        caller: &Principal,
        target: &Administered,
        id: &AdministratorId,
        now: OffsetDateTime,
    ) -> Result<(), AdminError> {
        let owner = self.administered(caller, target, Reach::Manage)?;
        match id {
            AdministratorId::User(u) => {
                self.store.remove_binding(caller.actor(), u, &owner, now)?
            }
            AdministratorId::Invitation(i) => {
                self.store
                    .withdraw_invitation(caller.actor(), &owner, i, now)?
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn administrator_ids_are_users_or_invitations() {
        let u = UserId::generate();
        let i = InvitationId::generate();
        assert_eq!(
            AdministratorId::parse(u.as_str()).unwrap(),
            AdministratorId::User(u)
        );
        assert_eq!(
            AdministratorId::parse(i.as_str()).unwrap(),
            AdministratorId::Invitation(i)
        );
        for bad in [
            "",
            "usr_",
            "inv_0123",
            "kg_0123456789abcdef0123456789abcdef",
            "acct_0123456789abcdef0123456789abcdef",
            "usr_0123456789ABCDEF0123456789abcdef",
        ] {
            let e = AdministratorId::parse(bad).unwrap_err();
            assert!(
                matches!(&e, AdminError::BadRequest { field, .. } if field == "id"),
                "{bad:?}: {e:?}"
            );
        }
    }
}
