#![doc = include_str!("../README.md")]

mod address;
mod failures;

pub use address::client_address;
pub use failures::{RetryAfter, Throttle, ThrottleSettings};

/// A subject as a counter key: at most its first 256 characters (a client id or an
/// email is shorter), so one key costs bounded memory.
fn clip(s: &str) -> String {
    s.chars().take(256).collect()
}
