//! The key-encryption key (KEK) that seals signing keys at rest with AES-256-GCM.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use crate::keys::KeyError;

const SEAL_VERSION: u8 = 1;

/// A 256-bit AES-GCM key. `Debug` prints nothing of it.
pub struct Kek(LessSafeKey);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(***)")
    }
}

/// Where the KEK came from (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KekSource {
    /// The `key.encryption_key` setting.
    Config,
    /// An existing file.
    File,
    /// A file generated now.
    Generated,
}

impl Kek {
    /// From base64 text (standard or URL-safe) holding exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Kek, KeyError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KeyError::Kek("the key-encryption key is not valid base64".into()))?;
        if bytes.len() != 32 {
            return Err(KeyError::Kek(format!(
                "the key-encryption key must be 32 bytes, found {}",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| KeyError::Kek("unusable key".into()))?;
        Ok(Kek(LessSafeKey::new(key)))
    }

    /// The configured KEK if `configured` is non-empty; else the one in `file`,
    /// generating it (mode 0600) if the file does not exist.
    pub fn load(configured: &str, file: &Path) -> Result<(Kek, KekSource), KeyError> {
        if !configured.trim().is_empty() {
            return Ok((Kek::from_base64(configured)?, KekSource::Config));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => Ok((Kek::from_base64(&text)?, KekSource::File)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut raw)
                    .map_err(|_| KeyError::Kek("no randomness".into()))?;
                let text = STANDARD.encode(raw);
                write_private(file, text.as_bytes())?;
                Ok((Kek::from_base64(&text)?, KekSource::Generated))
            }
            Err(e) => Err(KeyError::Kek(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (associated data).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KeyError::Kek("no randomness".into()))?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KeyError::Kek("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`Kek::seal`] produced with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let wrong = || {
            KeyError::Kek(
                "cannot decrypt a stored signing key: the key-encryption key differs from the one that sealed it"
                    .into(),
            )
        };
        let (version, rest) = sealed.split_first().ok_or_else(wrong)?;
        if *version != SEAL_VERSION || rest.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let err = |e: std::io::Error| KeyError::Kek(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(err)?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_context_binding() {
        let kek = Kek::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = kek.seal("kid-1", b"private key").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"private key"));
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key");
        assert!(kek.open("kid-2", &sealed).is_err(), "bound to its context");
        let other = Kek::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(kek.open("kid-1", &tampered).is_err());
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(Kek::from_base64("not base64!").is_err());
        assert!(Kek::from_base64(&STANDARD.encode([1u8; 16])).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn generated_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/kek");
        let (a, src) = Kek::load("", &path).unwrap();
        assert_eq!(src, KekSource::Generated);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (b, src) = Kek::load("", &path).unwrap();
        assert_eq!(src, KekSource::File);
        let sealed = a.seal("x", b"y").unwrap();
        assert_eq!(b.open("x", &sealed).unwrap(), b"y");
    }
}
