//! Command-line interface.

use std::path::PathBuf;

/// Keygate: an OAuth2 authorization server for machine clients (client credentials
/// grant, RFC 9068 JWT access tokens).
#[derive(Debug, clap::Parser)]
#[command(name = "keygate", version, about, long_about = None)]
pub struct Cli {
    /// A TOML file overriding the built-in defaults (see config/default.toml);
    /// KEYGATE_* environment variables override both.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do. Every command creates and migrates the database first.
#[derive(Debug, Default, clap::Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no command is given).
    #[default]
    Serve,
    /// Create the database if needed, apply pending migrations, and exit.
    Migrate,
    /// Create an operator keypair (scope keygate:operator) and print it once, as one
    /// JSON line {"client_id": "...", "client_secret": "..."} on standard output.
    Bootstrap(BootstrapArgs),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `keygate keys ...`
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key: published in the JWKS now, it signs from
    /// key.publish_lead_seconds (default 60) later; the current key signs until then.
    /// Previous keys stay in JWKS until every token they signed has expired. Running
    /// servers pick the new key up within key.reload_interval_seconds. Prints
    /// {"kid": "...", "alg": "...", "signs_from": "<RFC 3339>"}. Refused while the key
    /// of an earlier rotation still waits to sign.
    Rotate,
}

/// Options of `keygate bootstrap`.
#[derive(Debug, clap::Args)]
pub struct BootstrapArgs {
    /// A comment stored with the operator keypair.
    #[arg(long, default_value = "operator keypair created by keygate bootstrap")]
    pub comment: String,
}
