//! Passkeys: the WebAuthn relying party (`webauthn-rs`), with the issuer's host as its
//! id and the issuer's origin as the only origin it accepts.
//!
//! Browsers allow WebAuthn only in a secure context and never for an IP address, so
//! passkeys are offered only with an https issuer whose host is a name, or with
//! `http://localhost[:port]`; otherwise [`Passkeys::for_site`] is `None` and the
//! console shows no passkey control.
//!
//! Ceremony state (the challenge) lives in the database, found by a random id kept in
//! a short-lived cookie, and is taken exactly once, so any process can answer it and
//! no answer can be replayed. Sign-in is discoverable: the browser offers the
//! person's passkeys for this site and returns the one chosen with its user handle,
//! so the sign-in page never asks for (or reveals anything about) an email.

use keypair_store::{Ceremony, NewPasskey, StoredPasskey};
use serde_json::Value;
use time::Duration;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use crate::error::ConsoleError;

/// How long a browser has to answer a challenge: the time the authenticator gives
/// the person, and the life of the ceremony in the database and its cookie.
pub(crate) const CEREMONY_LIFETIME: Duration = Duration::minutes(2);

/// The relying party.
pub(crate) struct Passkeys {
    webauthn: Webauthn,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys").finish_non_exhaustive()
    }
}

/// A registration begun: the options for the browser, and what to store until the
/// answer comes.
pub(crate) struct Registration {
    pub(crate) options: CreationChallengeResponse,
    pub(crate) state: String,
    pub(crate) user_handle: String,
}

/// A sign-in begun.
pub(crate) struct SignIn {
    pub(crate) options: RequestChallengeResponse,
    pub(crate) state: String,
}

/// Why an answer was not accepted: for the log only.
#[derive(Debug)]
pub(crate) struct NotVerified(pub(crate) &'static str);

impl Passkeys {
    /// The relying party for the console's origin (`scheme://host[:port]`), or `None`
    /// where browsers would refuse passkeys.
    pub(crate) fn for_site(origin: &str) -> Option<Passkeys> {
        let url = Url::parse(origin).ok()?;
        let host = url.domain()?.to_owned();
        let offered = match url.scheme() {
            "https" => true,
            "http" => host == "localhost",
            _ => false,
        };
        if !offered {
            return None;
        }
        let webauthn = WebauthnBuilder::new(&host, &url)
            .ok()?
            .rp_name("Keygate")
            .timeout(CEREMONY_LIFETIME.unsigned_abs())
            .build()
            .ok()?;
        Some(Passkeys { webauthn })
    }

    /// Begins registering a passkey for `email` under `user_handle` (the handle of
    /// the person's other passkeys, or `None` for a new one), excluding the
    /// credentials in `exclude` (an authenticator holding one says so instead of
    /// making a second). The options ask for a discoverable credential with user
    /// verification: sign-in names no one.
    pub(crate) fn begin_registration(
        &self,
        email: &str,
        user_handle: Option<&str>,
        exclude: Vec<Vec<u8>>,
    ) -> Result<Registration, ConsoleError> {
        let handle = match user_handle {
            Some(h) => Uuid::parse_str(h).map_err(internal("read a stored user handle"))?,
            None => new_user_handle()?,
        };
        let exclude = (!exclude.is_empty()).then(|| exclude.into_iter().map(Into::into).collect());
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(handle, email, email, exclude)
            .map_err(internal("start a passkey registration"))?;
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        Ok(Registration {
            options,
            state: to_json(&state)?,
            user_handle: handle.to_string(),
        })
    }

    /// Checks a registration's answer against its ceremony: the passkey to store.
    pub(crate) fn finish_registration(
        &self,
        ceremony: &Ceremony,
        answer: Value,
    ) -> Result<Result<NewPasskey, NotVerified>, ConsoleError> {
        let state: PasskeyRegistration =
            serde_json::from_str(&ceremony.state).map_err(internal("read a ceremony"))?;
        let Some(user_handle) = ceremony.user_handle.clone() else {
            return Err(ConsoleError::Internal);
        };
        let Ok(answer) = serde_json::from_value::<RegisterPublicKeyCredential>(answer) else {
            return Ok(Err(NotVerified("malformed_answer")));
        };
        let passkey = match self.webauthn.finish_passkey_registration(&answer, &state) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(error = %e, "passkey registration not verified");
                return Ok(Err(NotVerified("registration_not_verified")));
            }
        };
        Ok(Ok(NewPasskey {
            credential_id: passkey.cred_id().to_vec(),
            user_handle,
            passkey: to_json(&passkey)?,
        }))
    }

    /// Begins a discoverable sign-in. The browser asks the person at once (the
    /// button's modal flow), not as an autofill suggestion.
    pub(crate) fn begin_sign_in(&self) -> Result<SignIn, ConsoleError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(internal("start a passkey sign-in"))?;
        options.mediation = None;
        Ok(SignIn {
            options,
            state: to_json(&state)?,
        })
    }

    /// The user handle and credential id a sign-in answer names, to find the passkey.
    pub(crate) fn identify(answer: &Value) -> Result<(PublicKeyCredential, String), NotVerified> {
        let answer: PublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| NotVerified("malformed_answer"))?;
        let handle = answer
            .get_user_unique_id()
            .and_then(|b| Uuid::from_slice(b).ok())
            .ok_or(NotVerified("no_user_handle"))?;
        Ok((answer, handle.to_string()))
    }

    /// Checks a sign-in answer against its ceremony and the passkeys of the handle it
    /// names: the passkey used, with its state updated (counter, backup flags), as JSON
    /// to store.
    pub(crate) fn finish_sign_in(
        &self,
        ceremony: &Ceremony,
        answer: &PublicKeyCredential,
        candidates: Vec<StoredPasskey>,
    ) -> Result<Result<(StoredPasskey, String), NotVerified>, ConsoleError> {
        let state: DiscoverableAuthentication =
            serde_json::from_str(&ceremony.state).map_err(internal("read a ceremony"))?;
        let used = answer.get_credential_id();
        let Some(stored) = candidates.into_iter().find(|p| p.credential_id == used) else {
            return Ok(Err(NotVerified("unknown_credential")));
        };
        let mut passkey: Passkey =
            serde_json::from_str(&stored.passkey).map_err(internal("read a stored passkey"))?;
        let key = DiscoverableKey::from(&passkey);
        let result = match self
            .webauthn
            .finish_discoverable_authentication(answer, state, &[key])
        {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = %e, "passkey sign-in not verified");
                return Ok(Err(NotVerified("passkey_not_verified")));
            }
        };
        passkey.update_credential(&result);
        let updated = to_json(&passkey)?;
        Ok(Ok((stored, updated)))
    }
}

/// A new WebAuthn user handle: 128 random bits as a UUID, unrelated to the user id.
fn new_user_handle() -> Result<Uuid, ConsoleError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(|_| {
        tracing::error!("the operating system's random number generator failed");
        ConsoleError::Internal
    })?;
    Ok(Uuid::from_bytes(bytes))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ConsoleError> {
    serde_json::to_string(value).map_err(internal("serialise passkey state"))
}

fn internal<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> ConsoleError {
    move |e| {
        tracing::error!(error = %e, "could not {what}");
        ConsoleError::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::Passkeys;

    #[test]
    fn passkeys_are_offered_only_where_browsers_allow_them() {
        for offered in [
            "https://keygate.example",
            "https://keygate.example:8443",
            "http://localhost:8080",
            "http://localhost",
        ] {
            assert!(Passkeys::for_site(offered).is_some(), "{offered}");
        }
        for refused in [
            "http://keygate.example",
            "https://127.0.0.1:8443",
            "http://127.0.0.1:8080",
            "https://[::1]:8443",
            "http://[::1]:8080",
            "not a url",
        ] {
            assert!(Passkeys::for_site(refused).is_none(), "{refused}");
        }
    }
}
