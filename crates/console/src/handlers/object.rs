//! The account or environment a console page is about, as its path names it.

use admin_api::ops::Administered;
use admin_api::{AdminApi, AdminError, Principal};
use keypair_store::{AccountId, EnvironmentId, Owner};

use crate::BASE_PATH;

/// The account or environment a page is about.
#[derive(Clone, Debug)]
pub(super) enum Object {
    Account(AccountId),
    Environment(EnvironmentId),
}

impl Object {
    pub(super) fn parse(kind: &str, id: &str) -> Option<Object> {
        match kind {
            "accounts" => AccountId::parse(id).ok().map(Object::Account),
            "environments" => EnvironmentId::parse(id).ok().map(Object::Environment),
            _ => None,
        }
    }

    pub(super) fn of(owner: &Owner) -> Option<Object> {
        match owner {
            Owner::Operator => None,
            Owner::Account(a) => Some(Object::Account(a.clone())),
            Owner::Environment { environment_id, .. } => {
                Some(Object::Environment(environment_id.clone()))
            }
        }
    }

    /// The owner's page.
    pub(super) fn href(&self) -> String {
        match self {
            Object::Account(a) => format!("{BASE_PATH}/accounts/{}", a.as_str()),
            Object::Environment(e) => format!("{BASE_PATH}/environments/{}", e.as_str()),
        }
    }

    pub(super) fn keys_href(&self) -> String {
        format!("{}/keys", self.href())
    }

    /// The owner's name (404 out of reach).
    pub(super) fn name(&self, admin: &AdminApi, me: &Principal) -> Result<String, AdminError> {
        Ok(match self {
            Object::Account(a) => admin.get_account(me, a)?.name,
            Object::Environment(e) => admin.get_environment(me, e)?.name,
        })
    }

    /// Its `Administrators` page.
    pub(super) fn administrators_href(&self) -> String {
        format!("{}/administrators", self.href())
    }

    /// Its `Audit` page.
    pub(super) fn audit_href(&self) -> String {
        format!("{}/audit", self.href())
    }

    /// As admin-api's administrator operations name it.
    pub(super) fn administered(&self) -> Administered {
        match self {
            Object::Account(a) => Administered::Account(a.clone()),
            Object::Environment(e) => Administered::Environment(e.clone()),
        }
    }
}
