//! The HTTP server: the factory's app on every worker, the signing-key reloader and the
//! status list refresher.

use std::sync::Arc;

use actix_web::{web, HttpServer};
use clock::Clock;
use keypair_store::Store;
use token_endpoint::{Keys, StatusLists};

use crate::commands::CommandError;
use crate::config::{Config, MetricsListen};
use crate::Keygate;

/// Binds, logs where it listens, and serves until stopped: the first SIGTERM or SIGINT
/// stops accepting and lets requests in flight finish (within
/// `server.shutdown_timeout_seconds`); then the workers stop, the background tasks are
/// dropped with the runtime, and `run` returns. A second signal exits at once.
pub async fn run(
    config: Config,
    store: Store,
    keys: Arc<Keys>,
    clock: Clock,
) -> Result<(), CommandError> {
    let keygate = Keygate::new(&config, store.clone(), keys.clone(), clock.clone());
    let status_lists = keygate.tokens().status_lists().clone();
    let metrics_server = match config.metrics {
        MetricsListen::Own(addr) => Some(metrics_server(keygate.metrics().clone(), addr)?),
        MetricsListen::Main | MetricsListen::Off => None,
    };
    let server = HttpServer::new(move || keygate.app())
        .workers(config.server.workers)
        .max_connections(config.server.max_connections_per_worker)
        .client_request_timeout(config.server.client_request_timeout)
        .client_disconnect_timeout(config.server.client_disconnect_timeout)
        .keep_alive(config.server.keep_alive)
        .shutdown_timeout(config.server.shutdown_timeout.as_secs())
        .disable_signals()
        .bind(config.listen)
        .map_err(|e| CommandError::Bind {
            addr: config.listen.to_string(),
            reason: e.to_string(),
        })?;
    for addr in server.addrs() {
        tracing::info!(address = %addr, issuer = %config.issuer, "keygate listening on http://{addr}");
    }
    actix_web::rt::spawn(reload_keys(
        keys,
        store,
        config.key.reload_interval,
        clock.clone(),
    ));
    actix_web::rt::spawn(refresh_status_lists(status_lists, clock));
    // Listening for the signals starts before the server does (the task spawned below
    // only waits on them): actix's own handlers are off.
    let signals = listen_for_signals();
    let server = server.run();
    let mut handles = vec![server.handle()];
    if let Some(m) = metrics_server {
        handles.push(m.handle());
        actix_web::rt::spawn(m);
    }
    actix_web::rt::spawn(stop_on_signals(signals, handles.clone()));
    server
        .await
        .map_err(|e| CommandError::Server(e.to_string()))?;
    for h in &handles[1..] {
        h.stop(true).await;
    }
    tracing::info!("keygate stopped");
    Ok(())
}

/// `/metrics` alone, on its own listener (one worker, no signal handling of its own).
fn metrics_server(
    metrics: web::Data<telemetry::Metrics>,
    addr: std::net::SocketAddr,
) -> Result<actix_web::dev::Server, CommandError> {
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(crate::app::metrics_text))
    })
    .workers(1)
    // A scraper's keep-alive connection must not hold the process past the main
    // server's own shutdown.
    .shutdown_timeout(1)
    .disable_signals()
    .bind(addr)
    .map_err(|e| CommandError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    for addr in server.addrs() {
        tracing::info!(address = %addr, "metrics listening on http://{addr}/metrics");
    }
    Ok(server.run())
}

/// The first SIGTERM or SIGINT: a graceful stop of the main server (and then of the
/// metrics listener). The second: exit at once, with status 128 + the signal's number
/// (as a shell reports a process killed by it).
async fn stop_on_signals(signals: Option<Signals>, servers: Vec<actix_web::dev::ServerHandle>) {
    let Some((mut term, mut int)) = signals else {
        tracing::error!("cannot listen for SIGTERM and SIGINT; stop keygate with SIGKILL");
        return;
    };
    let (first, _) = next_signal(&mut term, &mut int).await;
    tracing::info!(
        signal = first,
        "stopping: no new connections; requests in flight may finish"
    );
    if let Some(main) = servers.first() {
        actix_web::rt::spawn(main.stop(true));
    }
    let (second, number) = next_signal(&mut term, &mut int).await;
    tracing::warn!(signal = second, "second signal: exiting at once");
    std::process::exit(128 + number);
}

type Signals = (
    actix_web::rt::signal::unix::Signal,
    actix_web::rt::signal::unix::Signal,
);

/// Starts listening for SIGTERM and SIGINT (from now on they no longer kill the
/// process by default).
fn listen_for_signals() -> Option<Signals> {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    Some((
        signal(SignalKind::terminate()).ok()?,
        signal(SignalKind::interrupt()).ok()?,
    ))
}

/// The next SIGTERM or SIGINT: its name and number.
async fn next_signal(
    term: &mut actix_web::rt::signal::unix::Signal,
    int: &mut actix_web::rt::signal::unix::Signal,
) -> (&'static str, i32) {
    use futures_util::future::{select, Either};
    let (t, i) = (term.recv(), int.recv());
    futures_util::pin_mut!(t, i);
    match select(t, i).await {
        Either::Left(_) => ("SIGTERM", 15),
        Either::Right(_) => ("SIGINT", 2),
    }
}

/// Re-reads signing keys every `every`, so a `keygate keys rotate` run elsewhere takes
/// effect without a restart; on PostgreSQL also as soon as a rotation is announced
/// (`Store::signing_key_rotations`, a few times a second at most).
async fn reload_keys(keys: Arc<Keys>, store: Store, every: std::time::Duration, clock: Clock) {
    let mut tick = actix_web::rt::time::interval(std::time::Duration::from_millis(200));
    let mut seen = store.signing_key_rotations();
    let mut last = clock.instant();
    loop {
        tick.tick().await;
        let announced = store.signing_key_rotations();
        if announced == seen && clock.instant().duration_since(last) < every {
            continue;
        }
        (seen, last) = (announced, clock.instant());
        let keys = keys.clone();
        let now = clock.now();
        match web::block(move || keys.reload(now)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot reload signing keys"),
            Err(e) => tracing::warn!(error = %e, "cannot reload signing keys"),
        }
    }
}

/// Keeps the served status lists fresh (`StatusLists::refresh`: the status version read
/// at least every `ttl` and at once when a change is announced, changed lists rebuilt at
/// most once a second, lists re-signed before their `exp` comes close and when the
/// signing key changes). Looks every 100 ms whether anything is due; the database work
/// runs on the blocking pool.
async fn refresh_status_lists(lists: Arc<StatusLists>, clock: Clock) {
    let mut tick = actix_web::rt::time::interval(std::time::Duration::from_millis(100));
    loop {
        tick.tick().await;
        let now = clock.now();
        if !lists.refresh_due(now) {
            continue;
        }
        let lists = lists.clone();
        match web::block(move || lists.refresh(now)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot refresh the status lists"),
            Err(e) => tracing::warn!(error = %e, "cannot refresh the status lists"),
        }
    }
}
