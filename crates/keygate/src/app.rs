//! The app factory: every route of every crate, with the services they need.

use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpResponse};
use admin_api::AdminApi;
use clock::Clock;
use keypair_store::Store;
use resource_guard::{FetchError, Guard, JwksProvider};
use token_endpoint::{Keys, TokenService};

use crate::config::Config;

/// One keygate process's services, built once from the validated config; [`Keygate::app`]
/// makes the actix-web app that serves them (once per server worker). Cheap to clone.
#[derive(Clone)]
pub struct Keygate {
    store: web::Data<Store>,
    tokens: web::Data<TokenService>,
    admin: web::Data<AdminApi>,
    guard: web::Data<Guard>,
    clock: Clock,
}

impl std::fmt::Debug for Keygate {
    /// The services hold the store, whose URL may carry a password: nothing is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keygate").finish_non_exhaustive()
    }
}

impl Keygate {
    /// Wires the token endpoint, and the admin API behind a guard that reads this
    /// process's keys, from `config`. Every service takes the time from `clock`.
    pub fn new(config: &Config, store: Store, keys: Arc<Keys>, clock: Clock) -> Keygate {
        let tokens = TokenService::new(
            store.clone(),
            keys.clone(),
            config.catalogue.clone(),
            config.token.clone(),
            clock.clone(),
        );
        let admin = AdminApi::new(
            store.clone(),
            config.issuer.clone(),
            config.catalogue.clone(),
            config.token.max_lifetime_seconds,
            clock.clone(),
        )
        .with_invite_lifetime_seconds(
            u32::try_from(config.users.invite_lifetime.whole_seconds()).unwrap_or(u32::MAX),
        );
        Keygate {
            store: web::Data::new(store),
            tokens: web::Data::new(tokens),
            admin: web::Data::new(admin),
            guard: web::Data::new(admin_guard(config, keys, &clock)),
            clock,
        }
    }

    /// The whole app: `/token` and the other public endpoints, `/admin/v1`, `/healthz`,
    /// `/readyz`, and a JSON 404 for every other route.
    pub fn app(
        &self,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        App::new()
            .app_data(self.store.clone())
            .app_data(self.tokens.clone())
            .app_data(self.admin.clone())
            .app_data(self.guard.clone())
            .configure(token_endpoint::http::configure)
            .configure(admin_api::configure)
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .default_service(web::to(not_found))
    }

    /// The token endpoint's service (for tests that call it directly).
    pub fn tokens(&self) -> &web::Data<TokenService> {
        &self.tokens
    }

    /// The signing keys the token endpoint signs with and the admin guard trusts.
    pub fn keys(&self) -> &Arc<Keys> {
        self.tokens.keys()
    }

    /// The admin API's guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The store every service reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock every service takes the time from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }
}

/// The admin API's guard: the same validation as any resource server, for the issuer's
/// own audience, with keys read from this process instead of over HTTP. Without status
/// lists: the admin API checks its caller against the database on every call (design,
/// "Token status": it checks status in process), which is fresher than any list.
fn admin_guard(config: &Config, keys: Arc<Keys>, clock: &Clock) -> Guard {
    Guard::builder(&config.issuer, &config.issuer)
        .clock(clock.clone())
        .jwks_provider(Arc::new(LocalJwks(keys)))
        .min_refetch_interval(std::time::Duration::from_secs(1))
        .refresh_interval(Some(config.key.reload_interval))
        .status_checks(false)
        .realm(admin_api::REALM)
        .build()
}

/// This process's published keys, as a JWKS provider.
#[derive(Debug)]
struct LocalJwks(Arc<Keys>);

impl JwksProvider for LocalJwks {
    fn fetch(&self) -> Result<String, FetchError> {
        Ok(self.0.ring().jwks.clone())
    }
}

/// Unknown routes: a JSON 404.
async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .json(serde_json::json!({"error": "not_found", "message": "no such route"}))
}

/// `GET /healthz`: the process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers.
async fn readyz(store: web::Data<Store>) -> HttpResponse {
    let store = store.into_inner();
    let ready = matches!(web::block(move || store.ping()).await, Ok(Ok(())));
    if ready {
        HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
    } else {
        tracing::warn!("readiness check failed: database unreachable");
        HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
    }
}
