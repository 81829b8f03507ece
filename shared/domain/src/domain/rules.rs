//! The limits and character rules every field obeys, and the errors that
//! report a broken one.

use serde::Serialize;

/// Longest accepted order id, item id and idempotency key, in characters.
pub const MAX_ID_LEN: usize = 64;
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

pub(crate) fn check_id(raw: &str, what: &str) -> Result<(), InvalidValue> {
    if raw.is_empty() {
        return Err(InvalidValue::new(format!("{what} must not be empty")));
    }
    if raw.chars().count() > MAX_ID_LEN {
        return Err(InvalidValue::new(format!(
            "{what} must be at most {MAX_ID_LEN} characters"
        )));
    }
    if !raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(InvalidValue::new(format!(
            "{what} may contain only letters, digits, '-', '_', '.' and ':'"
        )));
    }
    Ok(())
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
