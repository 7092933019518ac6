//! Property tests of token validation (the fuzz target `guard_validate` runs the same
//! code for millions of inputs): nothing but an untouched token validates, and
//! nothing panics.

use proptest::prelude::*;

use crate::support;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_are_refused_without_panicking(s in ".{0,600}") {
        let (guard, _) = support::issuer_guard();
        prop_assert!(guard.validate(&s).is_err());
    }

    #[test]
    fn any_single_character_change_is_refused(pos in any::<prop::sample::Index>(), c in "[A-Za-z0-9_.-]") {
        let (guard, _) = support::issuer_guard();
        let token = support::sign(&support::issuer_keys().ed, &support::claims());
        let original = guard.validate(&token).expect("a valid token");
        let mut chars: Vec<char> = token.chars().collect();
        let i = pos.index(chars.len());
        let replacement = c.chars().next().unwrap();
        prop_assume!(chars[i] != replacement);
        chars[i] = replacement;
        let tampered: String = chars.into_iter().collect();
        // Base64 padding bits aside, every change must break the token.
        if let Ok(claims) = guard.validate(&tampered) {
            prop_assert_eq!(claims, original, "only a change that decodes to the same bytes may pass");
        }
    }
}
