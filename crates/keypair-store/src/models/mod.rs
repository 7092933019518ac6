pub mod account;
pub mod keypair;
pub mod signing_key;
pub mod status;
