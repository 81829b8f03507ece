//! The narrow ports the handlers depend on, one trait per capability.
//!
//! Each has an AWS SDK adapter ([`crate::aws`]) and an in-memory one
//! ([`crate::memory`]). Errors split what may pass on retry (`Transient`) from
//! what never will (`Permanent`), because the handlers map exactly that
//! distinction onto HTTP statuses and batch item failures.

use std::time::Duration;

use async_trait::async_trait;

use crate::record::StoredOrder;
use orders_domain::contract::{OrderCreated, OrderMessage};
use orders_domain::model::{ContentHash, OrderId, OwnerKey};

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
    /// The sender's X-Ray trace header (`Root=…;Parent=…;Sampled=…`), sent as
    /// the `AWSTraceHeader` message *system* attribute so the worker's segment
    /// joins intake's trace. `None` outside Lambda or with tracing off.
    /// <https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sqs.html>
    pub trace_header: Option<String>,
}

/// The SQS message system attribute that carries an X-Ray trace header: the
/// only one `SendMessage` accepts in `MessageSystemAttributes`
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>),
/// and the name under which Lambda hands it to the worker in a record's
/// `attributes`.
pub const AWS_TRACE_HEADER_ATTRIBUTE: &str = "AWSTraceHeader";

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

/// What the table holds under an order id whose conditional put failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredUnderId<'a> {
    /// Nothing any more: the item was deleted between the put and the read.
    Absent,
    /// An item without a content hash (written by something other than the
    /// worker, or an older layout).
    WithoutHash,
    /// An order with this content hash.
    Hash(&'a str),
}

/// The one rule every store adapter applies after its conditional put found
/// the id taken: the same content is a duplicate (a redelivery), other
/// content (or an item that cannot say what it holds) is a conflict, never
/// overwritten; an item gone again is transient, since retrying will write it.
pub fn put_outcome_when_taken(
    stored: StoredUnderId<'_>,
    incoming: &ContentHash,
) -> Result<PutOutcome, PortError> {
    match stored {
        StoredUnderId::Hash(hash) if hash == incoming.as_str() => Ok(PutOutcome::Duplicate),
        StoredUnderId::Hash(hash) => Ok(PutOutcome::Conflict {
            existing: ContentHash::from_stored(hash.to_owned()),
        }),
        StoredUnderId::WithoutHash => Ok(PutOutcome::Conflict {
            existing: ContentHash::from_stored(String::new()),
        }),
        StoredUnderId::Absent => Err(PortError::Transient(
            "order vanished between the conditional put and the read".into(),
        )),
    }
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
    /// Writes the order only if its owner has no order with its id, and
    /// tells a duplicate (same content) from a conflict (different content).
    /// Another owner's order with the same id is another order.
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError>;
}

/// Reads stored orders by owner and id, for the status function.
#[async_trait]
pub trait OrderReader: Send + Sync {
    /// The order `order_id` of `owner`, read strongly consistently so an
    /// order the worker has stored is never reported missing; `None` when the
    /// table holds no item with that key (whether or not another owner has
    /// an order with this id).
    async fn get(
        &self,
        owner: &OwnerKey,
        order_id: &OrderId,
    ) -> Result<Option<StoredOrder>, PortError>;
}

/// Most entries one SNS `PublishBatch` call takes
/// (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>).
pub const MAX_PUBLISH_BATCH_ENTRIES: usize = 10;

/// Most bytes of all the messages of one `PublishBatch` call together
/// ("the total aggregate size of all messages ... can't exceed 256 KiB").
pub const MAX_PUBLISH_BATCH_BYTES: usize = 256 * 1024;

/// Splits entries of the given payload sizes, in order, into consecutive
/// ranges that one `PublishBatch` call each may carry: at most
/// [`MAX_PUBLISH_BATCH_ENTRIES`] entries and [`MAX_PUBLISH_BATCH_BYTES`] in
/// all. An entry larger than the limit on its own gets a call to itself, so
/// the service answers for it alone and its neighbours are not refused with
/// it. The one packing rule every publisher adapter applies.
pub fn publish_batch_ranges(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, size) in sizes.iter().enumerate() {
        let full = index - start == MAX_PUBLISH_BATCH_ENTRIES
            || (index > start && bytes + size > MAX_PUBLISH_BATCH_BYTES);
        if full {
            ranges.push(start..index);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

/// The result of publishing one entry of a batch.
pub type EntryResult = Result<(), PortError>;

/// Publishes order events.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes one OrderCreated event with its per-protocol renderings.
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError>;

    /// Publishes several events, in as few calls as the service allows
    /// (SNS `PublishBatch`: [`publish_batch_ranges`]). Returns exactly one
    /// result per event, in the order of `events`: entries of one call
    /// succeed or fail on their own, and an entry the service gave no answer
    /// for is a transient failure (it may or may not have been published).
    ///
    /// The default, for ports without a batch call, publishes one event at
    /// a time and stops at the first failure a retry may fix: the later
    /// events fail with [`NotAttempted`] (transient) instead of being
    /// published past what will be the caller's checkpoint.
    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<EntryResult> {
        let mut results = Vec::with_capacity(events.len());
        let mut stopped = false;
        for event in events {
            let result = if stopped {
                Err(PortError::Transient(Box::new(NotAttempted)))
            } else {
                self.publish(event).await
            };
            stopped |= matches!(&result, Err(err) if err.is_transient());
            results.push(result);
        }
        results
    }
}

/// An event of a batch that was not sent, because an earlier one failed in a
/// way a retry may fix.
#[derive(Debug, thiserror::Error)]
#[error("not published: an earlier event of the batch failed")]
pub struct NotAttempted;

/// Why a stage sent a message to its own dead-letter queue at once instead of
/// letting the trigger retry it: retrying cannot change the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// The order id is stored with different content; the first version wins.
    Conflict,
    /// The message or record cannot be read as an order.
    Poison,
    /// The topic refused the event in a way a retry will not fix (permissions,
    /// a missing topic, a disabled key). Replayable once the cause is fixed.
    PublishRefused,
}

impl DeadLetterReason {
    /// The value of the `reason` message attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::Poison => "poison",
            Self::PublishRefused => "publish-refused",
        }
    }
}

/// Message attribute naming the [`DeadLetterReason`].
pub const DEAD_LETTER_REASON_ATTRIBUTE: &str = "reason";
/// Message attribute naming the stage that dead-lettered the message.
pub const DEAD_LETTER_STAGE_ATTRIBUTE: &str = "stage";
/// Message attribute with the source message's id (worker).
pub const DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "sourceMessageId";
/// Message attribute with the source stream record's sequence number (notifier).
pub const DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE: &str = "sequenceNumber";
/// SNS message attribute naming the event type (`OrderCreated`), for filter policies.
pub const EVENT_TYPE_ATTRIBUTE: &str = "eventType";
/// SNS message attribute saying whether the customer gave an e-mail address
/// (`true` or `false`, never the address), for the confirmation's filter policy.
pub const CUSTOMER_EMAIL_GIVEN_ATTRIBUTE: &str = "customerEmailGiven";
/// SNS message attribute with the event's schema version, for filter policies.
pub const SCHEMA_VERSION_ATTRIBUTE: &str = "schemaVersion";
/// Message attribute with the order id, when it could be read.
pub const DEAD_LETTER_ORDER_ID_ATTRIBUTE: &str = "orderId";
/// Message attribute with the order's owner key, when it could be read.
pub const DEAD_LETTER_OWNER_ATTRIBUTE: &str = "owner";
/// Message attribute with the correlation id, when it could be read.
pub const CORRELATION_ID_ATTRIBUTE: &str = "correlationId";

/// A message a stage sends to its own dead-letter queue.
///
/// Attribute values are ids and fixed words only: never a name, an address or
/// an image, because operators read them in consoles and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The body: the source message itself (worker, so a redrive re-sends it)
    /// or a description of the source record (notifier).
    pub body: String,
    /// FIFO `MessageGroupId` (the source message's group), for a FIFO DLQ.
    pub group_id: Option<String>,
    /// FIFO `MessageDeduplicationId` (derived from the source's id, so a
    /// retried send is dropped by SQS instead of duplicated).
    pub dedup_id: Option<String>,
    /// String message attributes, by the `*_ATTRIBUTE` names of this module.
    /// Empty values are not sent (SQS refuses them).
    pub attributes: Vec<(&'static str, String)>,
}

impl DeadLetter {
    /// A dead letter with the attributes every stage sets.
    pub fn new(body: String, reason: DeadLetterReason, stage: &'static str) -> Self {
        Self {
            body,
            group_id: None,
            dedup_id: None,
            attributes: vec![
                (DEAD_LETTER_REASON_ATTRIBUTE, reason.as_str().to_owned()),
                (DEAD_LETTER_STAGE_ATTRIBUTE, stage.to_owned()),
            ],
        }
    }

    /// Adds an attribute when the value is known and not empty.
    pub fn with_attribute(mut self, name: &'static str, value: Option<&str>) -> Self {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.attributes.push((name, value.to_owned()));
        }
        self
    }

    /// Sets the FIFO routing.
    pub fn with_fifo(mut self, group_id: String, dedup_id: String) -> Self {
        self.group_id = Some(group_id);
        self.dedup_id = Some(dedup_id);
        self
    }

    /// The value of one attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends messages a stage gives up on to that stage's dead-letter queue.
#[async_trait]
pub trait DeadLetterQueue: Send + Sync {
    /// Sends one message. `Ok` means the queue durably holds it (or, on a FIFO
    /// queue, already held one with the same deduplication id).
    async fn send(&self, letter: &DeadLetter) -> Result<(), PortError>;
}

/// The longest a received message can be kept invisible: SQS refuses a
/// visibility timeout over 12 hours
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>).
pub const MAX_VISIBILITY_DELAY: Duration = Duration::from_secs(12 * 3600);

/// Postpones the next delivery of a message received from the orders queue,
/// for the worker's backoff.
#[async_trait]
pub trait VisibilityDelay: Send + Sync {
    /// Keeps the message received with `receipt_handle` invisible for
    /// `delay` from now (SQS `ChangeMessageVisibility`), after which it is
    /// delivered again unless deleted. The change holds for this receive
    /// only. `delay` is at most [`MAX_VISIBILITY_DELAY`]; an adapter whose
    /// service counts in whole seconds rounds up, never shortening it.
    async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Given any entry sizes, the ranges cover every entry once, in order,
        /// and each range fits one `PublishBatch` call (or is one oversized
        /// entry alone), and no two neighbouring ranges could have been one.
        #[test]
        fn publish_batch_ranges_cover_every_entry_within_the_limits(
            sizes in proptest::collection::vec(
                prop_oneof![1usize..40_000, 200_000usize..300_000],
                0..40,
            )
        ) {
            let ranges = publish_batch_ranges(&sizes);
            let mut next = 0;
            for range in &ranges {
                prop_assert_eq!(range.start, next);
                prop_assert!(range.end > range.start);
                prop_assert!(range.len() <= MAX_PUBLISH_BATCH_ENTRIES);
                let bytes: usize = sizes[range.clone()].iter().sum();
                prop_assert!(bytes <= MAX_PUBLISH_BATCH_BYTES || range.len() == 1);
                next = range.end;
            }
            prop_assert_eq!(next, sizes.len());
            // Greedy: a range ends only where the next entry does not fit.
            for pair in ranges.windows(2) {
                let bytes: usize = sizes[pair[0].clone()].iter().sum();
                prop_assert!(
                    pair[0].len() == MAX_PUBLISH_BATCH_ENTRIES
                        || bytes + sizes[pair[1].start] > MAX_PUBLISH_BATCH_BYTES,
                    "{:?} could have taken entry {}", pair[0], pair[1].start
                );
            }
        }
    }

    #[test]
    fn given_what_is_stored_under_a_taken_id_then_one_outcome_for_every_adapter() {
        let incoming = ContentHash::from_stored("abc".into());
        assert_eq!(
            put_outcome_when_taken(StoredUnderId::Hash("abc"), &incoming).unwrap(),
            PutOutcome::Duplicate
        );
        assert!(matches!(
            put_outcome_when_taken(StoredUnderId::Hash("def"), &incoming),
            Ok(PutOutcome::Conflict { existing }) if existing.as_str() == "def"
        ));
        assert!(matches!(
            put_outcome_when_taken(StoredUnderId::WithoutHash, &incoming),
            Ok(PutOutcome::Conflict { .. })
        ));
        assert!(
            put_outcome_when_taken(StoredUnderId::Absent, &incoming)
                .unwrap_err()
                .is_transient()
        );
    }
}
