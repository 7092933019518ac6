//! Who is calling: a [`Principal`] is an actor (recorded in the audit trail) and the
//! role bindings it holds. [`crate::access`] decides from the bindings alone, so every
//! kind of caller (today a keypair with an admin-API token, later a person signed in to
//! the console) is checked by the same code.
//!
//! A keypair caller's principal comes from its keypair as it is in the database now and
//! the token it presented: the token's status entry must be the keypair's current
//! VALID generation, and its scopes bound what the keypair's scopes give
//! ([`AdminApi::keypair_principal`]).

use keypair_store::{
    AccountId, Actor, ClientId, EnvironmentId, Keypair, Owner, StoreError, TokenStatus,
    ADMIN_SCOPE, OPERATOR_SCOPE,
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

/// 401: the token no longer stands for a usable keypair.
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
