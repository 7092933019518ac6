//! The floor for the load benchmark: a minimal actix-web server answering every
//! `POST /token` with a fixed token-sized JSON body, doing no work at all. Keygate is
//! measured against it in the same run (docs/benchmarks.md).
//!
//! `cargo run --release -p keygate --example floor -- 127.0.0.1:18090`

use actix_web::{web, App, HttpResponse, HttpServer};

/// About the size of a keygate token response (EdDSA token, one scope).
const BODY: &str = concat!(
    r#"{"access_token":"eyJhbGciOiJFZERTQSIsImtpZCI6InFlR0Y1YjJmWmVPbGRJZ0NrQ3J2c1VaQ1BuSXJsZ0R0N2lQcDhQRkdJeWMiLCJ0eXAiOiJhdCtqd3QifQ."#,
    r#"eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJzdWIiOiJrZ184OTQ5OGZmNzFjZGE3ZDZmZmU0NzM4MTEzYzIyZDg2NyIsImNsaWVudF9pZCI6ImtnXzg5NDk4ZmY3MWNkYTdkNmZmZTQ3MzgxMTNjMjJkODY3IiwiYXVkIjoiZmVlZGJhY2stYXBpIiwiaWF0IjoxNzk1Mzc1MTA2LCJleHAiOjE3OTUzNzg3MDYsImp0aSI6InJOV21LQ3hPLVFjM1NBYUZUeWp5N0EiLCJzY29wZSI6ImZlZWRiYWNrOnJlYWQiLCJhY2N0IjoiYWNjdF83MTZjNGVjMDYzNGE1NDUxMWYzMzNkY2U0YzU3NGFmMCJ9."#,
    r#"5L0n1GW8hRb1ZlPUo9vmMmxy3rGI0exhYhY0UTYaa8i-yDgxVORzz8EJuFGJx1o_Qp2IreFmaH-3Sd7NcW9qAQ","token_type":"Bearer","expires_in":3600,"scope":"feedback:read"}"#
);

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    HttpServer::new(|| {
        App::new().route(
            "/token",
            web::post().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .insert_header(("cache-control", "no-store"))
                    .insert_header(("pragma", "no-cache"))
                    .body(BODY)
            }),
        )
    })
    .bind(listen)?
    .run()
    .await
}
