//! Cross-site request forgery defences: every state-changing request carries a token
//! that only a page of ours can know, and an `Origin` (or, without one, a `Referer`)
//! of the issuer's origin.
//!
//! - Signed in: the token is derived from the session id (SHA-256 over a domain label
//!   and the id), so it changes with every session and never reveals the id.
//! - Before a session (sign-in, setup): from a random pre-session cookie, the same way
//!   under another label.
//!
//! Tokens are compared in constant time.

use actix_web::http::header;
use actix_web::HttpRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keypair_store::SessionId;
use ring::digest::{Context, SHA256};
use ring::rand::{SecureRandom as _, SystemRandom};
use subtle::ConstantTimeEq as _;

use crate::settings::Site;

/// The form field every state-changing form carries.
pub(crate) const FIELD: &str = "csrf_token";

const SESSION_LABEL: &[u8] = b"keygate console csrf token: session\0";
const PRE_SESSION_LABEL: &[u8] = b"keygate console csrf token: pre-session\0";

fn derive(label: &[u8], secret: &str) -> String {
    let mut ctx = Context::new(&SHA256);
    ctx.update(label);
    ctx.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(ctx.finish().as_ref())
}

/// The token of a signed-in page.
pub(crate) fn session_token(id: &SessionId) -> String {
    derive(SESSION_LABEL, id.expose())
}

/// The token of a page shown before a session, from the pre-session cookie's value.
pub(crate) fn pre_session_token(cookie: &str) -> String {
    derive(PRE_SESSION_LABEL, cookie)
}

/// A new pre-session cookie value: 256 random bits.
pub(crate) fn new_pre_session_value() -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `presented` is `expected`, in time that does not depend on where they
/// differ.
pub(crate) fn token_matches(expected: &str, presented: &str) -> bool {
    bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// Whether the request says it comes from a page of `site`: its `Origin` is the
/// site's origin, or, with no `Origin`, its `Referer` is a URL on the site. Neither
/// (or `Origin: null`): no.
pub(crate) fn same_origin(req: &HttpRequest, site: &Site) -> bool {
    let one = |name| {
        let mut values = req.headers().get_all(name);
        match (values.next(), values.next()) {
            (Some(v), None) => Some(v.to_str().ok()),
            (None, _) => None,
            // Two of them: refused.
            (Some(_), Some(_)) => Some(None),
        }
    };
    match one(header::ORIGIN) {
        Some(origin) => origin.is_some_and(|o| o.eq_ignore_ascii_case(&site.origin)),
        None => match one(header::REFERER) {
            Some(Some(referer)) => {
                referer
                    .get(..site.origin.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(&site.origin))
                    && matches!(referer.as_bytes().get(site.origin.len()), None | Some(b'/'))
            }
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn site() -> Site {
        Site::from_issuer("https://keygate.example")
    }

    fn check(headers: &[(&str, &str)]) -> bool {
        let mut req = TestRequest::post();
        for (k, v) in headers {
            req = req.append_header((*k, *v));
        }
        same_origin(&req.to_http_request(), &site())
    }

    #[test]
    fn only_the_issuers_origin_counts() {
        assert!(check(&[("origin", "https://keygate.example")]));
        assert!(!check(&[("origin", "https://evil.example")]));
        assert!(!check(&[("origin", "http://keygate.example")]));
        assert!(!check(&[(
            "origin",
            "https://keygate.example.evil.example"
        )]));
        assert!(!check(&[("origin", "null")]));
        assert!(!check(&[]));
        // The Referer counts only without an Origin.
        assert!(check(&[(
            "referer",
            "https://keygate.example/console/sign-in"
        )]));
        assert!(check(&[("referer", "https://keygate.example")]));
        assert!(!check(&[(
            "referer",
            "https://keygate.example.evil.example/"
        )]));
        assert!(!check(&[("referer", "https://keygate.examplex/")]));
        assert!(!check(&[
            ("origin", "https://evil.example"),
            ("referer", "https://keygate.example/console")
        ]));
        assert!(!check(&[
            ("origin", "https://keygate.example"),
            ("origin", "https://evil.example")
        ]));
    }

    #[test]
    fn tokens_are_derived_not_the_secret_and_differ_by_kind() {
        let id = SessionId::from_presented("abc");
        let t = session_token(&id);
        assert!(!t.contains("abc"));
        assert_ne!(t, pre_session_token("abc"));
        assert!(token_matches(&t, &session_token(&id)));
        assert!(!token_matches(
            &t,
            &session_token(&SessionId::from_presented("abd"))
        ));
        assert!(!token_matches(&t, ""));
        assert!(!token_matches(&t, &t[..t.len() - 1]));
    }
}
