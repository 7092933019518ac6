//! The store's password operations, as the console's handlers use them: every call
//! runs on the blocking pool (hashing and checking cost an Argon2id computation each).

use keypair_store::{
    Acceptor, NewCredential, Password, PendingInvitation, SessionId, SignInError, Store, User,
};
use time::OffsetDateTime;

use crate::error::ConsoleError;

/// How a password sign-in went.
#[derive(Debug)]
pub(crate) enum Checked {
    /// The email's person, with this password, not disabled, and their new session.
    SignedIn(User, SessionId),
    /// Refused; the reason code is for the log only.
    Refused(&'static str),
}

/// Checks `typed` as `email`'s password and, if it is right, makes a new session in
/// the same transaction that finds the password still the person's. A password no rule
/// allows is nobody's: it is refused as a wrong one.
pub(crate) fn sign_in(
    store: &Store,
    email: &str,
    typed: &str,
    now: OffsetDateTime,
) -> Result<Checked, ConsoleError> {
    let Ok(password) = Password::new(typed) else {
        return Ok(Checked::Refused("wrong_password"));
    };
    match store.sign_in_with_password(email, &password, now) {
        Ok((user, session)) => Ok(Checked::SignedIn(user, session)),
        Err(SignInError::Refused(why)) => Ok(Checked::Refused(why.as_str())),
        Err(SignInError::Store(e)) => Err(e.into()),
    }
}

/// Whether `typed` is a password the rules allow (12 to 1024 characters).
pub(crate) fn password_allowed(typed: &str) -> bool {
    Password::new(typed).is_ok()
}

/// The acceptor of a new person setting `typed` as their password: hashes it (503
/// when hashing stays busy).
pub(crate) fn new_person(store: &Store, typed: &str) -> Result<Acceptor, ConsoleError> {
    let password = Password::new(typed).map_err(|_| ConsoleError::BadRequest("password"))?;
    let hash = store.hash_password(&password)?;
    Ok(Acceptor::NewUser {
        name: String::new(),
        credential: NewCredential::Password(hash),
    })
}

/// Whether the invitation's page sets credentials (a new person) or asks its person to
/// sign in and accept.
pub(crate) fn sets_credentials(found: &PendingInvitation) -> bool {
    found.sets_credentials
}
