//! `keygate users ...`: people (human administrators) from the command line, for
//! operators: the first invitation before the server has ever run, disabling and
//! enabling, and resets. Each command opens (creating and migrating) the database
//! first, like `bootstrap`, and prints one JSON line on standard output.

use clock::Clock;
use keypair_store::{AccountId, Actor, EnvironmentId, InvitationCode, Owner, Store, StoreError};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{open_store, print_line, CommandError};
use crate::config::Config;

/// Who the changes are recorded as (`system:cli` in the audit trail).
fn actor() -> Actor {
    Actor::system("cli")
}

/// What an invitation made at the command line grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InviteTo {
    /// Operator: everything.
    Operator,
    /// Administrator of the account with this id.
    Account(String),
    /// Administrator of the environment with this id.
    Environment(String),
}

/// A store error about something the user named, said in their terms.
fn named(e: StoreError, what: impl FnOnce() -> String) -> CommandError {
    match e {
        StoreError::NotFound(_) => CommandError::Input(what()),
        StoreError::Invalid { field, reason } => {
            CommandError::Input(format!("invalid {field}: {reason}"))
        }
        e => CommandError::Store(e),
    }
}

fn owner(store: &Store, to: &InviteTo) -> Result<Owner, CommandError> {
    match to {
        InviteTo::Operator => Ok(Owner::Operator),
        InviteTo::Account(id) => {
            let account = AccountId::parse(id)
                .and_then(|a| store.get_account(&a))
                .map_err(|e| named(e, || format!("no account with id `{id}`")))?;
            Ok(Owner::Account(account.id))
        }
        InviteTo::Environment(id) => {
            let environment = EnvironmentId::parse(id)
                .and_then(|e| store.get_environment(&e))
                .map_err(|e| named(e, || format!("no environment with id `{id}`")))?;
            Ok(Owner::Environment {
                account_id: environment.account_id,
                environment_id: environment.id,
            })
        }
    }
}

/// The line printed for an invitation or a reset: the only place its code appears.
fn setup_line(
    config: &Config,
    id: &str,
    email: &str,
    role: &str,
    expires_at: OffsetDateTime,
    code: &InvitationCode,
) -> serde_json::Value {
    serde_json::json!({
        "invitation_id": id,
        "email": email,
        "role": role,
        "expires_at": expires_at.format(&Rfc3339).unwrap_or_default(),
        "setup_url": format!("{}/console/setup/{}", config.issuer, code.expose()),
    })
}

/// `keygate users invite EMAIL (--operator | --account ID | --environment ID)`: a
/// pending invitation valid for `users.invite_lifetime_seconds`, printed as
/// `{"invitation_id","email","role","expires_at","setup_url"}`. Like every
/// invitation, it grants nothing until accepted through its link, and the answer is
/// the same whether or not the email already has a user.
pub fn invite(
    config: &Config,
    email: &str,
    to: &InviteTo,
    clock: &Clock,
) -> Result<(), CommandError> {
    let store = open_store(config)?;
    let owner = owner(&store, to)?;
    let (invitation, code) = store
        .invite(
            &actor(),
            email,
            &owner,
            config.users.invite_lifetime,
            clock.now(),
        )
        .map_err(|e| named(e, || "the account or environment no longer exists".into()))?;
    tracing::info!(invitation_id = %invitation.id, role = invitation.role(), "invitation created");
    print_line(&setup_line(
        config,
        invitation.id.as_str(),
        &invitation.email,
        invitation.role(),
        invitation.expires_at,
        &code,
    ))
}

/// `keygate users reset EMAIL`: ends the person's credentials and sessions and prints
/// a new setup link for them, as `invite` does, with `role` `reset`.
pub fn reset(config: &Config, email: &str, clock: &Clock) -> Result<(), CommandError> {
    let store = open_store(config)?;
    let (reset, code) = store
        .reset_user(&actor(), email, config.users.invite_lifetime, clock.now())
        .map_err(|e| named(e, || format!("no user with email `{email}`")))?;
    tracing::info!(
        user_id = %reset.user_id,
        invitation_id = %reset.id,
        "credentials and sessions ended; new setup link made"
    );
    print_line(&setup_line(
        config,
        reset.id.as_str(),
        &reset.email,
        reset.role(),
        reset.expires_at,
        &code,
    ))
}

/// `keygate users disable EMAIL` (ends every session of theirs at once) and
/// `keygate users enable EMAIL`. Prints `{"user_id","email","disabled"}`.
pub fn set_disabled(
    config: &Config,
    email: &str,
    disabled: bool,
    clock: &Clock,
) -> Result<(), CommandError> {
    let store = open_store(config)?;
    let no_user = || format!("no user with email `{email}`");
    let user = store
        .get_user_by_email(email)
        .map_err(|e| named(e, no_user))?;
    let now = clock.now();
    if disabled {
        store.disable_user(&actor(), &user.id, now)
    } else {
        store.enable_user(&actor(), &user.id, now)
    }
    .map_err(|e| named(e, no_user))?;
    tracing::info!(
        user_id = %user.id,
        "{}",
        if disabled {
            "user disabled; their sessions ended"
        } else {
            "user enabled"
        }
    );
    print_line(&serde_json::json!({
        "user_id": user.id.as_str(),
        "email": user.email,
        "disabled": disabled,
    }))
}
