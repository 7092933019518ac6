//! Black-box tests: they run the real `keygate` binary in a fresh directory and talk
//! to it over HTTP, as a user or another service would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod admin;
mod backup;
mod cli;
mod console;
mod feedback_api;
mod hardening;
mod logging;
mod metrics;
mod outage;
mod secret_rotation;
mod shutdown;
mod status;
mod tokens;
mod users;
