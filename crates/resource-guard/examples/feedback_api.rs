//! The example Feedback API: a resource server that accepts keygate access tokens.
//! Copy it to protect your own routes.
//!
//! ```text
//! cargo run -p resource-guard --example feedback_api
//! ```
//!
//! | environment variable    | meaning                                   | default                 |
//! |-------------------------|-------------------------------------------|-------------------------|
//! | `FEEDBACK_API_LISTEN`   | address to listen on                      | `127.0.0.1:9000`        |
//! | `KEYGATE_ISSUER`        | keygate's issuer URL (the tokens' `iss`)  | `http://127.0.0.1:8080` |
//! | `FEEDBACK_API_AUDIENCE` | this API's audience (the tokens' `aud`)   | `feedback-api`          |
//!
//! `GET /feedback` needs the `feedback:read` scope, `POST /feedback` needs
//! `feedback:write`. Anything else is refused per RFC 6750 §3 (401 or 403, with a
//! `WWW-Authenticate: Bearer realm="<audience>", ...` header) before the handler runs.
//!
//! The guard runs with its defaults, so it checks every token's status in keygate's
//! status lists: tokens of a keypair that is disabled, deleted or revoked are refused
//! (401 `invalid_token`) within seconds, without a call to keygate per request.

use actix_web::{web, App, HttpResponse, HttpServer};
use resource_guard::actix::Scoped;
use resource_guard::{required_scope, Guard};

// One marker type per scope a route can require.
required_scope!(FeedbackRead = "feedback:read");
required_scope!(FeedbackWrite = "feedback:write");

/// `GET /feedback`: runs only for a valid token holding `feedback:read`.
async fn list_feedback(auth: Scoped<FeedbackRead>) -> HttpResponse {
    // The token's claims say who is calling: the keypair and its owner.
    HttpResponse::Ok().json(serde_json::json!({
        "feedback": [],
        "client_id": auth.claims.client_id,
        "account_id": auth.claims.account_id,
    }))
}

/// `POST /feedback`: runs only for a valid token holding `feedback:write`. The token is
/// checked before the body is read.
async fn post_feedback(auth: Scoped<FeedbackWrite>, body: web::Bytes) -> HttpResponse {
    HttpResponse::Created().json(serde_json::json!({
        "received_bytes": body.len(),
        "client_id": auth.claims.client_id,
    }))
}

/// The routes; they need a `web::Data<Guard>` in the app (see `main`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/feedback")
            .route(web::get().to(list_feedback))
            .route(web::post().to(post_feedback)),
    );
}

#[allow(dead_code)] // unused where tests include this file as a module
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let setting = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
    let listen = setting("FEEDBACK_API_LISTEN", "127.0.0.1:9000");
    let issuer = setting("KEYGATE_ISSUER", "http://127.0.0.1:8080");
    let audience = setting("FEEDBACK_API_AUDIENCE", "feedback-api");

    // One guard per process, with the default settings: it finds keygate's keys through
    // {issuer}/.well-known/oauth-authorization-server and keeps them fresh, and checks
    // each token's status: the first token pointing at a status list fetches it
    // ({issuer}/statuslists/{id}), then the guard refreshes it in the background every
    // ttl (5 s from keygate). If keygate is not up yet, it starts anyway (refusing
    // tokens) and keeps trying: when a token names a key it lacks (at most every 30 s)
    // and every 5 minutes. If keygate goes down, the lists it holds are used until they
    // expire (10 minutes from keygate), then tokens are refused.
    let guard = web::Data::new(Guard::builder(&issuer, &audience).build());

    eprintln!("feedback API on http://{listen} (issuer {issuer}, audience {audience})");
    HttpServer::new(move || App::new().app_data(guard.clone()).configure(routes))
        .bind(&listen)?
        .run()
        .await
}
