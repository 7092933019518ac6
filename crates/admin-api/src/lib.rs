#![doc = include_str!("../README.md")]

pub mod access;
pub mod auth;
pub mod body;
mod error;
mod handlers;
pub mod ops;
pub mod principal;
pub mod views;

pub use error::AdminError;
pub use principal::{Principal, RoleBinding};

use actix_web::web;

/// The realm of the admin API's `WWW-Authenticate` challenges (the contract's), for
/// its answers and for the guard that protects it.
pub const REALM: &str = "keygate";
use clock::Clock;
use keypair_store::{ScopeCatalogue, Store};

/// How long an invitation to administer something stays valid when nothing else is
/// configured (`users.invite_lifetime_seconds`): 86400 seconds, one day.
pub const DEFAULT_INVITE_LIFETIME_SECONDS: u32 = 86_400;

/// The admin API's state: the store, the issuer, the scope catalogue, the lifetime
/// bounds and the clock that stamps every change.
#[derive(Debug)]
pub struct AdminApi {
    store: Store,
    issuer: String,
    catalogue: ScopeCatalogue,
    max_token_lifetime_seconds: u32,
    invite_lifetime_seconds: u32,
    clock: Clock,
}

impl AdminApi {
    /// Wires the API. Register it with `App::app_data(web::Data::new(api))` together with
    /// a `web::Data<resource_guard::Guard>` for the issuer's own audience. `issuer` is
    /// the issuer URL without a trailing slash, as the token endpoint writes it: a
    /// caller's token must point at a status list under `{issuer}/statuslists/`.
    /// Handlers take `now` from `clock` (`Clock::system()` in production).
    pub fn new(
        store: Store,
        issuer: impl Into<String>,
        catalogue: ScopeCatalogue,
        max_token_lifetime_seconds: u32,
        clock: Clock,
    ) -> AdminApi {
        AdminApi {
            store,
            issuer: issuer.into(),
            catalogue,
            max_token_lifetime_seconds,
            invite_lifetime_seconds: DEFAULT_INVITE_LIFETIME_SECONDS,
            clock,
        }
    }

    /// How long the invitations it makes stay valid (`users.invite_lifetime_seconds`;
    /// default [`DEFAULT_INVITE_LIFETIME_SECONDS`]). At least 1 second.
    pub fn with_invite_lifetime_seconds(mut self, seconds: u32) -> AdminApi {
        self.invite_lifetime_seconds = seconds.max(1);
        self
    }
}

/// Where the OpenAPI document of the routes in [`ROUTES`] is served.
pub const OPENAPI_PATH: &str = "/admin/v1/openapi.json";

pub use handlers::ApiDoc;

/// Declares every route once: the registration and the [`ROUTES`] list that the
/// authorization matrix test must cover come from the same table.
macro_rules! admin_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every admin route as `(method, path pattern)`.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// Registers every route, and the OpenAPI document at
        /// [`OPENAPI_PATH`].
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
            cfg.route(OPENAPI_PATH, web::get().to(handlers::openapi));
        }
    };
}

admin_routes! {
    post "/admin/v1/accounts" => handlers::create_account;
    get "/admin/v1/accounts" => handlers::list_accounts;
    get "/admin/v1/accounts/{account_id}" => handlers::get_account;
    delete "/admin/v1/accounts/{account_id}" => handlers::close_account;
    post "/admin/v1/accounts/{account_id}/environments" => handlers::create_environment;
    get "/admin/v1/accounts/{account_id}/environments" => handlers::list_environments;
    get "/admin/v1/environments/{environment_id}" => handlers::get_environment;
    delete "/admin/v1/environments/{environment_id}" => handlers::close_environment;
    post "/admin/v1/accounts/{account_id}/keypairs" => handlers::create_account_keypair;
    post "/admin/v1/environments/{environment_id}/keypairs" => handlers::create_environment_keypair;
    get "/admin/v1/accounts/{account_id}/keypairs" => handlers::list_account_keypairs;
    get "/admin/v1/environments/{environment_id}/keypairs" => handlers::list_environment_keypairs;
    get "/admin/v1/keypairs/{client_id}" => handlers::get_keypair;
    patch "/admin/v1/keypairs/{client_id}" => handlers::update_keypair;
    delete "/admin/v1/keypairs/{client_id}" => handlers::delete_keypair;
    post "/admin/v1/keypairs/{client_id}/secrets" => handlers::rotate_secret;
    delete "/admin/v1/keypairs/{client_id}/secrets/{secret_hint}" => handlers::end_secret;
    post "/admin/v1/keypairs/{client_id}/revoke-tokens" => handlers::revoke_tokens;
    get "/admin/v1/accounts/{account_id}/audit" => handlers::list_audit;
    get "/admin/v1/environments/{environment_id}/audit" => handlers::list_environment_audit;
    post "/admin/v1/accounts/{account_id}/administrators" => handlers::invite_account_administrator;
    get "/admin/v1/accounts/{account_id}/administrators" => handlers::list_account_administrators;
    delete "/admin/v1/accounts/{account_id}/administrators/{id}" => handlers::remove_account_administrator;
    post "/admin/v1/environments/{environment_id}/administrators" => handlers::invite_environment_administrator;
    get "/admin/v1/environments/{environment_id}/administrators" => handlers::list_environment_administrators;
    delete "/admin/v1/environments/{environment_id}/administrators/{id}" => handlers::remove_environment_administrator;
}
