//! Request bodies and query strings, parsed at the edge with errors that name the
//! field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use keypair_store::PageRequest;
use request_body::BodyError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::AdminError;

/// Largest accepted JSON body (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body: `application/json` (else 415), at most 64 KiB (else 413), parsed into
/// `T` (else 400 naming the field: unknown fields, wrong types, missing fields).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            require_json(&req)?;
            let body = read(&req, payload).await?;
            parse_json(&body).map(JsonBody)
        })
    }
}

/// A JSON body that may be left out: no body at all (or zero bytes, whatever the
/// `Content-Type`) is `None`; anything else is held to [`JsonBody`]'s rules
/// (`application/json`, at most 64 KiB, exactly one object parsed into `T`).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let body = read(&req, payload).await?;
            if body.is_empty() {
                return Ok(OptionalJsonBody(None));
            }
            require_json(&req)?;
            parse_json(&body).map(|v| OptionalJsonBody(Some(v)))
        })
    }
}

/// 415 unless the body is declared `application/json`.
fn require_json(req: &HttpRequest) -> Result<(), AdminError> {
    match request_body::media_type(req).as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(AdminError::UnsupportedMediaType),
    }
}

async fn read(req: &HttpRequest, payload: Payload) -> Result<actix_web::web::Bytes, AdminError> {
    request_body::read_limited(req, payload, MAX_BODY_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => AdminError::PayloadTooLarge,
            BodyError::Unreadable(_) => AdminError::bad("body", "unreadable body"),
        })
}

/// Parses a body that is exactly one JSON object (whitespace around it allowed) into
/// `T`, naming the field at fault. Anything after the object is refused as `body`, so
/// `{"enabled":false}{"enabled":true}` cannot half-apply.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AdminError::bad("body", "a JSON object is required"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return AdminError::bad("body", "malformed JSON");
        }
        // The root, or an unknown key that is itself empty (`{"": ...}`), names no field.
        let field = if path == "." || path.is_empty() {
            "body".to_owned()
        } else {
            path
        };
        // serde's message without its "at line N column M" suffix.
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        AdminError::bad(field, message)
    })?;
    de.end()
        .map_err(|_| AdminError::bad("body", "data after the JSON object"))?;
    Ok(value)
}

/// A time in a body, given as an RFC 3339 string (`2027-01-31T12:00:00Z`); anything
/// else is refused while parsing, so the 400 names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc3339Time(pub OffsetDateTime);

impl<'de> Deserialize<'de> for Rfc3339Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OffsetDateTime::parse(&s, &Rfc3339)
            .map(Rfc3339Time)
            .map_err(|_| {
                serde::de::Error::custom("must be an RFC 3339 time such as 2027-01-31T12:00:00Z")
            })
    }
}

/// For `Option<Option<T>>` fields with `#[serde(default, deserialize_with =
/// "nullable")]`: an absent field stays `None` (leave it as it is), `null` is
/// `Some(None)` (clear it), a value is `Some(Some(v))`.
pub fn nullable<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `?limit=&cursor=` of list routes.
pub fn page_request(query: &str) -> Result<PageRequest, AdminError> {
    let mut limit = None;
    let mut cursor = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "limit" => &mut limit,
            "cursor" => &mut cursor,
            _ => continue,
        };
        if slot.is_some() {
            return Err(AdminError::bad(k.into_owned(), "given more than once"));
        }
        *slot = Some(v.into_owned());
    }
    let limit = limit
        .map(|l| {
            l.parse::<u32>()
                .map_err(|_| AdminError::bad("limit", "must be a whole number"))
        })
        .transpose()?;
    Ok(PageRequest::new(limit, cursor.as_deref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        enabled: Option<bool>,
    }

    fn field_of(body: &str) -> String {
        match parse_json::<Input>(body.as_bytes()) {
            Err(AdminError::BadRequest { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(r#"{"name": 3}"#), "name");
        assert_eq!(field_of(r#"{"name": "a", "enabled": "yes"}"#), "enabled");
        assert_eq!(field_of(r#"{"name": "a", "extra": 1}"#), "extra");
        assert_eq!(field_of(r#"{}"#), "body");
        assert_eq!(field_of(r#"{"name": "a""#), "body");
        assert_eq!(field_of(""), "body");
        assert_eq!(field_of("[1,2]"), "body");
        // Found by the admin_json fuzz target: an empty unknown key.
        assert_eq!(field_of("{\"\"\u{0}\u{0}\u{0}"), "body");
        assert_eq!(field_of(r#"{"": 1}"#), "body");
    }

    #[test]
    fn the_body_is_exactly_one_object() {
        assert!(parse_json::<Input>(b" {\"name\": \"a\"} \r\n\t").is_ok());
        assert_eq!(field_of(r#"{"name": "a"}{"name": "b"}"#), "body");
        assert_eq!(field_of(r#"{"name": "a"} this is not JSON"#), "body");
        assert_eq!(field_of(r#"{"name": "a"} 1"#), "body");
        assert_eq!(field_of(r#"{"name": "a"}}"#), "body");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, deserialize_with = "nullable")]
        at: Option<Option<Rfc3339Time>>,
    }

    #[test]
    fn nullable_tells_absent_from_null() {
        let at = |body: &str| parse_json::<Patch>(body.as_bytes()).map(|p| p.at);
        assert_eq!(at("{}").ok(), Some(None));
        assert_eq!(at(r#"{"at": null}"#).ok(), Some(Some(None)));
        let t = at(r#"{"at": "2027-01-31T12:00:00+01:00"}"#).ok();
        assert_eq!(
            t.flatten().flatten().map(|t| t.0.unix_timestamp()),
            Some(1_801_393_200)
        );
        for bad in [
            r#"{"at": "2027-01-31"}"#,
            r#"{"at": "tomorrow"}"#,
            r#"{"at": 1801393200}"#,
            r#"{"at": "2027-01-31T12:00:00"}"#,
        ] {
            match at(bad) {
                Err(AdminError::BadRequest { field, .. }) => assert_eq!(field, "at", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn page_queries() {
        assert!(page_request("").is_ok());
        assert!(page_request("limit=10").is_ok());
        for bad in [
            "limit=x",
            "limit=0",
            "limit=1000",
            "limit=1&limit=2",
            "cursor=%%%",
        ] {
            assert!(page_request(bad).is_err(), "{bad}");
        }
    }
}
