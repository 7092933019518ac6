//! Who is calling: a [`Principal`] is an actor (recorded in the audit trail) and the
//! role bindings it holds. [`crate::access`] decides from the bindings alone, so every
//! kind of caller (today a keypair with an admin-API token, later a person signed in to
//! the console) is checked by the same code.
//!
//! A keypair caller's principal comes from its keypair as it is in the database now and
//! the scopes of the token it presented ([`AdminApi::keypair_principal`]).

use keypair_store::{
    AccountId, Actor, ClientId, EnvironmentId, Keypair, Owner, StoreError, ADMIN_SCOPE,
    OPERATOR_SCOPE,
};
use resource_guard::{Claims, GuardError};

use crate::{AdminApi, AdminError};

/// One role on one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleBinding {
    /// Operator: everything.
    Operator,
    /// Administrator of an account: the account (read), its environments and all
    /// their keypairs.
    AccountAdmin(AccountId),
    /// Administrator of an environment: that environment's keypairs (and reading the
    /// environment itself).
    EnvironmentAdmin {
        /// The environment's account.
        account_id: AccountId,
        /// The environment.
        environment_id: EnvironmentId,
    },
}

/// An authenticated caller: who it is, and what it is bound to. With several bindings
/// it reaches what any of them reaches (see [`crate::access`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    actor: Actor,
    bindings: Vec<RoleBinding>,
}

impl Principal {
    /// A principal acting as `actor` with `bindings`.
    pub fn new(actor: Actor, bindings: Vec<RoleBinding>) -> Principal {
        Principal { actor, bindings }
    }

    /// The actor recorded in audit records.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The role bindings.
    pub fn bindings(&self) -> &[RoleBinding] {
        &self.bindings
    }

    /// A keypair caller's principal, from its keypair as it is now and the token it
    /// presented (`token_holds(scope)`): a disabled keypair is refused with 401; the
    /// admin scope of its kind (`keygate:operator` for operator keypairs, else
    /// `keygate:admin`) must be held by both the keypair and the token, else 403.
    pub fn of_keypair(
        keypair: &Keypair,
        token_holds: impl Fn(&str) -> bool,
    ) -> Result<Principal, AdminError> {
        if !keypair.enabled {
            return Err(gone("keypair disabled"));
        }
        let holds = |scope: &str| token_holds(scope) && keypair.scopes.contains(scope);
        let binding = match &keypair.owner {
            Owner::Operator if holds(OPERATOR_SCOPE) => RoleBinding::Operator,
            Owner::Account(a) if holds(ADMIN_SCOPE) => RoleBinding::AccountAdmin(a.clone()),
            Owner::Environment {
                account_id,
                environment_id,
            } if holds(ADMIN_SCOPE) => RoleBinding::EnvironmentAdmin {
                account_id: account_id.clone(),
                environment_id: environment_id.clone(),
            },
            _ => return Err(AdminError::Forbidden),
        };
        Ok(Principal::new(
            Actor::keypair(&keypair.client_id),
            vec![binding],
        ))
    }
}

/// 401: the token no longer stands for a usable keypair.
fn gone(why: &'static str) -> AdminError {
    AdminError::Unauthorized(GuardError::InvalidToken(why))
}

impl AdminApi {
    /// The principal behind a validated admin-API token: its keypair is re-read from
    /// the database, so a disabled, deleted or demoted administrator's unexpired token
    /// stops working at once (401 for deleted or disabled, 403 without an admin scope).
    pub fn keypair_principal(&self, claims: &Claims) -> Result<Principal, AdminError> {
        let client_id =
            ClientId::parse(&claims.client_id).map_err(|_| gone("client id is not a keypair"))?;
        let keypair = match self.store.get_keypair(&client_id) {
            Ok(k) => k,
            Err(StoreError::NotFound(_)) => return Err(gone("keypair deleted")),
            Err(e) => return Err(e.into()),
        };
        Principal::of_keypair(&keypair, |scope| claims.has_scope(scope))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use keypair_store::ScopeSet;
    use time::macros::datetime;

    use super::*;

    fn keypair(owner: Owner, scopes: &str, enabled: bool) -> Keypair {
        Keypair {
            client_id: ClientId::generate(),
            owner,
            scopes: ScopeSet::parse_space_separated(scopes).unwrap(),
            comment: String::new(),
            enabled,
            secret_hint: "kgs_test".into(),
            token_lifetime_seconds: None,
            created_at: datetime!(2030-01-01 00:00 UTC),
            updated_at: datetime!(2030-01-01 00:00 UTC),
            last_used_at: None,
            generation: None,
        }
    }

    fn status(r: Result<Principal, AdminError>) -> u16 {
        use actix_web::ResponseError as _;
        match r {
            Ok(_) => 200,
            Err(e) => e.status_code().as_u16(),
        }
    }

    #[test]
    fn a_keypair_is_bound_by_its_owner_and_admin_scope() {
        let a = AccountId::generate();
        let e = EnvironmentId::generate();
        let env_owner = Owner::Environment {
            account_id: a.clone(),
            environment_id: e.clone(),
        };
        let all = |_: &str| true;

        let k = keypair(
            Owner::Account(a.clone()),
            "keygate:admin feedback:read",
            true,
        );
        let p = Principal::of_keypair(&k, all).unwrap();
        assert_eq!(p.bindings(), &[RoleBinding::AccountAdmin(a.clone())]);
        assert_eq!(p.actor(), &Actor::keypair(&k.client_id));

        let k = keypair(env_owner, "keygate:admin", true);
        assert_eq!(
            Principal::of_keypair(&k, all).unwrap().bindings(),
            &[RoleBinding::EnvironmentAdmin {
                account_id: a.clone(),
                environment_id: e
            }]
        );
        let k = keypair(Owner::Operator, "keygate:operator", true);
        assert_eq!(
            Principal::of_keypair(&k, all).unwrap().bindings(),
            &[RoleBinding::Operator]
        );
    }

    #[test]
    fn a_keypair_without_a_usable_admin_scope_is_refused() {
        let a = AccountId::generate();
        let all = |_: &str| true;
        // Disabled: 401, whatever it holds.
        let k = keypair(Owner::Account(a.clone()), "keygate:admin", false);
        assert_eq!(status(Principal::of_keypair(&k, all)), 401);
        // Demoted since the token was issued: 403.
        let k = keypair(Owner::Account(a.clone()), "feedback:read", true);
        assert_eq!(status(Principal::of_keypair(&k, all)), 403);
        // The keypair holds it, the token does not (a feedback-api token): 403.
        let k = keypair(Owner::Account(a.clone()), "keygate:admin", true);
        assert_eq!(
            status(Principal::of_keypair(&k, |s| s == "feedback:read")),
            403
        );
        // The operator scope only counts on an operator keypair, and the other way round.
        let k = keypair(Owner::Account(a), "keygate:operator", true);
        assert_eq!(status(Principal::of_keypair(&k, all)), 403);
        let k = keypair(Owner::Operator, "keygate:admin", true);
        assert_eq!(status(Principal::of_keypair(&k, all)), 403);
    }
}
