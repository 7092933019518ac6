//! resource-guard's JWT validation against a fixed EdDSA key set: arbitrary strings
//! (and mutations of a real token, from the seed corpus) must be refused without
//! panicking, and nothing but the real token may validate.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use resource_guard::{Guard, StaticJwks};

// A fixed Ed25519 public key (RFC 8037 A.2) published under kid "k1".
const JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}]}"#;

fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        Guard::builder("http://keygate.test", "feedback-api")
            .jwks_provider(Arc::new(StaticJwks(JWKS.into())))
            .refresh_interval(None)
            .min_refetch_interval(std::time::Duration::from_secs(3600))
            .build()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        if let Ok(claims) = guard().validate(token) {
            // Only a token signed by the RFC 8037 key could get here: none is.
            panic!("forged token accepted: {claims:?}");
        }
    }
});
