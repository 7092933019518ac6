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
    Ok(v.to_owned())
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
    fn comments_are_bounded() {
        assert!(comment("").is_ok());
        assert!(comment("line one\nline two").is_ok());
        assert!(comment(&"x".repeat(1001)).is_err());
        assert!(comment("bell\u{7}").is_err());
    }
}
