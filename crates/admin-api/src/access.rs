//! Who may see and do what (design: "Admin REST API"). Pure functions: no HTTP, no
//! database. Objects outside the caller's reach are *invisible* (the handler answers
//! 404); visible objects the caller may not change give 403.

use keypair_store::{AccountId, EnvironmentId, Owner};

/// The caller's role, from its keypair as it is in the database now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// An operator keypair (`keygate:operator`, from `keygate bootstrap`): everything.
    Operator,
    /// An account-owned keypair holding `keygate:admin`: the account, its environments
    /// and all their keypairs.
    AccountAdmin(AccountId),
    /// An environment-owned keypair holding `keygate:admin`: that environment's
    /// keypairs (and reading the environment itself).
    EnvironmentAdmin {
        /// The environment's account.
        account_id: AccountId,
        /// The environment.
        environment_id: EnvironmentId,
    },
}

/// How far a caller reaches for some object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Invisible: answer 404.
    None,
    /// Visible, read-only: reads succeed, changes get 403.
    Read,
    /// Full control.
    Manage,
}

impl Role {
    /// Creating accounts.
    pub fn may_create_accounts(&self) -> bool {
        matches!(self, Role::Operator)
    }

    /// An account object and its account-level children (its environment list, its
    /// account-owned keypairs, its audit trail). Closing the account needs `Manage`.
    pub fn account(&self, id: &AccountId) -> Reach {
        match self {
            Role::Operator => Reach::Manage,
            Role::AccountAdmin(a) if a == id => Reach::Read,
            _ => Reach::None,
        }
    }

    /// Account-level children: creating environments and account-owned keypairs,
    /// listing them, reading the audit trail.
    pub fn account_children(&self, id: &AccountId) -> Reach {
        match self {
            Role::Operator => Reach::Manage,
            Role::AccountAdmin(a) if a == id => Reach::Manage,
            _ => Reach::None,
        }
    }

    /// An environment object (closing it needs `Manage`).
    pub fn environment(&self, account: &AccountId, env: &EnvironmentId) -> Reach {
        match self {
            Role::Operator => Reach::Manage,
            Role::AccountAdmin(a) if a == account => Reach::Manage,
            Role::EnvironmentAdmin { environment_id, .. } if environment_id == env => Reach::Read,
            _ => Reach::None,
        }
    }

    /// An environment's keypairs (create, list).
    pub fn environment_keypairs(&self, account: &AccountId, env: &EnvironmentId) -> Reach {
        match self {
            Role::EnvironmentAdmin { environment_id, .. } if environment_id == env => Reach::Manage,
            other => other.environment(account, env),
        }
    }

    /// One keypair, by its owner.
    pub fn keypair(&self, owner: &Owner) -> Reach {
        match (self, owner) {
            (Role::Operator, _) => Reach::Manage,
            (Role::AccountAdmin(a), Owner::Account(o)) if a == o => Reach::Manage,
            (Role::AccountAdmin(a), Owner::Environment { account_id, .. }) if a == account_id => {
                Reach::Manage
            }
            (
                Role::EnvironmentAdmin { environment_id, .. },
                Owner::Environment {
                    environment_id: e, ..
                },
            ) if environment_id == e => Reach::Manage,
            _ => Reach::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_follows_the_design_table() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        let e1 = EnvironmentId::generate();
        let e2 = EnvironmentId::generate();
        let acct_admin = Role::AccountAdmin(a.clone());
        let env_admin = Role::EnvironmentAdmin {
            account_id: a.clone(),
            environment_id: e1.clone(),
        };
        let env_owner = Owner::Environment {
            account_id: a.clone(),
            environment_id: e1.clone(),
        };
        let sibling_owner = Owner::Environment {
            account_id: a.clone(),
            environment_id: e2.clone(),
        };

        assert!(Role::Operator.may_create_accounts() && !acct_admin.may_create_accounts());
        assert_eq!(acct_admin.account(&a), Reach::Read);
        assert_eq!(acct_admin.account(&b), Reach::None);
        assert_eq!(env_admin.account(&a), Reach::None);
        assert_eq!(acct_admin.environment(&a, &e1), Reach::Manage);
        assert_eq!(env_admin.environment(&a, &e1), Reach::Read);
        assert_eq!(env_admin.environment(&a, &e2), Reach::None);
        assert_eq!(env_admin.environment_keypairs(&a, &e1), Reach::Manage);
        assert_eq!(acct_admin.keypair(&env_owner), Reach::Manage);
        assert_eq!(env_admin.keypair(&env_owner), Reach::Manage);
        assert_eq!(env_admin.keypair(&sibling_owner), Reach::None);
        assert_eq!(env_admin.keypair(&Owner::Account(a.clone())), Reach::None);
        assert_eq!(acct_admin.keypair(&Owner::Operator), Reach::None);
        assert_eq!(Role::Operator.keypair(&Owner::Operator), Reach::Manage);
    }
}
