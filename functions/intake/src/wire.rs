//! The names and limits of the HTTP edge, shared by the handler, the error
//! mapping and the problem answers (so none of them imports another for a
//! constant).

use http::header::HeaderName;

/// Largest accepted request body, in bytes (64 KiB): far above any real order
/// (100 items), far below what would slow the function down.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Request and response header carrying the correlation id.
pub const CORRELATION_ID_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// Request header carrying the client's idempotency key when the body has no
/// `orderID`.
pub const IDEMPOTENCY_KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// The header's name as clients spell it, used in problem bodies.
pub(crate) const IDEMPOTENCY_KEY_NAME: &str = "Idempotency-Key";

/// Value of `status` in the 202 answer.
pub const ACCEPTED_STATUS: &str = "ACCEPTED";
