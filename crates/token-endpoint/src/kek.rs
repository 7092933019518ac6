//! The key-encryption key (KEK) that seals signing keys at rest with AES-256-GCM.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

const SEAL_VERSION: u8 = 1;

/// Why the key-encryption key could not be loaded or used. Messages name the setting
/// or file at fault and never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The configured or stored text is not base64.
    #[error("the key-encryption key is not valid base64")]
    NotBase64,
    /// It decodes to the wrong number of bytes.
    #[error("the key-encryption key must be 32 bytes, found {0}")]
    WrongLength(usize),
    /// The cryptographic library refused the key.
    #[error("unusable key")]
    Unusable,
    /// The operating system gave no randomness (for a new key or a nonce).
    #[error("no randomness")]
    NoRandomness,
    /// The key file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A new key file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Encryption failed.
    #[error("sealing failed")]
    Seal,
    /// Sealed bytes do not open with this key and context: another key sealed them,
    /// or they were altered.
    #[error(
        "cannot decrypt a stored signing key: the key-encryption key differs from the one that sealed it"
    )]
    WrongKey,
}

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
    pub fn from_base64(text: &str) -> Result<Kek, KekError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KekError::NotBase64)?;
        if bytes.len() != 32 {
            return Err(KekError::WrongLength(bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KekError::Unusable)?;
        Ok(Kek(LessSafeKey::new(key)))
    }

    /// The configured KEK if `configured` is non-empty; else the one in `file`,
    /// generating it (mode 0600) if the file does not exist.
    pub fn load(configured: &str, file: &Path) -> Result<(Kek, KekSource), KekError> {
        if !configured.trim().is_empty() {
            return Ok((Kek::from_base64(configured)?, KekSource::Config));
        }
        match std::fs::read_to_string(file) {
            Ok(text) => Ok((Kek::from_base64(&text)?, KekSource::File)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut raw)
                    .map_err(|_| KekError::NoRandomness)?;
                let text = STANDARD.encode(raw);
                write_private(file, text.as_bytes())?;
                Ok((Kek::from_base64(&text)?, KekSource::Generated))
            }
            Err(source) => Err(KekError::Read {
                path: file.to_owned(),
                source,
            }),
        }
    }

    /// Encrypts `plaintext`, bound to `context` (associated data).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KekError::NoRandomness)?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KekError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`Kek::seal`] produced with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        let wrong = || KekError::WrongKey;
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

fn write_private(path: &Path, contents: &[u8]) -> Result<(), KekError> {
    let err = |source| KekError::Write {
        path: path.to_owned(),
        source,
    };
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

    #[test]
    fn errors_carry_no_key_material() {
        let short = STANDARD.encode([0x5a_u8; 16]);
        let e = Kek::from_base64(&short).unwrap_err();
        assert!(matches!(e, KekError::WrongLength(16)), "{e:?}");
        let kek_text = STANDARD.encode([7u8; 32]);
        let kek = Kek::from_base64(&kek_text).unwrap();
        let other = Kek::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        let sealed = other.seal("ctx", b"private key bytes").unwrap();
        let wrong = kek.open("ctx", &sealed).unwrap_err();
        assert!(matches!(wrong, KekError::WrongKey), "{wrong:?}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek");
        std::fs::write(&file, "hunter2-not-base64!").unwrap();
        let unreadable = Kek::load("", &file).unwrap_err();
        for shown in [&e, &wrong, &unreadable]
            .iter()
            .flat_map(|e| [e.to_string(), format!("{e:?}")])
        {
            for material in [short.as_str(), kek_text.as_str(), "hunter2", "private key"] {
                assert!(!shown.contains(material), "{shown}");
            }
        }
        assert_eq!(format!("{kek:?}"), "Kek(***)");
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
