//! The narrow ports the handlers depend on, one trait per capability.
//!
//! Each has an AWS SDK adapter ([`crate::aws`]) and an in-memory one
//! ([`crate::memory`]). Errors split what may pass on retry (`Transient`) from
//! what never will (`Permanent`), because the handlers map exactly that
//! distinction onto HTTP statuses and batch item failures.

use async_trait::async_trait;

use crate::contract::{OrderCreated, OrderMessage};
use crate::domain::ContentHash;
use crate::record::StoredOrder;

/// A boxed error from an adapter, kept as a source for the log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An order message ready for the FIFO queue, with its routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingOrder {
    /// The message body.
    pub message: OrderMessage,
    /// FIFO `MessageGroupId`: orders in one group are delivered in order.
    pub group_id: String,
    /// FIFO `MessageDeduplicationId`: equal ids within 5 minutes are dropped by SQS.
    pub dedup_id: String,
}

/// The queue could not take a message.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Throttling, a timeout or a service fault: the client may retry.
    #[error("the order queue is unavailable")]
    Unavailable(#[source] BoxError),
    /// The queue refused the request itself (misconfiguration, bad parameters).
    #[error("the order queue rejected the message")]
    Rejected(#[source] BoxError),
}

/// Sends order messages to the orders FIFO queue.
#[async_trait]
pub trait OrderQueue: Send + Sync {
    /// Enqueues one message. `Ok` means the queue durably holds it (or already
    /// held a message with the same dedup id).
    async fn enqueue(&self, order: &OutgoingOrder) -> Result<(), QueueError>;
}

/// What a conditional put found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The order was new and is now stored.
    Created,
    /// The same order (same content hash) was already stored: nothing written.
    Duplicate,
    /// Another order with the same id but different content is stored: nothing written.
    Conflict {
        /// Hash of the stored content.
        existing: ContentHash,
    },
}

/// A store or publish call failed.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Throttling, timeouts, service faults: retrying may succeed.
    #[error("transient failure")]
    Transient(#[source] BoxError),
    /// Validation, permissions, missing resources: retrying will not help.
    #[error("permanent failure")]
    Permanent(#[source] BoxError),
}

impl PortError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Persists orders idempotently.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Writes the order only if no order with its id exists, and tells a
    /// duplicate (same content) from a conflict (different content).
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError>;
}

/// Publishes order events.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes one OrderCreated event with its per-protocol renderings.
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError>;
}
