//! Unit tests of configuration loading (`config.rs`).
#![allow(clippy::unwrap_used)]

use super::*;
use std::io::Write;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(
        c.database_url,
        DatabaseUrl::Sqlite("data/keygate.db".into())
    );
    assert_eq!(c.pool.max_size, 8);
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.token.lifetime_seconds, 3600);
    assert_eq!(c.token.max_lifetime_seconds, 86400);
    assert_eq!(c.signing_algorithm, SigningAlgorithm::EdDSA);
    assert_eq!(
        c.key.file,
        std::path::PathBuf::from("data/key-encryption-key")
    );
    assert!(c.key.configured.is_empty());
    let scope = keypair_store::Scope::parse("feedback:read").unwrap();
    assert_eq!(c.catalogue.audience_of(&scope), Some("feedback-api"));
    let admin = keypair_store::Scope::parse("keygate:admin").unwrap();
    assert_eq!(
        c.catalogue.audience_of(&admin),
        Some("http://127.0.0.1:8080")
    );
    assert!(
        !c.catalogue.is_optional(&admin),
        "no optional scope by default"
    );
}

#[test]
fn optional_scopes_from_file_and_environment() {
    let admin = keypair_store::Scope::parse("keygate:admin").unwrap();
    let read = keypair_store::Scope::parse("feedback:read").unwrap();
    let f = file("[scopes]\noptional = [\"keygate:admin\"]\n");
    let c = Config::load(Some(f.path()), env(&[])).unwrap();
    assert!(c.catalogue.is_optional(&admin));
    assert!(!c.catalogue.is_optional(&read));
    let c = Config::load(
        None,
        env(&[("KEYGATE_SCOPES_OPTIONAL", "keygate:admin,feedback:read")]),
    )
    .unwrap();
    assert!(c.catalogue.is_optional(&admin) && c.catalogue.is_optional(&read));
}

#[test]
fn env_beats_file_beats_defaults() {
    let f = file("listen = \"127.0.0.1:9000\"\nissuer = \"https://auth.example/\"\n[database]\npool_size = 3\n");
    let c = Config::load(Some(f.path()), env(&[("KEYGATE_LISTEN", "0.0.0.0:7000")])).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
    assert_eq!(c.issuer, "https://auth.example", "trailing slash trimmed");
    assert_eq!(c.pool.max_size, 3);
    let c = Config::load(
        Some(f.path()),
        env(&[
            ("KEYGATE_DATABASE_POOL_SIZE", "5"),
            ("KEYGATE_DATABASE_URL", "postgres://db/keygate"),
            ("KEYGATE_LOG_FORMAT", "json"),
            ("KEYGATE_SCOPES_CATALOGUE", "a:read=api-a, b:write=api-b"),
            ("KEYGATE_TEST_POSTGRES_URL", "ignored: not a setting"),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(c.pool.max_size, 5);
    assert_eq!(
        c.database_url,
        DatabaseUrl::Postgres("postgres://db/keygate".into())
    );
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.catalogue.scopes().count(), 5);
}

#[test]
fn unknown_keys_are_named() {
    let f = file("[database]\nurll = \"x\"\n");
    let e = Config::load(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("database.urll"), "{e}");
    let f = file("lisen = \"x\"\n");
    let e = Config::load(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`lisen`"), "{e}");
    let e = Config::load(None, env(&[("KEYGATE_DATABASE_POOLSIZE", "3")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("KEYGATE_DATABASE_POOLSIZE"), "{e}");
}

#[test]
fn bad_values_are_named() {
    for (vars, key) in [
        (
            vec![("KEYGATE_DATABASE_POOL_SIZE", "many")],
            "database.pool_size",
        ),
        (
            vec![("KEYGATE_DATABASE_POOL_SIZE", "0")],
            "database.pool_size",
        ),
        (vec![("KEYGATE_LISTEN", "localhost")], "listen"),
        (vec![("KEYGATE_ISSUER", "ftp://x")], "issuer"),
        (vec![("KEYGATE_DATABASE_URL", "mysql://x")], "database.url"),
        (vec![("KEYGATE_LOG_FORMAT", "xml")], "log.format"),
        (
            vec![("KEYGATE_SCOPES_CATALOGUE", "noaudience")],
            "scopes.catalogue",
        ),
        (
            vec![("KEYGATE_SCOPES_CATALOGUE", "keygate:x=y")],
            "scopes.catalogue",
        ),
        (
            vec![("KEYGATE_SCOPES_OPTIONAL", "billing:read")],
            "scopes.optional",
        ),
    ] {
        let e = Config::load(None, env(&vars)).unwrap_err().to_string();
        assert!(e.contains(key), "{vars:?}: {e}");
    }
    let f = file("[database]\npool_size = \"8\"\n");
    let e = Config::load(Some(f.path()), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("database.pool_size") && e.contains("expected integer"),
        "{e}"
    );
    let e = Config::load(Some(Path::new("/nonexistent/keygate.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/keygate.toml"), "{e}");
}

#[test]
fn debug_hides_the_key_encryption_key() {
    let kek = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let c = Config::load(None, env(&[("KEYGATE_KEY_ENCRYPTION_KEY", kek)])).unwrap();
    assert_eq!(c.key.configured, kek);
    assert!(!format!("{c:?}").contains(kek));
}

#[test]
fn env_names_follow_one_rule() {
    assert_eq!(
        env_name("token.lifetime_seconds"),
        "KEYGATE_TOKEN_LIFETIME_SECONDS"
    );
    assert_eq!(env_name("listen"), "KEYGATE_LISTEN");
    assert_eq!(env_name("database.url"), "KEYGATE_DATABASE_URL");
}

#[test]
fn signing_key_settings_and_the_publish_lead() {
    let c = Config::load(None, env(&[])).unwrap();
    let k = c.key_settings();
    assert_eq!(
        k.publish_lead,
        time::Duration::seconds(60),
        "documented default"
    );
    assert_eq!(k.max_token_lifetime, time::Duration::seconds(86400));
    assert_eq!(k.algorithm, SigningAlgorithm::EdDSA);
    assert_eq!(
        env_name("key.publish_lead_seconds"),
        "KEYGATE_KEY_PUBLISH_LEAD_SECONDS"
    );
    for (lead, reload, expected) in [("0", "10", 0), ("10", "10", 10), ("86400", "3600", 86400)] {
        let c = Config::load(
            None,
            env(&[
                ("KEYGATE_KEY_PUBLISH_LEAD_SECONDS", lead),
                ("KEYGATE_KEY_RELOAD_INTERVAL_SECONDS", reload),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.key_settings().publish_lead,
            time::Duration::seconds(expected)
        );
    }
    let f = file("[key]\npublish_lead_seconds = 120\n");
    let c = Config::load(Some(f.path()), env(&[])).unwrap();
    assert_eq!(c.key.publish_lead, std::time::Duration::from_secs(120));
    // Shorter than the reload interval, a server could sign with a key another does
    // not publish yet.
    for (lead, reload) in [("9", "10"), ("86401", "10"), ("soon", "10")] {
        let e = Config::load(
            None,
            env(&[
                ("KEYGATE_KEY_PUBLISH_LEAD_SECONDS", lead),
                ("KEYGATE_KEY_RELOAD_INTERVAL_SECONDS", reload),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("key.publish_lead_seconds"), "{lead}: {e}");
    }
}

#[test]
fn users_settings_default_and_follow_the_env_rule() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c.users.invite_lifetime, time::Duration::days(1));
    assert_eq!(c.users.password_hash_concurrency, 2);
    assert_eq!(c.pool.password_hashing.concurrency, 2, "reaches the store");
    let c = Config::load(
        None,
        env(&[
            ("KEYGATE_USERS_INVITE_LIFETIME_SECONDS", "3600"),
            ("KEYGATE_USERS_PASSWORD_HASH_CONCURRENCY", "4"),
        ]),
    )
    .unwrap();
    assert_eq!(c.users.invite_lifetime, time::Duration::hours(1));
    assert_eq!(c.pool.password_hashing.concurrency, 4);
    let f = file("[users]\npassword_hash_concurrency = 1\n");
    let c = Config::load(Some(f.path()), env(&[])).unwrap();
    assert_eq!(c.pool.password_hashing.concurrency, 1);
    for (key, value) in [
        ("KEYGATE_USERS_PASSWORD_HASH_CONCURRENCY", "0"),
        ("KEYGATE_USERS_INVITE_LIFETIME_SECONDS", "0"),
        ("KEYGATE_USERS_INVITE_LIFETIME_SECONDS", "2592001"),
    ] {
        let e = Config::load(None, env(&[(key, value)]))
            .unwrap_err()
            .to_string();
        let named = key
            .trim_start_matches("KEYGATE_USERS_")
            .to_ascii_lowercase();
        assert!(e.contains(&format!("users.{named}")), "{key}={value}: {e}");
    }
}
