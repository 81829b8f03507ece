//! Why a request did not become a queued order, and the one mapping from that to
//! an HTTP status and problem body.
//!
//! Client mistakes (4xx) say precisely what to fix; failures on our side (5xx)
//! are opaque to the client and logged in full with their cause chain.
use http::StatusCode;
use orders_adapters::ports::QueueError;
use orders_domain::model::OrderId;

use orders_http::{Issue, Problem};

/// Seconds a client is asked to wait before retrying when the queue is
/// unavailable: long enough for SQS throttling to ease, short enough to stay
/// within an interactive retry budget.
pub const RETRY_AFTER_SECS: u32 = 2;

/// A request that ended without a queued order.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Only `POST` creates orders.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request does not identify its caller as the API's authorization
    /// guarantees.
    #[error(transparent)]
    Unidentified(#[from] orders_http::Unidentified),
    /// The body was not declared as `application/json`.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// The body is larger than [`crate::wire::MAX_BODY_BYTES`].
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body is not UTF-8.
    #[error("request body is not UTF-8")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// The body is not JSON.
    #[error("request body is not JSON")]
    MalformedJson(#[source] serde_json::Error),
    /// The JSON is not a valid order, or the id headers contradict it. Never empty.
    #[error("invalid order: {} issue(s)", .0.len())]
    Invalid(Vec<Issue>),
    /// The queue did not take the order.
    #[error("order {order_id} could not be enqueued")]
    Queue {
        /// The order that was not enqueued.
        order_id: OrderId,
        /// Whether intake minted the id (the client sent neither `orderID`
        /// nor `Idempotency-Key`), so a plain retry would be a new order.
        minted: bool,
        /// What the queue said.
        #[source]
        source: QueueError,
    },
}

impl IntakeError {
    /// Whether the client is at fault (4xx) rather than this service (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Queue { .. })
    }

    /// The order concerned, when one was identified.
    pub fn order_id(&self) -> Option<&OrderId> {
        match self {
            Self::Queue { order_id, .. } => Some(order_id),
            _ => None,
        }
    }

    /// The problem details answer.
    pub fn problem(&self) -> Problem {
        match self {
            Self::MethodNotAllowed => {
                Problem::method_not_allowed("POST", "orders are created with POST")
            }
            Self::Unidentified(unidentified) => unidentified.problem(),
            Self::UnsupportedMediaType => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send the order as Content-Type: application/json",
            ),
            Self::PayloadTooLarge => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                format!(
                    "the request body must be at most {} bytes",
                    crate::wire::MAX_BODY_BYTES
                ),
            ),
            Self::NotUtf8(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                "the request body is not valid UTF-8",
            ),
            // Only the position: serde_json's message is about syntax, but the
            // position is all a client needs and can never carry a value.
            Self::MalformedJson(err) => Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                if err.is_eof() {
                    "the request body is empty or ends early".to_owned()
                } else {
                    format!(
                        "the request body is not valid JSON (line {}, column {})",
                        err.line(),
                        err.column()
                    )
                },
            ),
            Self::Invalid(issues) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-order",
                "Invalid order",
                "the order has invalid fields; see errors",
            )
            .with_errors(issues.clone()),
            Self::Queue {
                source: QueueError::Unavailable(_),
                minted,
                ..
            } => Problem::service_unavailable(
                if *minted {
                    // Without an id of the client's, the 202 of a retry could
                    // come from a second order if the first send had in fact
                    // reached the queue: only a key makes the retry safe.
                    "the order was not accepted; retry later with an Idempotency-Key header \
                     (any unique value of 1-64 letters, digits, '.', '_', ':' or '-') so \
                     that a retry can never create a second order"
                } else {
                    "the order was not accepted; retry later with the same request"
                },
                RETRY_AFTER_SECS,
            ),
            Self::Queue {
                source: QueueError::Rejected(_),
                ..
            } => Problem::internal_error("the order was not accepted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_adapters::telemetry::ErrorChain;

    #[test]
    fn given_a_nested_error_then_the_chain_names_every_cause() {
        let err = IntakeError::Queue {
            order_id: OrderId::parse("o-1").unwrap(),
            minted: false,
            source: QueueError::Unavailable("throttled".into()),
        };
        assert_eq!(
            ErrorChain(&err).to_string(),
            "order o-1 could not be enqueued: the order queue is unavailable: throttled"
        );
    }

    #[test]
    fn given_queue_errors_then_the_problem_is_opaque() {
        let err = IntakeError::Queue {
            order_id: OrderId::parse("o-1").unwrap(),
            minted: false,
            source: QueueError::Rejected("AccessDenied for arn:aws:sqs:secret".into()),
        };
        let problem = err.problem();
        assert_eq!(problem.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.detail.contains("AccessDenied"));
        assert!(!err.is_client_error());
    }
}
