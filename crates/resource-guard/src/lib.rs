#![doc = include_str!("../README.md")]

mod claims;
mod error;
mod jwks;
mod validate;

#[cfg(feature = "actix")]
pub mod actix;

pub use claims::{Claims, StatusClaim};
pub use error::GuardError;
pub use jwks::{FetchError, HttpJwks, JwksProvider, StaticJwks};
pub use validate::{
    Guard, GuardBuilder, DEFAULT_FETCH_TIMEOUT, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES,
    DEFAULT_MIN_REFETCH_INTERVAL, DEFAULT_REFRESH_INTERVAL,
};
