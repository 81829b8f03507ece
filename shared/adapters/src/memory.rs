//! In-memory implementations of the ports, for handler unit tests (compiled
//! only with the `test-support` feature).
//!
//! They keep the semantics the handlers rely on (a conditional put that tells
//! duplicates from conflicts; a queue that records what was sent) and let a test
//! inject failures: a number of transient failures, or a failure for one order.
//! The local runner's emulated services, with full SQS/DynamoDB/SNS behaviour,
//! live in `orders-backends`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::ports::{
    DeadLetter, DeadLetterQueue, EventPublisher, OrderQueue, OrderReader, OrderStore,
    OutgoingOrder, PortError, PutOutcome, QueueError, VisibilityDelay,
};
use crate::ports::{EntryResult, publish_batch_ranges};
use crate::record::{StoredOrder, order_key};
use crate::sync::lock;
use orders_domain::contract::OrderCreated;
use orders_domain::model::{OrderId, OwnerKey};

/// A failure a test asks an in-memory port to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail as a throttled or unavailable service would.
    Transient,
    /// Fail as a misconfigured or refusing service would.
    Permanent,
}

#[derive(Debug, Default)]
struct Faults {
    next: Vec<Fault>,
    orders: HashMap<String, Fault>,
    /// Per-order faults that pass after a number of calls.
    times: HashMap<String, (Fault, usize)>,
}

impl Faults {
    /// The fault to apply to a call about `order_id`, if any. Queued faults are
    /// consumed one per call; per-order faults persist.
    fn take(&mut self, order_id: &str) -> Option<Fault> {
        if !self.next.is_empty() {
            return Some(self.next.remove(0));
        }
        if let Some((fault, left)) = self.times.get_mut(order_id) {
            let fault = *fault;
            *left -= 1;
            if *left == 0 {
                self.times.remove(order_id);
            }
            return Some(fault);
        }
        self.orders.get(order_id).copied()
    }
}

macro_rules! fault_controls {
    ($ty:ty) => {
        impl $ty {
            /// Makes the next `n` calls fail with `fault`.
            pub fn fail_next(&self, n: usize, fault: Fault) {
                lock(&self.faults)
                    .next
                    .extend(std::iter::repeat_n(fault, n));
            }

            /// Makes every call about `order_id` fail with `fault` until cleared.
            pub fn fail_order(&self, order_id: &str, fault: Fault) {
                lock(&self.faults).orders.insert(order_id.to_owned(), fault);
            }

            /// Makes the next `n` calls about `order_id` fail with `fault`;
            /// the calls after them pass.
            pub fn fail_order_times(&self, order_id: &str, n: usize, fault: Fault) {
                if n > 0 {
                    lock(&self.faults)
                        .times
                        .insert(order_id.to_owned(), (fault, n));
                }
            }

            /// Clears every injected fault.
            pub fn heal(&self) {
                *lock(&self.faults) = Faults::default();
            }
        }
    };
}

fn port_fault(fault: Fault) -> PortError {
    match fault {
        Fault::Transient => PortError::Transient("injected transient fault".into()),
        Fault::Permanent => PortError::Permanent("injected permanent fault".into()),
    }
}

/// An [`OrderQueue`] that records every message it accepts, in order, and drops
/// a message whose dedup id it has already seen (as SQS FIFO does within 5 minutes).
#[derive(Debug, Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<OutgoingOrder>>,
    dedup_ids: Mutex<HashSet<String>>,
    faults: Mutex<Faults>,
}

fault_controls!(MemoryQueue);

impl MemoryQueue {
    /// Messages accepted so far (deduplicated ones excluded).
    pub fn sent(&self) -> Vec<OutgoingOrder> {
        lock(&self.sent).clone()
    }
}

#[async_trait]
impl OrderQueue for MemoryQueue {
    async fn enqueue(&self, order: &OutgoingOrder) -> Result<(), QueueError> {
        match lock(&self.faults).take(order.message.order_id.as_str()) {
            Some(Fault::Transient) => {
                return Err(QueueError::Unavailable("injected transient fault".into()));
            }
            Some(Fault::Permanent) => {
                return Err(QueueError::Rejected("injected permanent fault".into()));
            }
            None => {}
        }
        if lock(&self.dedup_ids).insert(order.dedup_id.clone()) {
            lock(&self.sent).push(order.clone());
        }
        Ok(())
    }
}

/// An [`OrderStore`] over a map, with the conditional-put semantics of the
/// DynamoDB adapter.
#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<HashMap<String, StoredOrder>>,
    writes: Mutex<usize>,
    faults: Mutex<Faults>,
}

fault_controls!(MemoryStore);

impl MemoryStore {
    /// The anonymous owner's stored order with this id: every order while
    /// the API is open.
    pub fn get(&self, order_id: &str) -> Option<StoredOrder> {
        let key = format!("{}#{order_id}", OwnerKey::anonymous());
        lock(&self.items).get(&key).cloned()
    }

    /// The stored order of `owner` with this id.
    pub fn get_owned(&self, owner: &OwnerKey, order_id: &OrderId) -> Option<StoredOrder> {
        lock(&self.items).get(&order_key(owner, order_id)).cloned()
    }

    /// Number of stored orders.
    pub fn len(&self) -> usize {
        lock(&self.items).len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of successful writes (a duplicate or conflict writes nothing).
    pub fn writes(&self) -> usize {
        *lock(&self.writes)
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError> {
        if let Some(fault) = lock(&self.faults).take(order.order_id.as_str()) {
            return Err(port_fault(fault));
        }
        let mut items = lock(&self.items);
        match items.get(&order.key()) {
            Some(existing) => crate::ports::put_outcome_when_taken(
                crate::ports::StoredUnderId::Hash(existing.content_hash.as_str()),
                &order.content_hash,
            ),
            None => {
                items.insert(order.key(), order.clone());
                *lock(&self.writes) += 1;
                Ok(PutOutcome::Created)
            }
        }
    }
}

/// The same map read back, as the status function reads the table: faults
/// injected for an order apply to reads of it too.
#[async_trait]
impl OrderReader for MemoryStore {
    async fn get(
        &self,
        owner: &OwnerKey,
        order_id: &OrderId,
    ) -> Result<Option<StoredOrder>, PortError> {
        if let Some(fault) = lock(&self.faults).take(order_id.as_str()) {
            return Err(port_fault(fault));
        }
        Ok(self.get_owned(owner, order_id))
    }
}

/// An [`EventPublisher`] that records every event it publishes and the size
/// of every batch call. Faults apply per entry, as `PublishBatch` reports
/// them: a failed entry does not stop the others of its call.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<OrderCreated>>,
    batch_calls: Mutex<Vec<usize>>,
    faults: Mutex<Faults>,
}

fault_controls!(MemoryPublisher);

impl MemoryPublisher {
    /// Events published so far, in order.
    pub fn published(&self) -> Vec<OrderCreated> {
        lock(&self.published).clone()
    }

    /// The number of entries of each batch call so far, in order.
    pub fn batch_calls(&self) -> Vec<usize> {
        lock(&self.batch_calls).clone()
    }

    fn publish_one(&self, event: &OrderCreated) -> Result<(), PortError> {
        if let Some(fault) = lock(&self.faults).take(event.order_id.as_str()) {
            return Err(port_fault(fault));
        }
        lock(&self.published).push(event.clone());
        Ok(())
    }
}

#[async_trait]
impl EventPublisher for MemoryPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        self.publish_one(event)
    }

    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<EntryResult> {
        let sizes: Vec<usize> = events.iter().map(crate::aws::sns_entry_size).collect();
        let mut results = Vec::with_capacity(events.len());
        for range in publish_batch_ranges(&sizes) {
            lock(&self.batch_calls).push(range.len());
            results.extend(events[range].iter().map(|e| self.publish_one(e)));
        }
        results
    }
}

/// A [`DeadLetterQueue`] that records every message it accepts, in order, and
/// drops one whose deduplication id it has already seen (as SQS FIFO does).
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    sent: Mutex<Vec<DeadLetter>>,
    faults: Mutex<Faults>,
}

fault_controls!(MemoryDeadLetters);

impl MemoryDeadLetters {
    /// Messages accepted so far (deduplicated ones excluded).
    pub fn sent(&self) -> Vec<DeadLetter> {
        lock(&self.sent).clone()
    }
}

#[async_trait]
impl DeadLetterQueue for MemoryDeadLetters {
    async fn send(&self, letter: &DeadLetter) -> Result<(), PortError> {
        let key = letter
            .attribute(crate::ports::DEAD_LETTER_ORDER_ID_ATTRIBUTE)
            .unwrap_or_default()
            .to_owned();
        if let Some(fault) = lock(&self.faults).take(&key) {
            return Err(port_fault(fault));
        }
        let mut sent = lock(&self.sent);
        let seen = letter.dedup_id.is_some()
            && sent
                .iter()
                .any(|earlier| earlier.dedup_id == letter.dedup_id);
        if !seen {
            sent.push(letter.clone());
        }
        Ok(())
    }
}

/// A [`VisibilityDelay`] that records every delay it is asked for, in order.
/// Faults are keyed by receipt handle (`fail_order` with a receipt handle).
#[derive(Debug, Default)]
pub struct MemoryVisibility {
    delays: Mutex<Vec<(String, Duration)>>,
    faults: Mutex<Faults>,
}

fault_controls!(MemoryVisibility);

impl MemoryVisibility {
    /// The `(receipt handle, delay)` of every successful call so far, in order.
    pub fn delays(&self) -> Vec<(String, Duration)> {
        lock(&self.delays).clone()
    }
}

#[async_trait]
impl VisibilityDelay for MemoryVisibility {
    async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), PortError> {
        if let Some(fault) = lock(&self.faults).take(receipt_handle) {
            return Err(port_fault(fault));
        }
        lock(&self.delays).push((receipt_handle.to_owned(), delay));
        Ok(())
    }
}
