//! The caller: a valid admin-API token (checked by `resource-guard`, like any resource
//! server), whose keypair is re-read from the database on every request so that a
//! disabled, deleted or demoted administrator's unexpired token stops working at once.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use keypair_store::{Actor, ClientId, Owner, StoreError, ADMIN_SCOPE, OPERATOR_SCOPE};
use resource_guard::{Claims, GuardError};

use crate::access::Role;
use crate::{AdminApi, AdminError};

/// An authenticated administrator.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The calling keypair.
    pub client_id: ClientId,
    /// What it may do.
    pub role: Role,
}

impl Caller {
    /// The actor recorded in audit records.
    pub fn actor(&self) -> Actor {
        Actor::keypair(&self.client_id)
    }
}

impl AdminApi {
    /// Turns validated claims into a caller, from the keypair as it is now.
    pub fn resolve_caller(&self, claims: &Claims) -> Result<Caller, AdminError> {
        let gone = |why| AdminError::Unauthorized(GuardError::InvalidToken(why));
        let client_id =
            ClientId::parse(&claims.client_id).map_err(|_| gone("client id is not a keypair"))?;
        let keypair = match self.store.get_keypair(&client_id) {
            Ok(k) => k,
            Err(StoreError::NotFound(_)) => return Err(gone("keypair deleted")),
            Err(e) => return Err(e.into()),
        };
        if !keypair.enabled {
            return Err(gone("keypair disabled"));
        }
        let holds = |scope: &str| claims.has_scope(scope) && keypair.scopes.contains(scope);
        let role = match &keypair.owner {
            Owner::Operator if holds(OPERATOR_SCOPE) => Role::Operator,
            Owner::Account(a) if holds(ADMIN_SCOPE) => Role::AccountAdmin(a.clone()),
            Owner::Environment {
                account_id,
                environment_id,
            } if holds(ADMIN_SCOPE) => Role::EnvironmentAdmin {
                account_id: account_id.clone(),
                environment_id: environment_id.clone(),
            },
            _ => return Err(AdminError::Forbidden),
        };
        Ok(Caller { client_id, role })
    }
}

impl FromRequest for Caller {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let claims = resource_guard::actix::authenticate(&req)
                .await
                .map_err(|r| AdminError::Unauthorized(r.error))?;
            let api = req
                .app_data::<web::Data<AdminApi>>()
                .cloned()
                .ok_or(AdminError::Internal)?;
            web::block(move || api.resolve_caller(&claims))
                .await
                .map_err(|_| AdminError::Internal)?
        })
    }
}
