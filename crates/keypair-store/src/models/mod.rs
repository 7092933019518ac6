pub mod account;
pub mod keypair;
pub mod people;
pub mod secrets;
pub mod signing_key;
pub mod status;
