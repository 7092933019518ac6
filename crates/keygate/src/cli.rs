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
    /// Manage people (human administrators of the web console).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Copy the SQLite database to FILE, consistently, while the server runs. Prints
    /// {"backup": FILE, "bytes": N}. The key-encryption key is not in the database:
    /// back it up separately (docs/deployment.md). PostgreSQL: use pg_dump.
    Backup(BackupArgs),
}

/// Options of `keygate backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where to write the copy (must not exist).
    pub file: std::path::PathBuf,
}

/// `keygate users ...`
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Invite EMAIL to administer what one of --operator, --account or --environment
    /// names. Prints one JSON line {"invitation_id", "email", "role", "expires_at",
    /// "setup_url"}; the setup link (<issuer>/console/setup/<code>) is shown only
    /// here and works once, for users.invite_lifetime_seconds (default 86400). The
    /// invitation grants nothing until accepted through it.
    Invite(InviteArgs),
    /// Disable the person with EMAIL: they cannot sign in, and their sessions end at
    /// once. Prints {"user_id", "email", "disabled": true}.
    Disable(EmailArg),
    /// Enable the person with EMAIL again. Prints {"user_id", "email", "disabled": false}.
    Enable(EmailArg),
    /// End the password and every session of the person with EMAIL, and print a new
    /// one-time setup link through which they set new credentials, as for invite
    /// (with "role": "reset"). Their role bindings stay.
    Reset(EmailArg),
}

/// Options of `keygate users invite`: the email and exactly one role.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("role")
        .required(true)
        .multiple(false)
        .args(["operator", "account", "environment"])
))]
pub struct InviteArgs {
    /// The email to invite (a label for finding the person; Keygate sends no mail).
    pub email: String,
    /// As an operator (everything).
    #[arg(long)]
    pub operator: bool,
    /// As administrator of the account with this id (acct_...).
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// As administrator of the environment with this id (env_...).
    #[arg(long, value_name = "ID")]
    pub environment: Option<String>,
}

/// The email of the person a `keygate users` command is about.
#[derive(Debug, clap::Args)]
pub struct EmailArg {
    /// The person's email (compared case-insensitively).
    pub email: String,
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
