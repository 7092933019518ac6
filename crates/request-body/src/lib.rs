#![doc = include_str!("../README.md")]

use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::HttpRequest;
use futures_util::{Stream, StreamExt as _};

/// Why a body could not be read. Callers map it to their protocol's error.
#[derive(Debug)]
pub enum BodyError {
    /// The declared `Content-Length`, or the bytes actually sent, exceed the limit.
    TooLarge,
    /// The connection failed or the transfer encoding was broken while reading.
    Unreadable(PayloadError),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("the request body is too large"),
            BodyError::Unreadable(e) => write!(f, "the request body is unreadable: {e}"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::TooLarge => None,
            BodyError::Unreadable(e) => Some(e),
        }
    }
}

/// The request's media type: its first `Content-Type` header without parameters,
/// trimmed and lowercased. `None` when the header is absent or not visible ASCII.
pub fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(parse_media_type)
}

/// The media type of a `Content-Type` value: everything before the first `;`,
/// trimmed and lowercased (RFC 9110 §8.3.1: type and subtype are case-insensitive).
pub fn parse_media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The `Content-Length` the client declared, if it is a number.
fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// Reads the whole body of `req` from `payload`, at most `limit` bytes.
///
/// A declared `Content-Length` over `limit` is refused before reading; otherwise the
/// body is read chunk by chunk and refused as soon as it would pass `limit`, so a
/// chunked body without a length cannot make the server buffer more than `limit`.
pub async fn read_limited<S>(
    req: &HttpRequest,
    mut payload: S,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    if declared_length(req).is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(BodyError::Unreadable)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use actix_web::test::TestRequest;
    use futures_util::stream;

    /// A body sent in `chunks` with no `Content-Length` (chunked transfer).
    fn chunked(chunks: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, PayloadError>> {
        stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c)))
                .collect::<Vec<_>>(),
        )
    }

    fn bare() -> HttpRequest {
        TestRequest::post().to_http_request()
    }

    #[actix_web::test]
    async fn a_body_exactly_at_the_limit_is_read_and_one_byte_over_is_refused() {
        // Declared length (TestRequest sets Content-Length from the payload).
        let (req, payload) = TestRequest::post()
            .set_payload("0123456789")
            .to_http_parts();
        let body = read_limited(&req, payload, 10).await.unwrap();
        assert_eq!(&body[..], b"0123456789");
        let (req, payload) = TestRequest::post()
            .set_payload("0123456789a")
            .to_http_parts();
        assert!(matches!(
            read_limited(&req, payload, 10).await,
            Err(BodyError::TooLarge)
        ));
        // Chunked, no declared length: counted while reading.
        let body = read_limited(&bare(), chunked(&[b"01234", b"56789"]), 10)
            .await
            .unwrap();
        assert_eq!(&body[..], b"0123456789");
        assert!(matches!(
            read_limited(&bare(), chunked(&[b"01234", b"56789", b"a"]), 10).await,
            Err(BodyError::TooLarge)
        ));
        // Empty is fine.
        assert!(read_limited(&bare(), chunked(&[]), 10)
            .await
            .unwrap()
            .is_empty());
    }

    #[actix_web::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let req = TestRequest::post()
            .insert_header((header::CONTENT_LENGTH, "11"))
            .to_http_request();
        // The stream would fail if polled: refusing must not read it.
        let poisoned = stream::iter(vec![Err::<Bytes, _>(PayloadError::Incomplete(None))]);
        assert!(matches!(
            read_limited(&req, poisoned, 10).await,
            Err(BodyError::TooLarge)
        ));
        // A declared length that is not a number is ignored; the bytes still count.
        let req = TestRequest::post()
            .insert_header((header::CONTENT_LENGTH, "lots"))
            .to_http_request();
        assert!(matches!(
            read_limited(&req, chunked(&[b"0123456789a"]), 10).await,
            Err(BodyError::TooLarge)
        ));
        // An honest declared length under the limit does not excuse a longer body.
        let req = TestRequest::post()
            .insert_header((header::CONTENT_LENGTH, "2"))
            .to_http_request();
        assert!(matches!(
            read_limited(&req, chunked(&[b"0123456789a"]), 10).await,
            Err(BodyError::TooLarge)
        ));
    }

    #[actix_web::test]
    async fn a_broken_transfer_is_unreadable() {
        let broken = stream::iter(vec![
            Ok(Bytes::from_static(b"0123")),
            Err(PayloadError::Incomplete(None)),
        ]);
        let err = read_limited(&bare(), broken, 10).await.unwrap_err();
        assert!(matches!(err, BodyError::Unreadable(_)), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("the request body is unreadable"));
    }

    #[test]
    fn media_types_lose_parameters_and_case() {
        for (value, expected) in [
            ("application/json", "application/json"),
            ("Application/JSON; charset=UTF-8", "application/json"),
            (
                " application/x-www-form-urlencoded ;charset=utf-8",
                "application/x-www-form-urlencoded",
            ),
            ("multipart/form-data; boundary=x", "multipart/form-data"),
            ("", ""),
            (";charset=utf-8", ""),
        ] {
            assert_eq!(parse_media_type(value), expected, "{value:?}");
            let req = TestRequest::post()
                .insert_header((header::CONTENT_TYPE, value))
                .to_http_request();
            assert_eq!(media_type(&req).as_deref(), Some(expected), "{value:?}");
        }
        assert_eq!(media_type(&bare()), None, "no Content-Type");
        let not_ascii = TestRequest::post()
            .insert_header((
                header::CONTENT_TYPE,
                header::HeaderValue::from_bytes(b"application/json\xff").unwrap(),
            ))
            .to_http_request();
        assert_eq!(media_type(&not_ascii), None);
    }
}
