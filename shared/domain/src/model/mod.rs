//! The order domain: types that cannot hold a bad value, parsed once at the edge.
//!
//! Raw client JSON becomes an [`OrderRequest`] through [`OrderRequest::from_json`],
//! which walks the whole document and reports every field error at once (as JSON
//! pointers), so a client fixes its request in one round trip. Inside the pipeline
//! only these types travel; their `Deserialize` impls re-validate, so a message
//! read back from a queue or a table is checked by the same rules.
//!
//! Personal data ([`CustomerName`], [`ShippingAddress`], [`CustomerEmail`]) has a
//! redacting `Debug` so it cannot leak into a log line by accident.

mod hash;
mod money;
mod order;
mod owner;
mod request;
mod rules;
mod values;

pub use hash::ContentHash;
pub use money::{Money, Quantity};
pub use order::{LineItem, Order};
pub use owner::{
    ANONYMOUS_OWNER, Caller, MIN_OWNER_SECRET_LEN, OWNER_KEY_ALTERNATIVES, OwnerKey, OwnerSecret,
};
pub use request::OrderRequest;
pub use rules::{
    FieldError, ID_CHARS, InvalidValue, MAX_ADDRESS_LEN, MAX_CORRELATION_ID_LEN, MAX_EMAIL_LEN,
    MAX_ID_LEN, MAX_ITEMS, MAX_NAME_LEN, MAX_QUANTITY, MAX_UNIT_PRICE_MINOR, ValidationErrors,
    id_pattern, is_bidi_control, is_id_char, is_queue_safe,
};
pub use values::{Currency, CustomerEmail, CustomerName, ItemId, OrderId, ShippingAddress};

#[cfg(test)]
mod tests;
