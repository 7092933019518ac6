//! Passwords: the [`Password`] a person types (NFKC-normalised, 12 to 1024 characters),
//! its Argon2id hash ([`PasswordHash`], a PHC string), and the bound on how many hashes
//! run at once ([`PasswordHashing`]).
//!
//! Argon2id with OWASP's parameters (m = 19456 KiB, t = 2, p = 1; `docs/security.md`)
//! costs tens of milliseconds of CPU and 19 MiB of memory per hash, on purpose. A flood
//! of sign-ins could otherwise take every core and starve `/token`, so each store lets
//! at most [`PasswordHashing::concurrency`] hashes run at once; a caller waits at most
//! [`PasswordHashing::max_wait`] for a turn and then gets
//! [`StoreError::Unavailable`] (a 503). The wait is real time, not domain time: it
//! bounds how long a request may queue.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use unicode_normalization::UnicodeNormalization;

use crate::ids::random_bytes;
use crate::{StoreError, StoreResult};

/// Fewest characters in a password (after NFKC normalisation).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters in a password (after NFKC normalisation).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest input looked at, in bytes, before normalising: 1024 characters of at most
/// four bytes, each typed as up to four code points, fit; anything longer is refused
/// without spending time on it.
const MAX_INPUT_BYTES: usize = 4 * 4 * MAX_PASSWORD_CHARS;

/// Argon2 memory cost in KiB (OWASP Password Storage Cheat Sheet: 19 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Argon2 passes over memory (OWASP: 2 with 19 MiB).
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2 lanes (OWASP: 1).
pub const ARGON2_PARALLELISM: u32 = 1;

/// What an unknown email, or a person without a password, is checked against, so that
/// such a sign-in costs what a wrong password costs. The hash of a random password
/// nobody kept, with the same parameters as every new hash (a unit test holds it to
/// them).
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$\
    xYAVcFOEv5KYfxJvzumGBQ$LjM6cAHCI/C5L7cxXvrJDdhNr5NrY2oxedRKrd2w78s";

fn argon2() -> StoreResult<Argon2<'static>> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .map_err(|e| StoreError::Corrupt(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A password as typed, NFKC-normalised (so the same password typed as composed or
/// decomposed characters, or with compatibility forms, is the same password) and
/// 12 to 1024 characters long. `Debug` never prints it.
pub struct Password(String);

impl Password {
    /// Normalises `typed` (NFKC) and checks its length: 12 to 1024 characters after
    /// normalisation, else [`StoreError::Invalid`] on the field `password`.
    pub fn new(typed: &str) -> StoreResult<Password> {
        if typed.len() > MAX_INPUT_BYTES {
            return Err(too_long());
        }
        let normalised: String = typed.nfkc().collect();
        let chars = normalised.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(StoreError::invalid(
                "password",
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(too_long());
        }
        Ok(Password(normalised))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn too_long() -> StoreError {
    StoreError::invalid(
        "password",
        format!("must be at most {MAX_PASSWORD_CHARS} characters"),
    )
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A password's Argon2id hash as a PHC string (algorithm, version, parameters, salt,
/// hash), made by [`crate::Store::hash_password`]. What is stored; `Debug` shows only
/// that it is one.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub(crate) fn phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(argon2id, …)")
    }
}

/// Hashes `password` with a fresh 128-bit salt. The caller holds a permit.
fn hash(password: &Password) -> StoreResult<PasswordHash> {
    let salt_bytes: [u8; 16] = random_bytes();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| StoreError::Corrupt(format!("password salt: {e}")))?;
    let phc = argon2()?
        .hash_password(password.bytes(), &salt)
        .map_err(|e| StoreError::Corrupt(format!("password hashing failed: {e}")))?;
    Ok(PasswordHash(phc.to_string()))
}

/// Whether `password` matches the stored PHC string `phc` (with the parameters the
/// string names), or, when `phc` is `None`, spends the same time on the dummy hash and
/// answers false. The caller holds a permit.
fn verify(password: &Password, phc: Option<&str>) -> StoreResult<bool> {
    let parsed = Phc::new(phc.unwrap_or(DUMMY_PHC))
        .map_err(|e| StoreError::Corrupt(format!("stored password hash: {e}")))?;
    let matches = argon2()?.verify_password(password.bytes(), &parsed).is_ok();
    Ok(matches && phc.is_some())
}

/// The bound on concurrent password hashing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Most hashes (or verifications) running at once in this store (process).
    /// Default 2: sign-ins can then take at most two cores. At least 1.
    pub concurrency: usize,
    /// Longest a caller waits for a turn before getting
    /// [`StoreError::Unavailable`]. Default 1 s.
    pub max_wait: Duration,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        PasswordHashing {
            concurrency: 2,
            max_wait: Duration::from_secs(1),
        }
    }
}

/// Why a hash was not run: every permit stayed taken for the whole wait.
#[derive(Debug, thiserror::Error)]
#[error("password hashing is at its concurrency bound (users.password_hash_concurrency)")]
pub(crate) struct HashingBusy;

#[derive(Debug, Default)]
struct Counts {
    running: usize,
    waiting: usize,
}

/// A counting semaphore over hashes, owned (through an `Arc`) by the store.
#[derive(Debug)]
pub(crate) struct HashingGate {
    settings: PasswordHashing,
    counts: Mutex<Counts>,
    freed: Condvar,
}

impl HashingGate {
    pub(crate) fn new(settings: &PasswordHashing) -> Arc<Self> {
        Arc::new(HashingGate {
            settings: PasswordHashing {
                concurrency: settings.concurrency.max(1),
                max_wait: settings.max_wait,
            },
            counts: Mutex::default(),
            freed: Condvar::new(),
        })
    }

    /// Waits up to `max_wait` for a turn. The counts stay right even if a holder
    /// panicked (a permit is released by `Drop`), so a poisoned lock is used as is.
    pub(crate) fn acquire(self: &Arc<Self>) -> StoreResult<HashPermit> {
        let limit = self.settings.concurrency;
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.waiting += 1;
        let (mut counts, _) = self
            .freed
            .wait_timeout_while(counts, self.settings.max_wait, |c| c.running >= limit)
            .unwrap_or_else(PoisonError::into_inner);
        counts.waiting -= 1;
        if counts.running >= limit {
            return Err(StoreError::Unavailable(Box::new(HashingBusy)));
        }
        counts.running += 1;
        Ok(HashPermit { gate: self.clone() })
    }

    /// Callers waiting for a turn right now.
    #[cfg_attr(not(feature = "test-helpers"), allow(dead_code))]
    pub(crate) fn waiting(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .waiting
    }

    /// Hashes `password` in a turn.
    pub(crate) fn hash(self: &Arc<Self>, password: &Password) -> StoreResult<PasswordHash> {
        let _permit = self.acquire()?;
        hash(password)
    }

    /// Verifies `password` against `phc` (or the dummy hash) in a turn.
    pub(crate) fn verify(
        self: &Arc<Self>,
        password: &Password,
        phc: Option<&str>,
    ) -> StoreResult<bool> {
        let _permit = self.acquire()?;
        verify(password, phc)
    }
}

/// One turn at hashing; the turn ends when this is dropped.
#[derive(Debug)]
pub struct HashPermit {
    gate: Arc<HashingGate>,
}

impl Drop for HashPermit {
    fn drop(&mut self) {
        let mut counts = self
            .gate
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.running -= 1;
        drop(counts);
        self.gate.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let dummy = Phc::new(DUMMY_PHC).expect("dummy parses");
        let real = hash(&Password::new("correct horse battery").expect("pw")).expect("hash");
        let real = Phc::new(real.phc()).expect("real parses");
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(
            dummy.hash.map(|h| h.len()),
            real.hash.map(|h| h.len()),
            "same output length"
        );
        assert_eq!(real.algorithm.as_str(), "argon2id");
        assert_eq!(real.params.get_decimal("m"), Some(ARGON2_MEMORY_KIB));
        assert_eq!(real.params.get_decimal("t"), Some(ARGON2_ITERATIONS));
        assert_eq!(real.params.get_decimal("p"), Some(ARGON2_PARALLELISM));
    }

    #[test]
    fn no_password_ever_matches_the_dummy() {
        let pw = Password::new("correct horse battery").expect("pw");
        assert!(!verify(&pw, None).expect("verify"));
    }

    #[test]
    fn debug_never_shows_a_password_or_its_hash() {
        let pw = Password::new("correct horse battery").expect("pw");
        let h = hash(&pw).expect("hash");
        assert!(!format!("{pw:?}").contains("horse"));
        let shown = format!("{h:?}");
        assert!(
            !shown.contains(h.phc()) && !shown.contains("$argon2id$"),
            "{shown}"
        );
    }

    #[test]
    fn salts_differ() {
        let pw = Password::new("correct horse battery").expect("pw");
        assert_ne!(hash(&pw).expect("a"), hash(&pw).expect("b"));
    }
}
