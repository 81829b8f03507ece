//! The names and limits of the HTTP edge, shared by the handler, the error
//! mapping and the problem answers (so none of them imports another for a
//! constant).

use http::header::HeaderName;
use orders_domain::model::OrderId;

/// Largest accepted request body, in bytes (64 KiB): far above any real order
/// (100 items), far below what would slow the function down.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Request and response header carrying the correlation id.
pub use orders_http::CORRELATION_ID_HEADER;

/// Request header carrying the client's idempotency key when the body has no
/// `orderID`.
pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// The header's name as clients spell it, used in problem bodies.
pub(crate) const IDEMPOTENCY_KEY_NAME: &str = "Idempotency-Key";

/// Value of `status` in the 202 answer.
pub const ACCEPTED_STATUS: &str = "ACCEPTED";

/// The `Location` of an accepted order: its status resource,
/// `GET /orders/{orderId}` (relative to the API's base URL, as RFC 9110
/// allows). An order id needs no percent-encoding: its alphabet is
/// `[A-Za-z0-9._:-]`, all allowed in a path segment.
pub fn order_location(order_id: &OrderId) -> String {
    format!("/orders/{order_id}")
}
