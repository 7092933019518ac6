//! The actix extractor for the caller: a valid admin-API bearer token (checked by
//! `resource-guard`, like any resource server), turned into a [`Principal`] by
//! [`AdminApi::keypair_principal`].

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::principal::Principal;
use crate::{AdminApi, AdminError};

/// The principal behind the request's bearer token.
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

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
            let principal = web::block(move || api.keypair_principal(&claims))
                .await
                .map_err(|_| AdminError::Internal)??;
            Ok(Caller(principal))
        })
    }
}
