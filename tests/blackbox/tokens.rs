//! Tokens from the real binary, fetched by a client library that knows nothing of
//! keygate (the `oauth2` crate) and verified by jsonwebtoken from the served JWKS;
//! `keygate keys rotate` and restarts.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use serde_json::Value;

use crate::support::{agent, call, keygate, run, Server};

pub(crate) fn bootstrap(dir: &std::path::Path) -> (String, String) {
    let out = run({
        let mut c = keygate(dir);
        c.arg("bootstrap");
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["client_id"].as_str().unwrap().to_owned(),
        v["client_secret"].as_str().unwrap().to_owned(),
    )
}

pub(crate) fn oauth2_token(server: &Server, id: &str, secret: &str, auth: AuthType) -> String {
    let client = BasicClient::new(ClientId::new(id.to_owned()))
        .set_client_secret(ClientSecret::new(secret.to_owned()))
        .set_token_uri(TokenUrl::new(server.url("/token")).unwrap())
        .set_auth_type(auth);
    let http = ureq::AgentBuilder::new().redirects(0).build();
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("keygate:operator".into()))
        .request(&http)
        .unwrap_or_else(|e| panic!("oauth2 client credentials flow failed: {e:?}"));
    assert_eq!(token.token_type().as_ref(), "bearer");
    let lifetime = token.expires_in().expect("expires_in").as_secs();
    assert_eq!(lifetime, 3600);
    token.access_token().secret().clone()
}

/// Verifies with keys discovered the way a resource server would: metadata → jwks_uri.
fn verify(server: &Server, token: &str) -> Value {
    let (_, meta) = call(agent().get(&server.url("/.well-known/oauth-authorization-server")));
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["issuer"], server.base);
    let (_, jwks) = call(agent().get(meta["jwks_uri"].as_str().unwrap()));
    let jwks: JwkSet = serde_json::from_str(&jwks).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&server.base]);
    v.set_audience(&[&server.base]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .expect("token verifies")
        .claims
}

pub(crate) fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[test]
fn an_oauth2_client_gets_verifiable_tokens_with_basic_and_form_auth() {
    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = bootstrap(dir.path());
    let server = Server::start(dir.path(), &[]);
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let token = oauth2_token(&server, &id, &secret, auth);
        let claims = verify(&server, &token);
        assert_eq!(claims["client_id"], id);
        assert_eq!(claims["scope"], "keygate:operator");
    }
    let key_file = dir.path().join("data/key-encryption-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        server.log().contains("key-encryption key"),
        "the log says where the KEK is"
    );
}

#[test]
fn rotation_by_the_cli_and_restarts_keep_tokens_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = bootstrap(dir.path());
    // Reload keys every second so the running server picks up the CLI rotation.
    let env = [("KEYGATE_KEY_RELOAD_INTERVAL_SECONDS", "1")];
    let server = Server::start(dir.path(), &env);
    let before = oauth2_token(&server, &id, &secret, AuthType::BasicAuth);

    // With no publish lead the new key signs as soon as the server has re-read the
    // keys (cli.rs tests the default lead).
    let out = run({
        let mut c = keygate(dir.path());
        c.args(["keys", "rotate"])
            .env("KEYGATE_KEY_PUBLISH_LEAD_SECONDS", "0");
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, kid(&before));

    let deadline = clock::Clock::system().instant() + std::time::Duration::from_secs(15);
    let after = loop {
        let t = oauth2_token(&server, &id, &secret, AuthType::BasicAuth);
        if kid(&t) == new_kid || clock::Clock::system().instant() > deadline {
            break t;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(
        kid(&after),
        new_kid,
        "the running server signs with the rotated key"
    );
    verify(&server, &before);
    let port = server.port;
    drop(server);

    let restarted = Server::start_on(dir.path(), port, &env);
    verify(&restarted, &before);
    verify(&restarted, &after);
    assert_eq!(
        kid(&oauth2_token(
            &restarted,
            &id,
            &secret,
            AuthType::RequestBody
        )),
        new_kid
    );
    assert!(
        !restarted.log().contains(&secret),
        "the secret never reaches the log"
    );
    assert!(
        !restarted.log().contains(&after),
        "tokens never reach the log"
    );
}
