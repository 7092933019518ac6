//! Keygate as a library, which the `keygate` binary and the integration tests share:
//! the validated configuration ([`config`]), the commands ([`commands`]), the HTTP
//! server ([`server`]) and the one app factory, [`Keygate`], that builds the whole
//! actix-web app (token endpoint, admin API, health, JSON 404) from a validated config,
//! a store, the signing keys and a clock. Tests build their app through it too, so
//! what they exercise is wired exactly as `keygate serve` wires it.

mod app;
pub mod commands;
pub mod config;
pub mod server;

pub use app::Keygate;
