//! The `/token` request parser: content type, Authorization header (Basic, with
//! RFC 6749 §2.3.1 decoding) and form body. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_endpoint::{RawRequest, TokenRequest};

const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/x-www-form-urlencoded"),
    Some("application/x-www-form-urlencoded; charset=UTF-8"),
    Some("application/json"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    // Split the rest into an Authorization header and a body at the first 0xff byte.
    let (header, body) = match rest.iter().position(|b| *b == 0xff) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&[][..], rest),
    };
    let header = std::str::from_utf8(header).ok();
    let authorization = match selector & 3 {
        0 => None,
        1 => header,
        // Basic with arbitrary decoded credentials.
        _ => None,
    };
    let encoded;
    let authorization = if selector & 3 >= 2 {
        encoded = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, rest));
        Some(encoded.as_str())
    } else {
        authorization
    };
    let raw = RawRequest {
        content_type: CONTENT_TYPES[usize::from(selector >> 6)],
        authorization,
        body,
    };
    if let Ok(req) = TokenRequest::parse(raw) {
        // Whatever parsed must be usable.
        let _ = req.credentials.client_id.len();
        let _ = req.scope.map(|s| s.to_space_separated());
    }
});
