//! Parsing a `/token` request into types at the edge (RFC 6749 §2.3, §3.2, §4.4.2;
//! RFC 8707 §2). Everything after this module works on a [`TokenRequest`].

use std::net::IpAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keypair_store::{ClientSecret, ScopeSet};

use crate::error::TokenError;

/// How the client authenticated (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
}

const UNSPECIFIED: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// Presented client credentials. `Debug` hides the secret.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// How they were sent.
    pub method: AuthMethod,
    /// The claimed client id (unverified).
    pub client_id: String,
    /// The presented secret (unverified).
    pub secret: ClientSecret,
    /// Where they came from, as the throttle sees it (the TCP peer, or the trusted
    /// forwarding header): the HTTP layer sets it after parsing. Until then it is the
    /// unspecified address, which no allowlist entry other than `0.0.0.0/0` admits.
    pub address: IpAddr,
}

/// A well-formed client credentials grant request.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// Who is asking.
    pub credentials: ClientCredentials,
    /// Requested scopes; `None` means the keypair's default scopes.
    pub scope: Option<ScopeSet>,
    /// `resource` (RFC 8707) or `audience`: narrows the grant to one audience.
    pub target: Option<String>,
}

/// The parts of an HTTP request the grant reads.
#[derive(Clone, Copy, Debug)]
pub struct RawRequest<'a> {
    /// The `Content-Type` header, if any.
    pub content_type: Option<&'a str>,
    /// The `Authorization` header, if any (the caller rejects repeated headers).
    pub authorization: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// A well-formed `/revoke` (RFC 7009 §2.1) or `/introspect` (RFC 7662 §2.1) request.
/// `token_type_hint` is accepted and ignored: keygate issues access tokens only.
#[derive(Clone)]
pub struct TokenStatusRequest {
    /// Who is asking.
    pub credentials: ClientCredentials,
    /// The presented token (unverified). `Debug` hides it.
    pub token: String,
}

impl std::fmt::Debug for TokenStatusRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStatusRequest")
            .field("credentials", &self.credentials)
            .field("token", &"***")
            .finish()
    }
}

const GRANT_TYPE: &str = "client_credentials";
const KNOWN: [&str; 6] = [
    "grant_type",
    "scope",
    "resource",
    "audience",
    "client_id",
    "client_secret",
];
const KNOWN_STATUS: [&str; 4] = ["token", "token_type_hint", "client_id", "client_secret"];

fn invalid(msg: impl Into<String>) -> TokenError {
    TokenError::InvalidRequest(msg.into())
}

impl TokenRequest {
    /// Parses and checks a request; errors carry the RFC 6749 code to answer with.
    pub fn parse(raw: RawRequest<'_>) -> Result<TokenRequest, TokenError> {
        let form = parse_form(raw.content_type, raw.body, &KNOWN)?;
        let get = |name: &str| get(&form, name);

        match get("grant_type") {
            None => return Err(invalid("missing grant_type")),
            Some(GRANT_TYPE) => {}
            Some(_) => return Err(TokenError::UnsupportedGrantType),
        }

        let credentials = credentials(raw.authorization, &form)?;

        let scope = get("scope")
            .map(|s| {
                ScopeSet::parse_space_separated(s)
                    .map_err(|_| TokenError::InvalidScope("malformed scope".into()))
            })
            .transpose()?
            .filter(|s| !s.is_empty());

        let target = match (get("resource"), get("audience")) {
            (Some(_), Some(_)) => return Err(invalid("give resource or audience, not both")),
            (Some(t), None) | (None, Some(t)) => Some(t.to_owned()),
            (None, None) => None,
        };

        Ok(TokenRequest {
            credentials,
            scope,
            target,
        })
    }
}

impl TokenStatusRequest {
    /// Parses and checks a `/revoke` or `/introspect` request: the body format,
    /// parameter and client authentication rules of `/token`, and a required `token`.
    pub fn parse(raw: RawRequest<'_>) -> Result<TokenStatusRequest, TokenError> {
        let form = parse_form(raw.content_type, raw.body, &KNOWN_STATUS)?;
        let credentials = credentials(raw.authorization, &form)?;
        let token = get(&form, "token")
            .ok_or_else(|| invalid("missing token"))?
            .to_owned();
        Ok(TokenStatusRequest { credentials, token })
    }
}

fn get<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The client's credentials: HTTP Basic or body parameters, exactly one of them.
fn credentials(
    authorization: Option<&str>,
    form: &[(String, String)],
) -> Result<ClientCredentials, TokenError> {
    let body_id = get(form, "client_id");
    let body_secret = get(form, "client_secret");
    match (authorization, body_id, body_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err(invalid("use one client authentication method, not both"))
        }
        (Some(header), None, None) => parse_basic(header),
        (None, Some(id), Some(secret)) => Ok(ClientCredentials {
            method: AuthMethod::Post,
            client_id: id.to_owned(),
            secret: ClientSecret::from_presented(secret),
            address: UNSPECIFIED,
        }),
        (None, None, Some(_)) => Err(invalid("client_secret without client_id")),
        // No secret at all: this server has confidential clients only.
        (None, _, None) => Err(TokenError::InvalidClient),
    }
}

/// The form body as (name, value) pairs: only the `known` parameters, each at most
/// once, empty values dropped (RFC 6749 §3.1: "treated as if they were omitted").
fn parse_form(
    content_type: Option<&str>,
    body: &[u8],
    known: &[&str],
) -> Result<Vec<(String, String)>, TokenError> {
    let media_type = content_type.map(request_body::parse_media_type);
    if media_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(invalid(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let text = std::str::from_utf8(body).map_err(|_| invalid("the body is not UTF-8"))?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (form_decode(k), form_decode(v)) else {
            return Err(invalid("a parameter is not valid UTF-8 after decoding"));
        };
        if !known.contains(&k.as_str()) {
            continue; // RFC 6749 §3.2: unrecognized parameters are ignored
        }
        if pairs.iter().any(|(seen, _)| *seen == k) {
            return Err(invalid(format!("parameter `{k}` is given more than once")));
        }
        pairs.push((k, v));
    }
    pairs.retain(|(_, v)| !v.is_empty());
    Ok(pairs)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Result<ClientCredentials, TokenError> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        // An authentication method we do not support.
        return Err(TokenError::InvalidClient);
    }
    let decoded = STANDARD
        .decode(rest.trim())
        .map_err(|_| invalid("malformed Basic credentials"))?;
    let text = String::from_utf8(decoded).map_err(|_| invalid("malformed Basic credentials"))?;
    let (id, secret) = text
        .split_once(':')
        .ok_or_else(|| invalid("malformed Basic credentials"))?;
    let (Some(id), Some(secret)) = (form_decode(id), form_decode(secret)) else {
        return Err(invalid("malformed Basic credentials"));
    };
    if id.is_empty() {
        return Err(TokenError::InvalidClient);
    }
    Ok(ClientCredentials {
        method: AuthMethod::Basic,
        client_id: id,
        secret: ClientSecret::from_presented(&secret),
        address: UNSPECIFIED,
    })
}

/// Undoes `application/x-www-form-urlencoded` encoding of one value, strictly: `None`
/// when the decoded bytes are not UTF-8 (a lossy decoder would turn them into U+FFFD
/// and could not tell them from a real U+FFFD).
fn form_decode(s: &str) -> Option<String> {
    let plus_as_space = s.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus_as_space).collect();
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn parse(auth: Option<&str>, body: &str) -> Result<TokenRequest, TokenError> {
        TokenRequest::parse(RawRequest {
            content_type: FORM,
            authorization: auth,
            body: body.as_bytes(),
        })
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let r = parse(
            Some(&basic("kg_a%2Bb", "s%3Ac+d")),
            "grant_type=client_credentials",
        )
        .unwrap();
        assert_eq!(r.credentials.method, AuthMethod::Basic);
        assert_eq!(r.credentials.client_id, "kg_a+b");
        assert_eq!(r.credentials.secret.expose(), "s:c d");
        assert!(r.scope.is_none() && r.target.is_none());
    }

    #[test]
    fn post_credentials_and_parameters() {
        let r = parse(
            None,
            "grant_type=client_credentials&client_id=kg_x&client_secret=s&scope=b+a&resource=feedback-api&x=ignored",
        )
        .unwrap();
        assert_eq!(r.credentials.method, AuthMethod::Post);
        assert_eq!(r.scope.unwrap().to_space_separated(), "a b");
        assert_eq!(r.target.as_deref(), Some("feedback-api"));
    }

    #[test]
    fn request_errors() {
        let b = basic("kg_x", "s");
        let cases: Vec<(Option<&str>, &str, &str)> = vec![
            (Some(&b), "", "invalid_request"),
            (Some(&b), "scope=a", "invalid_request"),
            (Some(&b), "grant_type=password", "unsupported_grant_type"),
            (
                Some(&b),
                "grant_type=client_credentials&grant_type=client_credentials",
                "invalid_request",
            ),
            (
                Some(&b),
                "grant_type=client_credentials&scope=a&scope=b",
                "invalid_request",
            ),
            (
                Some(&b),
                "grant_type=client_credentials&client_id=kg_x",
                "invalid_request",
            ),
            (
                Some(&b),
                "grant_type=client_credentials&client_secret=s",
                "invalid_request",
            ),
            (
                None,
                "grant_type=client_credentials&client_secret=s",
                "invalid_request",
            ),
            (None, "grant_type=client_credentials", "invalid_client"),
            (
                None,
                "grant_type=client_credentials&client_id=kg_x",
                "invalid_client",
            ),
            (
                Some("Bearer abc"),
                "grant_type=client_credentials",
                "invalid_client",
            ),
            (
                Some("Basic !!!"),
                "grant_type=client_credentials",
                "invalid_request",
            ),
            (
                Some("Basic a2dfeA"),
                "grant_type=client_credentials",
                "invalid_request",
            ),
            (
                Some(&b),
                "grant_type=client_credentials&scope=%22quoted%22",
                "invalid_scope",
            ),
            (
                Some(&b),
                "grant_type=client_credentials&resource=a&audience=b",
                "invalid_request",
            ),
            (
                Some(&b),
                "grant_type=client_credentials&scope=%FF",
                "invalid_request",
            ),
        ];
        for (auth, body, code) in cases {
            let got = parse(auth, body).map(|_| ()).unwrap_err();
            assert_eq!(got.code(), code, "{auth:?} {body:?}: {got:?}");
        }
    }

    #[test]
    fn body_format_errors() {
        for (ct, body) in [
            (None, b"grant_type=client_credentials".as_slice()),
            (
                Some("application/json"),
                br#"{"grant_type":"client_credentials"}"#.as_slice(),
            ),
            (FORM, b"grant_type=client_credentials&\xff\xfe".as_slice()),
        ] {
            let e = TokenRequest::parse(RawRequest {
                content_type: ct,
                authorization: None,
                body,
            })
            .unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{ct:?}");
        }
        let ok = TokenRequest::parse(RawRequest {
            content_type: Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
            authorization: Some(&basic("kg_x", "s")),
            body: b"grant_type=client_credentials",
        });
        assert!(ok.is_ok());
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let r = parse(
            Some(&basic("kg_x", "s")),
            "grant_type=client_credentials&scope=&resource=",
        )
        .unwrap();
        assert!(r.scope.is_none() && r.target.is_none());
    }
}
