//! The app factory: every route of every crate, with the services they need.

use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpResponse};
use admin_api::AdminApi;
use clock::Clock;
use console::Console;
use keypair_store::Store;
use resource_guard::{FetchError, Guard, JwksProvider};
use telemetry::{encode_counter, encode_gauge, Collector, Metrics, ProcessCollector};
use token_endpoint::{Keys, TokenService};

use crate::config::{Config, MetricsListen};

/// One keygate process's services, built once from the validated config; [`Keygate::app`]
/// makes the actix-web app that serves them (once per server worker). Cheap to clone.
#[derive(Clone)]
pub struct Keygate {
    store: web::Data<Store>,
    tokens: web::Data<TokenService>,
    admin: web::Data<AdminApi>,
    console: web::Data<Console>,
    guard: web::Data<Guard>,
    metrics: web::Data<Metrics>,
    /// `/metrics` on the main listener (`metrics.listen = "main"`).
    metrics_on_main: bool,
    clock: Clock,
}

impl std::fmt::Debug for Keygate {
    /// The services hold the store, whose URL may carry a password: nothing is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keygate").finish_non_exhaustive()
    }
}

impl Keygate {
    /// Wires the token endpoint, the admin API behind a guard that reads this process's
    /// keys, and the console over the same admin API, from `config`. Every service
    /// takes the time from `clock`.
    pub fn new(config: &Config, store: Store, keys: Arc<Keys>, clock: Clock) -> Keygate {
        let tokens = TokenService::new(
            store.clone(),
            keys.clone(),
            config.catalogue.clone(),
            config.token.clone(),
            clock.clone(),
        );
        let metrics = match config.metrics {
            MetricsListen::Off => Metrics::off(),
            MetricsListen::Main | MetricsListen::Own(_) => Metrics::new(vec![
                Box::new(ServerCollector {
                    store: store.clone(),
                    status_lists: tokens.status_lists().clone(),
                }),
                Box::new(ProcessCollector::new(clock.system_time())),
            ]),
        };
        let tokens = tokens.with_metrics(metrics.clone());
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
        let admin = web::Data::new(admin);
        let console = Console::new(
            store.clone(),
            admin.clone(),
            config.console.clone(),
            clock.clone(),
        )
        .with_metrics(metrics.clone());
        Keygate {
            store: web::Data::new(store),
            tokens: web::Data::new(tokens),
            admin,
            console: web::Data::new(console),
            guard: web::Data::new(admin_guard(config, keys, &clock)),
            metrics: web::Data::new(metrics),
            metrics_on_main: config.metrics == MetricsListen::Main,
            clock,
        }
    }

    /// The whole app: `/token` and the other public endpoints, `/admin/v1`, `/console`,
    /// `/healthz`, `/readyz`, and a JSON 404 for every other route.
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
        let metrics = self.metrics.clone();
        let clock = self.clock.clone();
        App::new()
            .wrap_fn(move |req, srv| {
                let timing = metrics.is_on().then(|| (metrics.clone(), clock.instant()));
                let answered = srv.call(req);
                async move {
                    let res = answered.await?;
                    if let Some((metrics, started)) = timing {
                        count_request(&metrics, &res, started.elapsed().as_secs_f64());
                    }
                    Ok(res)
                }
            })
            .app_data(self.store.clone())
            .app_data(self.tokens.clone())
            .app_data(self.admin.clone())
            .app_data(self.guard.clone())
            .app_data(self.console.clone())
            .configure(token_endpoint::http::configure)
            .configure(admin_api::configure)
            .configure(console::configure)
            .configure(|cfg| {
                if self.metrics_on_main {
                    cfg.route("/metrics", web::get().to(metrics_text));
                }
            })
            .app_data(self.metrics.clone())
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

    /// The metrics (off when `metrics.listen = "off"`).
    pub fn metrics(&self) -> &web::Data<Metrics> {
        &self.metrics
    }
}

/// Counts an answered request under its route template: `unmatched` for a path no
/// route knows, so labels stay bounded whatever paths clients send.
fn count_request(metrics: &Metrics, res: &ServiceResponse<BoxBody>, seconds: f64) {
    let route = res.request().match_pattern();
    let route = route.as_deref().unwrap_or("unmatched");
    metrics.http_request(route, res.status().as_u16(), seconds);
}

/// `GET /metrics`: the OpenMetrics text (404 when metrics are off).
pub async fn metrics_text(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.encode() {
        Some(text) => HttpResponse::Ok()
            .content_type(Metrics::CONTENT_TYPE)
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .body(text),
        None => not_found().await,
    }
}

/// What the store and the status lists count themselves, read at every scrape.
#[derive(Debug)]
struct ServerCollector {
    store: Store,
    status_lists: Arc<token_endpoint::StatusLists>,
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: telemetry::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.store.stats();
        let e = &mut encoder;
        encode_counter(
            e,
            "keygate_keypair_cache_hits",
            "Keypair lookups answered from memory",
            s.cache_hits,
        )?;
        encode_counter(
            e,
            "keygate_keypair_cache_misses",
            "Keypair lookups that read the database",
            s.cache_misses,
        )?;
        encode_counter(
            e,
            "keygate_status_list_builds",
            "Status lists built and signed by this process",
            self.status_lists.builds(),
        )?;
        encode_gauge(
            e,
            "keygate_db_pool_connections",
            "Database connections open in the pool",
            i64::from(s.connections),
        )?;
        encode_gauge(
            e,
            "keygate_db_pool_idle_connections",
            "Open database connections not in use",
            i64::from(s.idle_connections),
        )
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
