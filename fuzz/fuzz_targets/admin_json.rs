//! The admin API's JSON bodies and list query strings: parsing must never panic, and
//! every refusal must name a field.
#![no_main]

use admin_api::body::{page_request, parse_json};
use admin_api::ops::{KeypairPatchInput, NameInput, NewKeypairInput};
use admin_api::AdminError;
use libfuzzer_sys::fuzz_target;

fn named<T>(r: Result<T, AdminError>) {
    if let Err(AdminError::BadRequest { field, .. }) = &r {
        assert!(!field.is_empty(), "a 400 without a field");
    }
}

fuzz_target!(|data: &[u8]| {
    named(parse_json::<NewKeypairInput>(data));
    named(parse_json::<KeypairPatchInput>(data));
    named(parse_json::<NameInput>(data));
    if let Ok(q) = std::str::from_utf8(data) {
        named(page_request(q));
    }
});
