//! The events SNS accepted ahead of a checkpoint, remembered so that the
//! retry of their batch does not publish them again.
//!
//! A `PublishBatch` call settles each entry on its own: entry 3 may be
//! throttled while entries 4 to 10 are accepted. When entry 3 is still
//! refused as the invocation's time runs out, it becomes the checkpoint, and
//! Lambda retries the batch from it, entries 4 to 10 included
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>).
//! Those are remembered here by `eventId` and acknowledged on the retry
//! without a second publish.
//!
//! The memory lives in the execution environment, as the SDK clients do.
//! Lambda invokes a shard's batches one after another, and a warm
//! environment is reused; a retry that lands on a fresh environment (after a
//! crash, a timeout or a scale-in) publishes these entries again, with the
//! same `eventId`, which the delivery table in `docs/delivery.md` counts as
//! a crash. Bounded: the oldest entries are forgotten first.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Most event ids remembered: far more than the records of one batch, which
/// is all a retry can bring back.
pub const CAPACITY: usize = 10_000;

/// A bounded set of `eventId`s, oldest forgotten first.
#[derive(Debug, Default)]
pub struct AcceptedAhead {
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl AcceptedAhead {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        // A panic elsewhere cannot leave the set half-updated in a way that
        // matters: at worst an id is remembered without its queue slot.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers that SNS accepted the event `event_id`.
    pub fn remember(&self, event_id: &str) {
        let mut inner = self.lock();
        if inner.ids.insert(event_id.to_owned()) {
            inner.order.push_back(event_id.to_owned());
        }
        while inner.order.len() > CAPACITY {
            if let Some(oldest) = inner.order.pop_front() {
                inner.ids.remove(&oldest);
            }
        }
    }

    /// Whether SNS accepted `event_id` in an earlier attempt of its batch.
    pub fn contains(&self, event_id: &str) -> bool {
        self.lock().ids.contains(event_id)
    }

    /// Forgets `event_id`: its record was settled before the checkpoint and
    /// will not be delivered again.
    pub fn forget(&self, event_id: &str) {
        let mut inner = self.lock();
        if inner.ids.remove(event_id) {
            inner.order.retain(|id| id != event_id);
        }
    }

    /// How many ids are remembered (tests look; the handler never needs to).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().ids.len()
    }

    /// Whether nothing is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_more_ids_than_the_capacity_then_the_oldest_are_forgotten_first() {
        let ahead = AcceptedAhead::default();
        for i in 0..=CAPACITY {
            ahead.remember(&format!("e{i}"));
        }
        assert_eq!(ahead.len(), CAPACITY);
        assert!(!ahead.contains("e0"));
        assert!(ahead.contains("e1"));
        assert!(ahead.contains(&format!("e{CAPACITY}")));
    }

    #[test]
    fn given_a_remembered_id_when_forgotten_then_it_is_gone_and_others_stay() {
        let ahead = AcceptedAhead::default();
        ahead.remember("a");
        ahead.remember("a");
        ahead.remember("b");
        assert_eq!(ahead.len(), 2);
        ahead.forget("a");
        assert!(!ahead.contains("a"));
        assert!(ahead.contains("b"));
        assert_eq!(ahead.len(), 1);
    }
}
