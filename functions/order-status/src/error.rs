//! Why a status request did not answer `200`, and the one mapping from that
//! to an HTTP status and problem body.
//!
//! Client mistakes and a missing order say precisely what is the matter;
//! failures on our side (5xx) are opaque to the client and logged in full
//! with their cause chain.

use http::{HeaderValue, StatusCode, header};
use orders_adapters::ports::PortError;
use orders_domain::model::OrderId;
use orders_http::{Issue, Problem};

use crate::absence::{Absence, NOT_FOUND_RETRY_AFTER_SECS};

/// Seconds a client is asked to wait when the table could not be read for a
/// reason that passes (throttling, a timeout): as long as intake asks.
pub const READ_RETRY_AFTER_SECS: u32 = 2;

/// The queue's retention in days, for the words of a problem.
const RETENTION_DAYS: u64 = orders_adapters::settings::ORDERS_QUEUE_RETENTION_SECS / (24 * 3600);

/// A status request that did not find a stored order.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Only `GET` reads an order.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request does not identify its caller as the API's authorization
    /// guarantees.
    #[error(transparent)]
    Unidentified(#[from] orders_http::Unidentified),
    /// The `orderId` path parameter is not an order id. Never empty.
    #[error("invalid order id: {} issue(s)", .0.len())]
    InvalidOrderId(Vec<Issue>),
    /// The caller has no order with this id stored (another caller's order
    /// with this id is not theirs, and gets this same answer).
    #[error("order {order_id} is not stored")]
    NotFound {
        /// The order asked about.
        order_id: OrderId,
        /// Whether it may still be on its way.
        absence: Absence,
    },
    /// The table could not be read.
    #[error("order {order_id} could not be read")]
    Read {
        /// The order asked about.
        order_id: OrderId,
        /// What the table said.
        #[source]
        source: PortError,
    },
}

impl StatusError {
    /// Whether the answer is a 4xx (the request, or an order not stored)
    /// rather than a fault of this service (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Read { .. })
    }

    /// The order concerned, when the id was valid.
    pub fn order_id(&self) -> Option<&OrderId> {
        match self {
            Self::NotFound { order_id, .. } | Self::Read { order_id, .. } => Some(order_id),
            _ => None,
        }
    }

    /// The outcome word of the log line and metric filters.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not-found",
            Self::MethodNotAllowed | Self::InvalidOrderId(_) | Self::Unidentified(_) => "rejected",
            Self::Read { .. } => "failed",
        }
    }

    /// Where the request was wrong, for the log: parameter names, never values.
    pub fn locations(&self) -> Vec<String> {
        match self {
            Self::InvalidOrderId(issues) => issues.iter().map(Issue::location).collect(),
            _ => Vec::new(),
        }
    }

    /// The problem details answer.
    pub fn problem(&self) -> Problem {
        match self {
            Self::MethodNotAllowed => {
                Problem::method_not_allowed("GET", "an order's status is read with GET")
            }
            Self::Unidentified(unidentified) => unidentified.problem(),
            Self::InvalidOrderId(issues) => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-order-id",
                "Invalid order id",
                "the order id in the path is not one this API accepts; see errors",
            )
            .with_errors(issues.clone()),
            Self::NotFound {
                absence: Absence::MayBeQueued,
                ..
            } => Problem::new(
                StatusCode::NOT_FOUND,
                "order-not-found",
                "Order not found",
                format!(
                    "no order with this id is stored yet. An accepted order is stored moments \
                     after its 202 (later while the pipeline retries), so ask again after \
                     Retry-After seconds. An id that was never accepted is not found until an \
                     order is posted under it; an order accepted more than {RETENTION_DAYS} \
                     days ago that is still missing was set aside for an operator, who may \
                     still store it (quote the correlation id to support)"
                ),
            )
            .with_header(
                header::RETRY_AFTER,
                HeaderValue::from(NOT_FOUND_RETRY_AFTER_SECS),
            ),
            Self::NotFound {
                absence: Absence::Overdue,
                ..
            } => Problem::new(
                StatusCode::NOT_FOUND,
                "order-not-found",
                "Order not found",
                format!(
                    "no order with this id is stored yet. The id has the form this service \
                     mints and is more than {RETENTION_DAYS} days old, longer than an order \
                     waits on the queue, so an order accepted when it was minted is no longer \
                     on its way: it was set aside for an operator, who may still store it \
                     (quote the correlation id to support). An order posted under this id \
                     since may still be on its way. The answer is not final: ask again later, \
                     not every second"
                ),
            ),
            Self::Read {
                source: PortError::Transient(_),
                ..
            } => Problem::service_unavailable(
                "the order's status could not be read; retry later",
                READ_RETRY_AFTER_SECS,
            ),
            Self::Read {
                source: PortError::Permanent(_),
                ..
            } => Problem::internal_error("the order's status could not be read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_adapters::telemetry::ErrorChain;

    fn id() -> OrderId {
        OrderId::parse("o-1").unwrap()
    }

    #[test]
    fn given_a_read_failure_then_the_chain_names_every_cause_and_the_answer_is_opaque() {
        let err = StatusError::Read {
            order_id: id(),
            source: PortError::Permanent("AccessDenied for arn:aws:dynamodb:secret".into()),
        };
        assert_eq!(
            ErrorChain(&err).to_string(),
            "order o-1 could not be read: permanent failure: AccessDenied for arn:aws:dynamodb:secret"
        );
        let problem = err.problem();
        assert_eq!(problem.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.detail.contains("AccessDenied"));
        assert!(!err.is_client_error());
        assert_eq!(err.outcome(), "failed");
    }

    #[test]
    fn given_each_absence_then_only_a_possibly_queued_order_carries_retry_after() {
        let retry_after = |absence| {
            StatusError::NotFound {
                order_id: id(),
                absence,
            }
            .problem()
            .headers
            .into_iter()
            .find(|(name, _)| name == header::RETRY_AFTER)
            .map(|(_, value)| value)
        };
        assert_eq!(
            retry_after(Absence::MayBeQueued),
            Some(HeaderValue::from(NOT_FOUND_RETRY_AFTER_SECS))
        );
        assert_eq!(retry_after(Absence::Overdue), None);
    }

    #[test]
    fn given_either_absence_then_the_answer_never_says_the_order_will_not_exist() {
        for absence in [Absence::MayBeQueued, Absence::Overdue] {
            let detail = StatusError::NotFound {
                order_id: id(),
                absence,
            }
            .problem()
            .detail;
            assert!(
                detail.starts_with("no order with this id is stored yet"),
                "{detail}"
            );
            assert!(detail.contains("who may still store it"), "{detail}");
            for final_words in [
                "will not change",
                "never be",
                "never exist",
                "cannot be",
                "stays not found",
            ] {
                assert!(!detail.contains(final_words), "{final_words:?} in {detail}");
            }
        }
    }
}
