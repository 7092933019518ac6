#![doc = include_str!("../README.md")]

mod claims;
mod error;
mod jwks;
mod status;
mod validate;

#[cfg(feature = "actix")]
pub mod actix;

pub use claims::{Claims, StatusClaim};
pub use error::GuardError;
pub use jwks::{FetchError, HttpJwks, JwksProvider, StaticJwks};
pub use status::{HttpStatusLists, StatusListProvider};
pub use validate::{
    Guard, GuardBuilder, DEFAULT_FETCH_TIMEOUT, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES,
    DEFAULT_MIN_REFETCH_INTERVAL, DEFAULT_REFRESH_INTERVAL, DEFAULT_STATUS_FETCH_TIMEOUT,
    DEFAULT_STATUS_MAX_LIST_ENTRIES, DEFAULT_STATUS_NEW_LISTS, DEFAULT_STATUS_NEW_LIST_INTERVAL,
    DEFAULT_STATUS_TTL_CEILING, DEFAULT_STATUS_TTL_FLOOR, DEFAULT_STATUS_UNKNOWN_LIST_BACKOFF,
};
