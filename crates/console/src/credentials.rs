//! TEMPORARY stub until wt-creds is merged.
use keypair_store::{Acceptor, PendingInvitation, Store, User};
use time::OffsetDateTime;

use crate::error::ConsoleError;

#[derive(Debug)]
pub(crate) enum Checked {
    SignedIn(User),
    Refused(&'static str),
}

pub(crate) fn check_password(
    store: &Store,
    email: &str,
    typed: &str,
    _now: OffsetDateTime,
) -> Result<Checked, ConsoleError> {
    if !password_allowed(typed) {
        return Ok(Checked::Refused("wrong_password"));
    }
    match store.get_user_by_email(email) {
        Ok(u) if !u.disabled => Ok(Checked::SignedIn(u)),
        _ => Ok(Checked::Refused("unknown_email")),
    }
}

pub(crate) fn password_allowed(typed: &str) -> bool {
    (12..=1024).contains(&typed.chars().count())
}

pub(crate) fn new_person(_store: &Store, _typed: &str) -> Result<Acceptor, ConsoleError> {
    Ok(Acceptor::NewUser {
        name: String::new(),
    })
}

pub(crate) fn sets_credentials(found: &PendingInvitation) -> bool {
    found.existing_user.is_none()
}
