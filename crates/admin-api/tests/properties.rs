//! Property tests of admin body and query parsing (the fuzz target `admin_json` runs the
//! same code for millions of inputs): nothing panics, every refusal names a field.

#![allow(clippy::unwrap_used)]

use admin_api::body::{page_request, parse_json};
use admin_api::ops::{KeypairPatchInput, NameInput, NewKeypairInput, RotationInput};
use admin_api::AdminError;
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::hash_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("scopes".to_owned()),
                    Just("comment".to_owned()),
                    Just("enabled".to_owned()),
                    Just("token_lifetime_seconds".to_owned()),
                    Just("expires_at".to_owned()),
                    Just("allowed_addresses".to_owned()),
                    Just("previous_secret_expires_in_seconds".to_owned()),
                    Just("end_oldest".to_owned()),
                    "[a-z_]{0,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn names_a_field<T>(r: Result<T, AdminError>) -> bool {
    match r {
        Ok(_) => true,
        Err(AdminError::BadRequest { field, .. }) => !field.is_empty(),
        Err(_) => false,
    }
}

proptest! {
    #[test]
    fn arbitrary_json_is_parsed_or_refused_naming_a_field(v in json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        prop_assert!(names_a_field(parse_json::<NewKeypairInput>(&bytes)));
        prop_assert!(names_a_field(parse_json::<KeypairPatchInput>(&bytes)));
        prop_assert!(names_a_field(parse_json::<NameInput>(&bytes)));
        prop_assert!(names_a_field(parse_json::<RotationInput>(&bytes)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(names_a_field(parse_json::<NewKeypairInput>(&bytes)));
        if let Ok(q) = std::str::from_utf8(&bytes) {
            prop_assert!(names_a_field(page_request(q)));
        }
    }
}
