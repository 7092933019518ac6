//! Bounds on free text that administrators store.

use crate::error::{StoreError, StoreResult};

/// Longest account or environment name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest keypair comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// A name: 1 to 200 characters after trimming, no control characters.
pub(crate) fn name(field: &'static str, value: &str) -> StoreResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(StoreError::invalid(
            field,
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(StoreError::invalid(field, "contains control characters"));
    }
    if v.chars().any(is_spoofing) {
        return Err(StoreError::invalid(
            field,
            "contains bidirectional-override or zero-width characters",
        ));
    }
    Ok(v.to_owned())
}

/// Characters that make text display differently from what it contains: zero-width
/// characters and the left-to-right/right-to-left marks (U+200B–U+200F), the
/// bidirectional embeddings and overrides (U+202A–U+202E) and isolates
/// (U+2066–U+2069). In a name they can disguise one account or environment as another
/// in the audit trail and the console.
fn is_spoofing(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A comment: up to 1000 characters; line breaks and tabs allowed, other control
/// characters not.
pub(crate) fn comment(value: &str) -> StoreResult<String> {
    if value.chars().count() > MAX_COMMENT_CHARS {
        return Err(StoreError::invalid(
            "comment",
            format!("longer than {MAX_COMMENT_CHARS} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(StoreError::invalid(
            "comment",
            "contains control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  prod ").ok().as_deref(), Some("prod"));
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"é".repeat(201)).is_err());
        assert!(name("name", &"é".repeat(200)).is_ok());
        assert!(name("name", "a\u{0}b").is_err());
    }

    #[test]
    fn names_refuse_bidi_overrides_and_zero_width_characters() {
        for c in ('\u{200B}'..='\u{200F}')
            .chain('\u{202A}'..='\u{202E}')
            .chain('\u{2066}'..='\u{2069}')
        {
            let spoofed = format!("acme{c}corp");
            match name("name", &spoofed) {
                Err(StoreError::Invalid { field: "name", .. }) => {}
                other => panic!("U+{:04X} accepted: {other:?}", c as u32),
            }
        }
        // Neighbours of those ranges are ordinary text.
        assert!(name("name", "acme\u{2010}corp").is_ok());
        assert!(name("name", "Zürich café").is_ok());
    }

    #[test]
    fn comments_are_bounded() {
        assert!(comment("").is_ok());
        assert!(comment("line one\nline two").is_ok());
        assert!(comment(&"x".repeat(1001)).is_err());
        assert!(comment("bell\u{7}").is_err());
    }
}
