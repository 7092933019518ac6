//! HTTP wiring: one actix-web app with every route of every crate.

use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use admin_api::AdminApi;
use keypair_store::Store;
use resource_guard::{FetchError, Guard, JwksProvider};
use time::OffsetDateTime;
use token_endpoint::{Keys, TokenService};

use crate::commands::CommandError;
use crate::config::Config;

/// Binds, logs where it listens, and serves until stopped (SIGINT/SIGTERM).
pub async fn run(config: Config, store: Store, keys: Arc<Keys>) -> Result<(), CommandError> {
    let tokens = web::Data::new(TokenService::new(
        store.clone(),
        keys.clone(),
        config.catalogue.clone(),
        config.token.clone(),
    ));
    let admin = web::Data::new(AdminApi::new(
        store.clone(),
        config.catalogue.clone(),
        config.token.max_lifetime_seconds,
    ));
    let guard = web::Data::new(admin_guard(&config, keys.clone()));
    let rotations = store.clone();
    let store = web::Data::new(store);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(store.clone())
            .app_data(tokens.clone())
            .app_data(admin.clone())
            .app_data(guard.clone())
            .configure(token_endpoint::http::configure)
            .configure(admin_api::configure)
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .default_service(web::to(not_found))
    })
    .workers(config.server.workers)
    .max_connections(config.server.max_connections_per_worker)
    .client_request_timeout(config.server.client_request_timeout)
    .client_disconnect_timeout(config.server.client_disconnect_timeout)
    .keep_alive(config.server.keep_alive)
    .bind(config.listen)
    .map_err(|e| CommandError::Bind {
        addr: config.listen.to_string(),
        reason: e.to_string(),
    })?;
    for addr in server.addrs() {
        tracing::info!(address = %addr, issuer = %config.issuer, "keygate listening on http://{addr}");
    }
    actix_web::rt::spawn(reload_keys(keys, rotations, config.key.reload_interval));
    server
        .run()
        .await
        .map_err(|e| CommandError::Server(e.to_string()))
}

/// The admin API's guard: the same validation as any resource server, for the issuer's
/// own audience, with keys read from this process instead of over HTTP.
fn admin_guard(config: &Config, keys: Arc<Keys>) -> Guard {
    Guard::builder(&config.issuer, &config.issuer)
        .jwks_provider(Arc::new(LocalJwks(keys)))
        .min_refetch_interval(std::time::Duration::from_secs(1))
        .refresh_interval(Some(config.key.reload_interval))
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

/// Re-reads signing keys every `every`, so a `keygate keys rotate` run elsewhere takes
/// effect without a restart; on PostgreSQL also as soon as a rotation is announced
/// (`Store::signing_key_rotations`, a few times a second at most).
async fn reload_keys(keys: Arc<Keys>, store: Store, every: std::time::Duration) {
    let mut tick = actix_web::rt::time::interval(std::time::Duration::from_millis(200));
    let mut seen = store.signing_key_rotations();
    let mut last = std::time::Instant::now();
    loop {
        tick.tick().await;
        let announced = store.signing_key_rotations();
        if announced == seen && last.elapsed() < every {
            continue;
        }
        (seen, last) = (announced, std::time::Instant::now());
        let keys = keys.clone();
        match web::block(move || keys.reload(OffsetDateTime::now_utc())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot reload signing keys"),
            Err(e) => tracing::warn!(error = %e, "cannot reload signing keys"),
        }
    }
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
