//! Backup and restore as docs/deployment.md tells it: `keygate backup FILE` while the
//! server runs, the copy and the key-encryption key restored into a fresh directory,
//! and a token signed before the backup verifies against the restored server's keys;
//! the keypairs work there too.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;

use crate::support::{agent, call, keygate, run, Server};
use crate::tokens::bootstrap;

fn token(server: &Server, id: &str, secret: &str) -> String {
    let r = agent().post(&server.url("/token")).send_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ]);
    let body: Value = serde_json::from_str(&r.unwrap().into_string().unwrap()).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[test]
fn a_backup_taken_while_serving_restores_into_a_fresh_directory() {
    let old = tempfile::tempdir().unwrap();
    let (id, secret) = bootstrap(old.path());
    let server = Server::start(old.path(), &[]);
    let before = token(&server, &id, &secret);

    // While it serves (and writes: the token above recorded its keypair's use).
    let copy = old.path().join("keygate-backup.db");
    let out = run({
        let mut c = keygate(old.path());
        c.arg("backup").arg(&copy);
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(line["bytes"].as_u64().unwrap() > 0);
    // Private, like the database itself: it holds digests and sealed keys.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    // A second backup to the same file is refused, the first left as it was.
    let again = run({
        let mut c = keygate(old.path());
        c.arg("backup").arg(&copy);
        c
    });
    assert!(!again.status.success());
    let issuer = server.base.clone();
    drop(server);

    // Restore: the copy as the database, and the key-encryption key beside it.
    let new = tempfile::tempdir().unwrap();
    std::fs::create_dir(new.path().join("data")).unwrap();
    std::fs::copy(&copy, new.path().join("data/keygate.db")).unwrap();
    std::fs::copy(
        old.path().join("data/key-encryption-key"),
        new.path().join("data/key-encryption-key"),
    )
    .unwrap();
    let restored = Server::start(new.path(), &[]);
    let (status, jwks) = call(agent().get(&restored.url("/.well-known/jwks.json")));
    assert_eq!(status, 200);
    let jwks: JwkSet = serde_json::from_str(&jwks).unwrap();
    let header = jsonwebtoken::decode_header(&before).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("the signing key came back with the database");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[issuer.as_str()]);
    v.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(&before, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .expect("a token signed before the backup verifies after the restore");
    assert_eq!(claims.claims["client_id"], id.as_str());
    // The keypair works at the restored server.
    let after = token(&restored, &id, &secret);
    assert!(!after.is_empty());
}
