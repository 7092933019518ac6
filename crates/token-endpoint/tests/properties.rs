//! Property tests of the `/token` request parser (the fuzz target `token_request` runs
//! the same code for millions of inputs; see docs/security.md).

#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use token_endpoint::{AuthMethod, RawRequest, TokenRequest};

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// RFC 6749 §2.3.1 / application/x-www-form-urlencoded encoding of one value.
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

proptest! {
    #[test]
    fn arbitrary_requests_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512),
                                       header in proptest::option::of(".{0,200}"),
                                       ct in proptest::option::of(".{0,60}")) {
        let _ = TokenRequest::parse(RawRequest { content_type: ct.as_deref(), authorization: header.as_deref(), body: &body });
        let _ = TokenRequest::parse(RawRequest { content_type: FORM, authorization: header.as_deref(), body: &body });
    }

    #[test]
    fn basic_credentials_round_trip(id in "[^:]{1,40}", secret in ".{0,60}") {
        let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", form_encode(&id), form_encode(&secret))));
        let req = TokenRequest::parse(RawRequest { content_type: FORM, authorization: Some(&header), body: b"grant_type=client_credentials" }).unwrap();
        prop_assert_eq!(req.credentials.method, AuthMethod::Basic);
        prop_assert_eq!(&req.credentials.client_id, &id);
        prop_assert_eq!(req.credentials.secret.expose(), secret.as_str());
    }

    #[test]
    fn post_credentials_round_trip(id in ".{1,40}", secret in ".{1,60}", scope in "[a-z:]{1,20}( [a-z:]{1,20}){0,3}") {
        let body = format!("grant_type=client_credentials&client_id={}&client_secret={}&scope={}", form_encode(&id), form_encode(&secret), form_encode(&scope));
        let req = TokenRequest::parse(RawRequest { content_type: FORM, authorization: None, body: body.as_bytes() }).unwrap();
        prop_assert_eq!(req.credentials.method, AuthMethod::Post);
        prop_assert_eq!(&req.credentials.client_id, &id);
        prop_assert_eq!(req.credentials.secret.expose(), secret.as_str());
        prop_assert!(req.scope.is_some());
    }

    #[test]
    fn any_duplicated_parameter_is_invalid_request(name in prop::sample::select(vec!["grant_type", "scope", "resource", "audience", "client_id", "client_secret"]),
                                                   a in "[a-z]{1,10}", b in "[a-z]{1,10}") {
        let body = format!("grant_type=client_credentials&{name}={a}&{name}={b}");
        let header = format!("Basic {}", STANDARD.encode("kg_x:s"));
        let err = TokenRequest::parse(RawRequest { content_type: FORM, authorization: Some(&header), body: body.as_bytes() }).unwrap_err();
        prop_assert_eq!(err.code(), "invalid_request");
    }
}
