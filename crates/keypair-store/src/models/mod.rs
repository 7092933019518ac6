pub mod account;
pub mod credentials;
pub mod keypair;
pub mod people;
pub mod reset;
pub mod secrets;
pub mod signing_key;
pub mod status;
