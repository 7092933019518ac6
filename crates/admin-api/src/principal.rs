//! Who is calling: a [`Principal`] is an actor (recorded in the audit trail) and the
//! role bindings it holds. [`crate::access`] decides from the bindings alone, so every
//! kind of caller (a keypair with an admin-API token, a person signed in to the
//! console) is checked by the same code.
//!
//! A keypair caller's principal comes from its keypair as it is in the database now and
//! the token it presented: the token's status entry must be the keypair's current
//! VALID generation, and its scopes bound what the keypair's scopes give
//! ([`AdminApi::keypair_principal`]).
//!
//! A person's principal comes from the person and their role bindings as they are in
//! the database at that request ([`AdminApi::user_principal`]): a removed binding or a
//! disabled person counts from the next request, in every process.

use keypair_store::{
    AccountId, Actor, ClientId, EnvironmentId, Keypair, Owner, StoreError, TokenStatus, User,
    UserId, ADMIN_SCOPE, OPERATOR_SCOPE,
};
use resource_guard::{Claims, GuardError, StatusClaim};

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

impl RoleBinding {
    /// The binding that administering `owner` gives: operator for [`Owner::Operator`],
    /// else administrator of that account or environment.
    pub fn of_owner(owner: &Owner) -> RoleBinding {
        match owner {
            Owner::Operator => RoleBinding::Operator,
            Owner::Account(a) => RoleBinding::AccountAdmin(a.clone()),
            Owner::Environment {
                account_id,
                environment_id,
            } => RoleBinding::EnvironmentAdmin {
                account_id: account_id.clone(),
                environment_id: environment_id.clone(),
            },
        }
    }
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
    /// presented: its `status` claim and the scopes it holds (`token_holds(scope)`).
    ///
    /// 401 when the keypair is disabled, or when the token's status entry is not the
    /// keypair's current generation or that generation is not VALID (no `status`
    /// claim, a list URI other than exactly `{issuer}/statuslists/{id}`, another
    /// index, or tokens since revoked, suspended or invalidated by a scope removal).
    /// Then the admin scope of its kind (`keygate:operator` for operator keypairs, else
    /// `keygate:admin`) must be held by both the keypair and the token, else 403.
    pub fn of_keypair(
        keypair: &Keypair,
        issuer: &str,
        status: Option<&StatusClaim>,
        token_holds: impl Fn(&str) -> bool,
    ) -> Result<Principal, AdminError> {
        if !keypair.enabled {
            return Err(gone("keypair disabled"));
        }
        if !names_current_generation(keypair, issuer, status) {
            return Err(gone("token generation is not current"));
        }
        // The admin scope of the keypair's kind, held by both the keypair and the token.
        let needed = match keypair.owner {
            Owner::Operator => OPERATOR_SCOPE,
            Owner::Account(_) | Owner::Environment { .. } => ADMIN_SCOPE,
        };
        if !(token_holds(needed) && keypair.scopes.contains(needed)) {
            return Err(AdminError::Forbidden);
        }
        Ok(Principal::new(
            Actor::keypair(&keypair.client_id),
            vec![RoleBinding::of_owner(&keypair.owner)],
        ))
    }

    /// A person's principal, from the person and the owners they are bound to (as
    /// [`keypair_store::Store::user_bindings`] reads them), acting as `user:usr_…`. A
    /// person with no bindings is a principal that reaches nothing; a disabled person
    /// is refused with 401, like a disabled keypair.
    pub fn of_user(user: &User, bindings: &[Owner]) -> Result<Principal, AdminError> {
        if user.disabled {
            return Err(gone("user disabled"));
        }
        Ok(Principal::new(
            Actor::user(&user.id),
            bindings.iter().map(RoleBinding::of_owner).collect(),
        ))
    }
}

/// Whether `status` (a token's `status.status_list`) names exactly the keypair's current
/// generation, and that generation is VALID: the URI is `{issuer}/statuslists/{id}`
/// with `id` the generation's list (no prefix match, nothing after it) and the index is
/// the generation's.
fn names_current_generation(keypair: &Keypair, issuer: &str, status: Option<&StatusClaim>) -> bool {
    let (Some(claim), Some(current)) = (status, keypair.generation.as_ref()) else {
        return false;
    };
    let list_id = claim
        .uri
        .strip_prefix(issuer)
        .and_then(|rest| rest.strip_prefix("/statuslists/"));
    current.status == TokenStatus::Valid
        && list_id == Some(current.list_id.as_str())
        && claim.idx == u64::from(current.idx)
}

/// 401: the token no longer stands for a usable keypair, or the person is gone or
/// disabled.
fn gone(why: &'static str) -> AdminError {
    AdminError::Unauthorized(GuardError::InvalidToken(why))
}

impl AdminApi {
    /// The principal behind a validated admin-API token: its keypair and current
    /// generation are read from the database (never from the cache `/token` uses), so a
    /// disabled, deleted or demoted administrator's unexpired token, or one whose
    /// tokens were revoked, stops working at once (401 for deleted, disabled or not the
    /// current VALID generation, 403 without an admin scope).
    pub fn keypair_principal(&self, claims: &Claims) -> Result<Principal, AdminError> {
        let client_id =
            ClientId::parse(&claims.client_id).map_err(|_| gone("client id is not a keypair"))?;
        let keypair = match self.store.get_keypair(&client_id) {
            Ok(k) => k,
            Err(StoreError::NotFound(_)) => return Err(gone("keypair deleted")),
            Err(e) => return Err(e.into()),
        };
        Principal::of_keypair(&keypair, &self.issuer, claims.status.as_ref(), |scope| {
            claims.has_scope(scope)
        })
    }

    /// The principal of the person `id`, read from the database on every call (never
    /// cached), so a removed binding narrows, and disabling ends, what their console
    /// session may do from its next request: 401 for a person who does not exist or is
    /// disabled, else a principal with their bindings as they are now (possibly none).
    pub fn user_principal(&self, id: &UserId) -> Result<Principal, AdminError> {
        let user = match self.store.get_user(id) {
            Ok(u) => u,
            Err(StoreError::NotFound(_)) => return Err(gone("no such user")),
            Err(e) => return Err(e.into()),
        };
        self.principal_of(&user)
    }

    /// The principal of a person already read (a console session's): their bindings,
    /// read fresh. A disabled person: `Unauthorized`, as for [`AdminApi::user_principal`].
    pub fn principal_of(&self, user: &User) -> Result<Principal, AdminError> {
        if user.disabled {
            return Err(gone("user disabled"));
        }
        let bindings = self.store.user_bindings(&user.id)?;
        Principal::of_user(user, &bindings)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use keypair_store::{Generation, ScopeSet, StatusListId};
    use time::macros::datetime;

    use super::*;

    const ISSUER: &str = "https://keygate.example";

    fn keypair(owner: Owner, scopes: &str, enabled: bool) -> Keypair {
        Keypair {
            client_id: ClientId::generate(),
            owner,
            scopes: ScopeSet::parse_space_separated(scopes).unwrap(),
            comment: String::new(),
            enabled,
            secret_hint: "kgs_test".into(),
            secrets: Vec::new(),
            expires_at: None,
            allowed_addresses: keypair_store::AddressList::any(),
            token_lifetime_seconds: None,
            created_at: datetime!(2030-01-01 00:00 UTC),
            updated_at: datetime!(2030-01-01 00:00 UTC),
            last_used_at: None,
            generation: Some(Generation {
                list_id: StatusListId::generate(),
                idx: 7,
                status: if enabled {
                    TokenStatus::Valid
                } else {
                    TokenStatus::Suspended
                },
            }),
        }
    }

    /// The claim a token of the keypair's current generation carries.
    fn claim_of(k: &Keypair) -> StatusClaim {
        let g = k.generation.as_ref().unwrap();
        StatusClaim {
            idx: u64::from(g.idx),
            uri: format!("{ISSUER}/statuslists/{}", g.list_id.as_str()),
        }
    }

    /// `of_keypair` for a token of the keypair's current generation.
    fn of(k: &Keypair, holds: impl Fn(&str) -> bool) -> Result<Principal, AdminError> {
        Principal::of_keypair(k, ISSUER, Some(&claim_of(k)), holds)
    }

    fn all(_: &str) -> bool {
        true
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

        let k = keypair(
            Owner::Account(a.clone()),
            "keygate:admin feedback:read",
            true,
        );
        let p = of(&k, all).unwrap();
        assert_eq!(p.bindings(), &[RoleBinding::AccountAdmin(a.clone())]);
        assert_eq!(p.actor(), &Actor::keypair(&k.client_id));

        let k = keypair(env_owner, "keygate:admin", true);
        assert_eq!(
            of(&k, all).unwrap().bindings(),
            &[RoleBinding::EnvironmentAdmin {
                account_id: a.clone(),
                environment_id: e
            }]
        );
        let k = keypair(Owner::Operator, "keygate:operator", true);
        assert_eq!(of(&k, all).unwrap().bindings(), &[RoleBinding::Operator]);
    }

    #[test]
    fn a_keypair_without_a_usable_admin_scope_is_refused() {
        let a = AccountId::generate();
        // Disabled: 401, whatever it holds.
        let k = keypair(Owner::Account(a.clone()), "keygate:admin", false);
        assert_eq!(status(of(&k, all)), 401);
        // Holds no admin scope: 403.
        let k = keypair(Owner::Account(a.clone()), "feedback:read", true);
        assert_eq!(status(of(&k, all)), 403);
        // The keypair holds it, the token does not (a feedback-api token): 403.
        let k = keypair(Owner::Account(a.clone()), "keygate:admin", true);
        assert_eq!(status(of(&k, |s| s == "feedback:read")), 403);
        // The operator scope only counts on an operator keypair, and the other way round.
        let k = keypair(Owner::Account(a), "keygate:operator", true);
        assert_eq!(status(of(&k, all)), 403);
        let k = keypair(Owner::Operator, "keygate:admin", true);
        assert_eq!(status(of(&k, all)), 403);
    }

    fn user(disabled: bool) -> User {
        User {
            id: UserId::generate(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            created_at: datetime!(2030-01-01 00:00 UTC),
            last_sign_in_at: None,
            disabled,
        }
    }

    #[test]
    fn a_person_is_bound_by_each_of_their_owners() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        let e = EnvironmentId::generate();
        let u = user(false);
        let p = Principal::of_user(
            &u,
            &[
                Owner::Account(a.clone()),
                Owner::Environment {
                    account_id: b.clone(),
                    environment_id: e.clone(),
                },
                Owner::Operator,
            ],
        )
        .unwrap();
        assert_eq!(
            p.bindings(),
            &[
                RoleBinding::AccountAdmin(a),
                RoleBinding::EnvironmentAdmin {
                    account_id: b,
                    environment_id: e
                },
                RoleBinding::Operator,
            ]
        );
        assert_eq!(p.actor(), &Actor::User(u.id.clone()));
        assert_eq!(p.actor().recorded(), format!("user:{}", u.id));
    }

    #[test]
    fn a_person_without_bindings_reaches_nothing_and_a_disabled_one_is_refused() {
        let p = Principal::of_user(&user(false), &[]).unwrap();
        assert!(p.bindings().is_empty());
        assert!(!p.may_create_accounts());
        assert_eq!(
            p.account(&AccountId::generate()),
            crate::access::Reach::None
        );
        // Disabled: 401 whatever they hold, like a disabled keypair.
        assert_eq!(status(Principal::of_user(&user(true), &[])), 401);
        assert_eq!(
            status(Principal::of_user(&user(true), &[Owner::Operator])),
            401
        );
    }

    #[test]
    fn a_person_and_a_keypair_with_the_same_owner_hold_the_same_binding() {
        let a = AccountId::generate();
        let e = EnvironmentId::generate();
        for (owner, scope) in [
            (Owner::Operator, "keygate:operator"),
            (Owner::Account(a.clone()), "keygate:admin"),
            (
                Owner::Environment {
                    account_id: a.clone(),
                    environment_id: e.clone(),
                },
                "keygate:admin",
            ),
        ] {
            let k = of(&keypair(owner.clone(), scope, true), all).unwrap();
            let p = Principal::of_user(&user(false), &[owner]).unwrap();
            assert_eq!(k.bindings(), p.bindings());
        }
    }

    #[test]
    fn the_token_must_name_the_current_valid_generation_exactly() {
        let k = keypair(Owner::Operator, "keygate:operator", true);
        let good = claim_of(&k);
        let list = k.generation.as_ref().unwrap().list_id.as_str().to_owned();
        let with = |f: &dyn Fn(&mut StatusClaim)| {
            let mut c = good.clone();
            f(&mut c);
            status(Principal::of_keypair(&k, ISSUER, Some(&c), all))
        };
        assert_eq!(with(&|_| {}), 200);
        assert_eq!(with(&|c| c.idx += 1), 401);
        assert_eq!(with(&|c| c.idx += 1 << 32), 401, "no truncation to u32");
        let other_list = format!("{ISSUER}/statuslists/{}", StatusListId::generate().as_str());
        for uri in [
            other_list.as_str(),
            &format!("https://elsewhere.example/statuslists/{list}"),
            &format!("{ISSUER}/other/statuslists/{list}"),
            &format!("{ISSUER}statuslists/{list}"),
            &format!("{ISSUER}/statuslists/{list}/"),
            &format!("{ISSUER}/statuslists/{list}?x=1"),
            &format!("{ISSUER}/statuslists/{list}#f"),
            &format!("{ISSUER}:443/statuslists/{list}"),
            &format!("{ISSUER}/STATUSLISTS/{list}"),
            &format!("{ISSUER}/statuslists/"),
            &list,
            "",
        ] {
            assert_eq!(with(&|c| c.uri = uri.to_owned()), 401, "{uri}");
        }
        // No status claim at all.
        assert_eq!(status(Principal::of_keypair(&k, ISSUER, None, all)), 401);
        // The keypair has no current generation (its tokens were revoked).
        let revoked = Keypair {
            generation: None,
            ..k.clone()
        };
        assert_eq!(
            status(Principal::of_keypair(&revoked, ISSUER, Some(&good), all)),
            401
        );
        // The generation is suspended while the keypair reads as enabled (a disable
        // and an enable racing): still refused.
        let suspended = Keypair {
            generation: k.generation.clone().map(|g| Generation {
                status: TokenStatus::Suspended,
                ..g
            }),
            ..k.clone()
        };
        assert_eq!(
            status(Principal::of_keypair(&suspended, ISSUER, Some(&good), all)),
            401
        );
        // The status check comes before the scope check: a stale token of a keypair
        // without admin scope is 401, not 403.
        let demoted = Keypair {
            scopes: ScopeSet::parse_space_separated("feedback:read").unwrap(),
            generation: None,
            ..k.clone()
        };
        assert_eq!(
            status(Principal::of_keypair(&demoted, ISSUER, Some(&good), all)),
            401
        );
    }
}
