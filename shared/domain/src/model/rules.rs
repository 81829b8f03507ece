//! The limits and character rules every field obeys, and the errors that
//! report a broken one.

use serde::Serialize;

/// Longest accepted order id, item id, idempotency key and client-chosen
/// correlation id, in characters.
pub const MAX_ID_LEN: usize = 64;
/// The characters of every id a client chooses (order, item, idempotency key,
/// correlation id), as the body of a regular-expression character class:
/// ASCII letters and digits, `.`, `_`, `:` and `-`. [`is_id_char`] is the
/// same rule for code; [`id_pattern`] builds the schemas' patterns from it.
pub const ID_CHARS: &str = "A-Za-z0-9._:-";
/// Longest correlation id a reader accepts: API Gateway's request ids and
/// ids written by earlier versions, not only what a client may choose.
pub const MAX_CORRELATION_ID_LEN: usize = 128;
/// Longest accepted customer name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// Longest accepted shipping address, in characters.
pub const MAX_ADDRESS_LEN: usize = 500;
/// Longest accepted e-mail address (RFC 5321 path limit), in characters.
pub const MAX_EMAIL_LEN: usize = 254;
/// Most line items one order may carry.
pub const MAX_ITEMS: usize = 100;
/// Largest quantity of one line item.
pub const MAX_QUANTITY: u32 = 10_000;
/// Largest unit price, in minor units (one million major units of a two-decimal currency).
pub const MAX_UNIT_PRICE_MINOR: u64 = 100_000_000;

/// One problem with one field of a request, located by an RFC 6901 JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON pointer to the offending field, e.g. `/items/0/quantity`.
    pub pointer: String,
    /// What is wrong, in words a client developer can act on. Never echoes the value.
    pub detail: String,
}

impl FieldError {
    pub(crate) fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// Every field error found in one request; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The individual field errors, in document order.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }
}

/// Why a single value was rejected; the caller adds the location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub(crate) String);

impl InvalidValue {
    pub(crate) fn new(detail: impl Into<String>) -> Self {
        Self(detail.into())
    }
}

/// Whether `c` may stand in an id: see [`ID_CHARS`].
pub fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// The regular expression of an id of 1 to [`MAX_ID_LEN`] [`ID_CHARS`]
/// after `prefix` (a literal without regex metacharacters).
pub fn id_pattern(prefix: &str) -> String {
    format!("^{prefix}[{ID_CHARS}]{{1,{MAX_ID_LEN}}}$")
}

/// Every id rule `raw` breaks, in the order a client would fix them.
pub(crate) fn id_violations(raw: &str, what: &str) -> Vec<InvalidValue> {
    let mut broken = Vec::new();
    if raw.is_empty() {
        broken.push(InvalidValue::new(format!("{what} must not be empty")));
    }
    if raw.chars().count() > MAX_ID_LEN {
        broken.push(InvalidValue::new(format!(
            "{what} must be at most {MAX_ID_LEN} characters"
        )));
    }
    if !raw.chars().all(is_id_char) {
        broken.push(InvalidValue::new(format!(
            "{what} may contain only letters, digits, '-', '_', '.' and ':'"
        )));
    }
    broken
}

/// The first id rule `raw` breaks, if any.
pub(crate) fn check_id(raw: &str, what: &str) -> Result<(), InvalidValue> {
    match id_violations(raw, what).into_iter().next() {
        Some(broken) => Err(broken),
        None => Ok(()),
    }
}

/// Whether SQS can carry `c` in a message body or attribute. SQS refuses
/// anything outside `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
/// #x10000-#x10FFFF` with `InvalidMessageContents`
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>),
/// so text the order queue must carry is held to that set at the edge, where
/// the client can still be told.
pub fn is_queue_safe(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether `c` is a bidirectional embedding, override or isolate control
/// (U+202A-U+202E, U+2066-U+2069). In a name or an address they can make the
/// admin e-mail read differently from what was ordered ("Trojan Source",
/// CVE-2021-42574). Zero-width joiners and the marks U+200E/U+200F are left
/// alone: many scripts and emoji need them and they cannot reorder text.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

pub(crate) fn check_text(raw: &str, what: &str, max: usize) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(InvalidValue::new(format!("{what} must not be blank")));
    }
    if trimmed.chars().count() > max {
        return Err(InvalidValue::new(format!(
            "{what} must be at most {max} characters"
        )));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain control characters"
        )));
    }
    if !trimmed.chars().all(is_queue_safe) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain the noncharacters U+FFFE or U+FFFF"
        )));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(InvalidValue::new(format!(
            "{what} must not contain bidirectional embedding, override or isolate controls (U+202A-U+202E, U+2066-U+2069)"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn given_every_ascii_character_then_the_pattern_and_the_rule_agree() {
        // The pattern's class, read back: the characters a one-character id
        // matching `^[ID_CHARS]{1,64}$` may be. Ranges as written in ID_CHARS.
        let in_class = |c: char| {
            c.is_ascii_uppercase()
                || c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || "._:-".contains(c)
        };
        for c in (0u8..=127).map(char::from) {
            assert_eq!(is_id_char(c), in_class(c), "{c:?}");
        }
        assert_eq!(id_pattern(""), "^[A-Za-z0-9._:-]{1,64}$");
        assert_eq!(
            id_pattern("OrderCreated:"),
            "^OrderCreated:[A-Za-z0-9._:-]{1,64}$"
        );
    }

    #[test]
    fn given_a_long_id_with_bad_characters_then_both_rules_are_reported() {
        let raw = "é".repeat(MAX_ID_LEN + 1);
        let broken = id_violations(&raw, "order id");
        assert_eq!(broken.len(), 2, "{broken:?}");
        assert!(id_violations("ok-1", "order id").is_empty());
        assert_eq!(id_violations("", "order id").len(), 1);
    }
}
