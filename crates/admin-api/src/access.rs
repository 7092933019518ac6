//! Who may see and do what (design: "Admin REST API"). Pure functions: no HTTP, no
//! database. Objects outside the caller's reach are *invisible* (the handler answers
//! 404); visible objects the caller may not change give 403.
//!
//! Each [`RoleBinding`] reaches some objects; a [`Principal`] reaches, for each object,
//! the most any of its bindings reaches (no bindings: nothing).

use keypair_store::{AccountId, EnvironmentId, Owner};

use crate::principal::{Principal, RoleBinding};

/// Which accounts a caller may read, for listing them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accounts {
    /// Every account.
    All,
    /// These accounts (possibly none).
    Only(Vec<AccountId>),
}

/// How far a caller reaches for some object, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Invisible: answer 404.
    None,
    /// Visible, read-only: reads succeed, changes get 403.
    Read,
    /// Full control.
    Manage,
}

impl RoleBinding {
    /// Creating accounts.
    pub fn may_create_accounts(&self) -> bool {
        matches!(self, RoleBinding::Operator)
    }

    /// Granting `keygate:introspect` (reading any token's claims at `/introspect`): a
    /// create or PATCH body that names it is refused for everyone else.
    pub fn may_grant_introspect(&self) -> bool {
        matches!(self, RoleBinding::Operator)
    }

    /// An account object. Closing the account needs `Manage`.
    pub fn account(&self, id: &AccountId) -> Reach {
        match self {
            RoleBinding::Operator => Reach::Manage,
            RoleBinding::AccountAdmin(a) if a == id => Reach::Read,
            _ => Reach::None,
        }
    }

    /// Account-level children: creating environments and account-owned keypairs,
    /// listing them, reading the audit trail.
    pub fn account_children(&self, id: &AccountId) -> Reach {
        match self {
            RoleBinding::Operator => Reach::Manage,
            RoleBinding::AccountAdmin(a) if a == id => Reach::Manage,
            _ => Reach::None,
        }
    }

    /// An environment object (closing it needs `Manage`).
    pub fn environment(&self, account: &AccountId, env: &EnvironmentId) -> Reach {
        match self {
            RoleBinding::Operator => Reach::Manage,
            RoleBinding::AccountAdmin(a) if a == account => Reach::Manage,
            RoleBinding::EnvironmentAdmin { environment_id, .. } if environment_id == env => {
                Reach::Read
            }
            _ => Reach::None,
        }
    }

    /// An environment's children: its keypairs (create, list), its administrators and
    /// its audit trail.
    pub fn environment_keypairs(&self, account: &AccountId, env: &EnvironmentId) -> Reach {
        match self {
            RoleBinding::EnvironmentAdmin { environment_id, .. } if environment_id == env => {
                Reach::Manage
            }
            other => other.environment(account, env),
        }
    }

    /// The administrators of `owner` (people bound to it, and invitations to it):
    /// inviting, listing, removing and withdrawing. Those of an account are the
    /// account's children ([`RoleBinding::account_children`]), those of an environment
    /// the environment's ([`RoleBinding::environment_keypairs`]), so only a caller who
    /// manages an owner may make someone its administrator: an environment
    /// administrator never reaches its account's administrators. Operators' are the
    /// operators'.
    pub fn administrators(&self, owner: &Owner) -> Reach {
        match owner {
            Owner::Operator => match self {
                RoleBinding::Operator => Reach::Manage,
                _ => Reach::None,
            },
            Owner::Account(a) => self.account_children(a),
            Owner::Environment {
                account_id,
                environment_id,
            } => self.environment_keypairs(account_id, environment_id),
        }
    }

    /// The accounts this binding reaches at least [`Reach::Read`] in
    /// ([`RoleBinding::account`]), for listing accounts.
    pub fn accounts(&self) -> Accounts {
        match self {
            RoleBinding::Operator => Accounts::All,
            RoleBinding::AccountAdmin(a) => Accounts::Only(vec![a.clone()]),
            RoleBinding::EnvironmentAdmin { .. } => Accounts::Only(Vec::new()),
        }
    }

    /// One keypair, by its owner.
    pub fn keypair(&self, owner: &Owner) -> Reach {
        match (self, owner) {
            (RoleBinding::Operator, _) => Reach::Manage,
            (RoleBinding::AccountAdmin(a), Owner::Account(o)) if a == o => Reach::Manage,
            (RoleBinding::AccountAdmin(a), Owner::Environment { account_id, .. })
                if a == account_id =>
            {
                Reach::Manage
            }
            (
                RoleBinding::EnvironmentAdmin { environment_id, .. },
                Owner::Environment {
                    environment_id: e, ..
                },
            ) if environment_id == e => Reach::Manage,
            _ => Reach::None,
        }
    }
}

impl Principal {
    /// The most any binding reaches.
    fn reach(&self, f: impl Fn(&RoleBinding) -> Reach) -> Reach {
        self.bindings().iter().map(f).max().unwrap_or(Reach::None)
    }

    /// Creating accounts.
    pub fn may_create_accounts(&self) -> bool {
        self.bindings().iter().any(RoleBinding::may_create_accounts)
    }

    /// See [`RoleBinding::may_grant_introspect`].
    pub fn may_grant_introspect(&self) -> bool {
        self.bindings()
            .iter()
            .any(RoleBinding::may_grant_introspect)
    }

    /// See [`RoleBinding::account`].
    pub fn account(&self, id: &AccountId) -> Reach {
        self.reach(|b| b.account(id))
    }

    /// See [`RoleBinding::account_children`].
    pub fn account_children(&self, id: &AccountId) -> Reach {
        self.reach(|b| b.account_children(id))
    }

    /// See [`RoleBinding::environment`].
    pub fn environment(&self, account: &AccountId, env: &EnvironmentId) -> Reach {
        self.reach(|b| b.environment(account, env))
    }

    /// See [`RoleBinding::environment_keypairs`].
    pub fn environment_keypairs(&self, account: &AccountId, env: &EnvironmentId) -> Reach {
        self.reach(|b| b.environment_keypairs(account, env))
    }

    /// See [`RoleBinding::keypair`].
    pub fn keypair(&self, owner: &Owner) -> Reach {
        self.reach(|b| b.keypair(owner))
    }

    /// See [`RoleBinding::administrators`].
    pub fn administrators(&self, owner: &Owner) -> Reach {
        self.reach(|b| b.administrators(owner))
    }

    /// The accounts any binding reads ([`RoleBinding::accounts`]), each once.
    pub fn accounts(&self) -> Accounts {
        let mut only: Vec<AccountId> = Vec::new();
        for b in self.bindings() {
            match b.accounts() {
                Accounts::All => return Accounts::All,
                Accounts::Only(ids) => {
                    for id in ids {
                        if !only.contains(&id) {
                            only.push(id);
                        }
                    }
                }
            }
        }
        Accounts::Only(only)
    }
}

#[cfg(test)]
mod tests {
    use keypair_store::Actor;

    use super::*;

    fn principal(bindings: Vec<RoleBinding>) -> Principal {
        Principal::new(Actor::system("test"), bindings)
    }

    fn env_admin(account: &AccountId, env: &EnvironmentId) -> RoleBinding {
        RoleBinding::EnvironmentAdmin {
            account_id: account.clone(),
            environment_id: env.clone(),
        }
    }

    fn env_owner(account: &AccountId, env: &EnvironmentId) -> Owner {
        Owner::Environment {
            account_id: account.clone(),
            environment_id: env.clone(),
        }
    }

    #[test]
    fn reach_follows_the_design_table() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        let e1 = EnvironmentId::generate();
        let e2 = EnvironmentId::generate();
        let operator = principal(vec![RoleBinding::Operator]);
        let acct_admin = principal(vec![RoleBinding::AccountAdmin(a.clone())]);
        let env_admin = principal(vec![env_admin(&a, &e1)]);
        let env_owner_ = env_owner(&a, &e1);
        let sibling_owner = env_owner(&a, &e2);

        assert!(operator.may_create_accounts() && !acct_admin.may_create_accounts());
        assert!(operator.may_grant_introspect());
        assert!(!acct_admin.may_grant_introspect() && !env_admin.may_grant_introspect());
        assert_eq!(acct_admin.account(&a), Reach::Read);
        assert_eq!(acct_admin.account(&b), Reach::None);
        assert_eq!(env_admin.account(&a), Reach::None);
        assert_eq!(acct_admin.environment(&a, &e1), Reach::Manage);
        assert_eq!(env_admin.environment(&a, &e1), Reach::Read);
        assert_eq!(env_admin.environment(&a, &e2), Reach::None);
        assert_eq!(env_admin.environment_keypairs(&a, &e1), Reach::Manage);
        assert_eq!(acct_admin.keypair(&env_owner_), Reach::Manage);
        assert_eq!(env_admin.keypair(&env_owner_), Reach::Manage);
        assert_eq!(env_admin.keypair(&sibling_owner), Reach::None);
        assert_eq!(env_admin.keypair(&Owner::Account(a.clone())), Reach::None);
        assert_eq!(acct_admin.keypair(&Owner::Operator), Reach::None);
        assert_eq!(operator.keypair(&Owner::Operator), Reach::Manage);
    }

    #[test]
    fn a_principal_without_bindings_reaches_nothing() {
        let a = AccountId::generate();
        let e = EnvironmentId::generate();
        let nobody = principal(vec![]);
        assert!(!nobody.may_create_accounts());
        assert!(!nobody.may_grant_introspect());
        assert_eq!(nobody.account(&a), Reach::None);
        assert_eq!(nobody.account_children(&a), Reach::None);
        assert_eq!(nobody.environment(&a, &e), Reach::None);
        assert_eq!(nobody.environment_keypairs(&a, &e), Reach::None);
        assert_eq!(nobody.keypair(&env_owner(&a, &e)), Reach::None);
        assert_eq!(nobody.keypair(&Owner::Operator), Reach::None);
    }

    #[test]
    fn several_environment_bindings_reach_each_of_their_environments_only() {
        let a = AccountId::generate();
        let [e1, e2, e3] = [(); 3].map(|_| EnvironmentId::generate());
        let p = principal(vec![env_admin(&a, &e1), env_admin(&a, &e2)]);

        for e in [&e1, &e2] {
            assert_eq!(p.environment(&a, e), Reach::Read);
            assert_eq!(p.environment_keypairs(&a, e), Reach::Manage);
            assert_eq!(p.keypair(&env_owner(&a, e)), Reach::Manage);
        }
        assert_eq!(p.environment(&a, &e3), Reach::None);
        assert_eq!(p.environment_keypairs(&a, &e3), Reach::None);
        assert_eq!(p.keypair(&env_owner(&a, &e3)), Reach::None);
        // Two environments of an account are not the account.
        assert_eq!(p.account(&a), Reach::None);
        assert_eq!(p.account_children(&a), Reach::None);
        assert_eq!(p.keypair(&Owner::Account(a.clone())), Reach::None);
        assert!(!p.may_create_accounts());
    }

    #[test]
    fn an_account_binding_and_an_environment_binding_elsewhere_reach_both() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        let c = AccountId::generate();
        let a1 = EnvironmentId::generate();
        let b1 = EnvironmentId::generate();
        let b2 = EnvironmentId::generate();
        let c1 = EnvironmentId::generate();
        let p = principal(vec![
            RoleBinding::AccountAdmin(a.clone()),
            env_admin(&b, &b1),
        ]);

        // Everything the account binding gives, in account A.
        assert_eq!(p.account(&a), Reach::Read);
        assert_eq!(p.account_children(&a), Reach::Manage);
        assert_eq!(p.environment(&a, &a1), Reach::Manage);
        assert_eq!(p.keypair(&Owner::Account(a.clone())), Reach::Manage);
        assert_eq!(p.keypair(&env_owner(&a, &a1)), Reach::Manage);
        // Only the one environment in account B.
        assert_eq!(p.account(&b), Reach::None);
        assert_eq!(p.account_children(&b), Reach::None);
        assert_eq!(p.environment(&b, &b1), Reach::Read);
        assert_eq!(p.environment_keypairs(&b, &b1), Reach::Manage);
        assert_eq!(p.keypair(&env_owner(&b, &b1)), Reach::Manage);
        assert_eq!(p.environment(&b, &b2), Reach::None);
        assert_eq!(p.keypair(&env_owner(&b, &b2)), Reach::None);
        assert_eq!(p.keypair(&Owner::Account(b.clone())), Reach::None);
        // Nothing in account C, and still no operator powers.
        assert_eq!(p.account(&c), Reach::None);
        assert_eq!(p.environment(&c, &c1), Reach::None);
        assert_eq!(p.keypair(&Owner::Operator), Reach::None);
        assert!(!p.may_create_accounts());
    }

    #[test]
    fn administrators_are_reached_by_those_who_manage_the_owner() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        let e1 = EnvironmentId::generate();
        let e2 = EnvironmentId::generate();
        let operator = principal(vec![RoleBinding::Operator]);
        let acct_admin = principal(vec![RoleBinding::AccountAdmin(a.clone())]);
        let env_admin = principal(vec![env_admin(&a, &e1)]);
        let account = Owner::Account(a.clone());
        let other_account = Owner::Account(b.clone());
        let e1_owner = env_owner(&a, &e1);
        let e2_owner = env_owner(&a, &e2);

        for p in [&operator, &acct_admin] {
            assert_eq!(p.administrators(&account), Reach::Manage);
            assert_eq!(p.administrators(&e1_owner), Reach::Manage);
            assert_eq!(p.administrators(&e2_owner), Reach::Manage);
        }
        assert_eq!(operator.administrators(&other_account), Reach::Manage);
        assert_eq!(acct_admin.administrators(&other_account), Reach::None);
        // An environment administrator manages its environment's administrators only:
        // never its account's (so it cannot make an account administrator), never a
        // sibling's.
        assert_eq!(env_admin.administrators(&e1_owner), Reach::Manage);
        assert_eq!(env_admin.administrators(&account), Reach::None);
        assert_eq!(env_admin.administrators(&e2_owner), Reach::None);
        // Operators' administrators are the operators'.
        assert_eq!(operator.administrators(&Owner::Operator), Reach::Manage);
        assert_eq!(acct_admin.administrators(&Owner::Operator), Reach::None);
        assert_eq!(env_admin.administrators(&Owner::Operator), Reach::None);
        assert_eq!(principal(vec![]).administrators(&account), Reach::None);
    }

    #[test]
    fn listed_accounts_are_exactly_the_readable_ones() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        let c = AccountId::generate();
        let e = EnvironmentId::generate();
        let bindings = [
            RoleBinding::Operator,
            RoleBinding::AccountAdmin(a.clone()),
            env_admin(&a, &e),
            env_admin(&b, &e),
        ];
        // Every combination of up to two bindings: an account is listed exactly when
        // `account(id) >= Read`.
        let mut sets: Vec<Vec<RoleBinding>> = vec![vec![]];
        for x in &bindings {
            sets.push(vec![x.clone()]);
            for y in &bindings {
                sets.push(vec![x.clone(), y.clone()]);
            }
        }
        for set in sets {
            let p = principal(set.clone());
            for id in [&a, &b, &c] {
                let listed = match p.accounts() {
                    Accounts::All => true,
                    Accounts::Only(ids) => ids.contains(id),
                };
                assert_eq!(listed, p.account(id) >= Reach::Read, "{set:?} {id:?}");
            }
            if let Accounts::Only(ids) = p.accounts() {
                let mut unique = ids.clone();
                unique.sort();
                unique.dedup();
                assert_eq!(unique.len(), ids.len(), "listed once: {set:?}");
            }
        }
        assert_eq!(
            principal(vec![env_admin(&a, &e)]).accounts(),
            Accounts::Only(vec![])
        );
        assert_eq!(
            principal(vec![env_admin(&a, &e), RoleBinding::Operator]).accounts(),
            Accounts::All
        );
    }

    #[test]
    fn the_most_any_binding_gives_wins() {
        let a = AccountId::generate();
        let e = EnvironmentId::generate();
        // An environment binding alone reads the environment; with the account's
        // binding too, the environment may be closed.
        let env_only = principal(vec![env_admin(&a, &e)]);
        let both = principal(vec![
            env_admin(&a, &e),
            RoleBinding::AccountAdmin(a.clone()),
        ]);
        assert_eq!(env_only.environment(&a, &e), Reach::Read);
        assert_eq!(both.environment(&a, &e), Reach::Manage);
        // The order of bindings does not matter.
        let reversed = principal(vec![
            RoleBinding::AccountAdmin(a.clone()),
            env_admin(&a, &e),
        ]);
        assert_eq!(reversed.environment(&a, &e), Reach::Manage);
        // An operator binding next to anything reaches everything.
        let op = principal(vec![env_admin(&a, &e), RoleBinding::Operator]);
        assert!(op.may_create_accounts());
        assert!(op.may_grant_introspect());
        assert_eq!(op.account(&AccountId::generate()), Reach::Manage);
        assert_eq!(op.keypair(&Owner::Operator), Reach::Manage);
    }
}
