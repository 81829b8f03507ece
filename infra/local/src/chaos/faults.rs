//! Seeded faults, injected by wrapping the handlers' ports.
//!
//! Whether a call fails, and how, is a pure function of the seed, the stage,
//! the order id and how many times that stage has been called for that order,
//! so a run is reproducible from its seed as far as the scheduling of its
//! tasks allows. A crash is a call that never returns: the emulated event
//! source mapping's function timeout ends the invocation, as Lambda's does,
//! and the whole batch is retried (a worker crash after the put, a notifier
//! crash after the publish, a confirmation crash after the send: exactly the
//! windows where at-least-once delivery repeats work).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use orders_adapters::ports::{
    EntryResult, EventPublisher, OrderQueue, OrderStore, OutgoingOrder, PortError, PutOutcome,
    QueueError,
};
use orders_adapters::record::StoredOrder;
use orders_domain::contract::OrderCreated;

use confirmation::mailer::{ConfirmationEmail, CustomerMailer, SendError, classify};

/// The stage a fault is drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Intake's queue.
    Intake,
    /// The worker's store.
    Worker,
    /// The notifier's publisher.
    Notifier,
    /// The confirmation function's mailer (SES).
    Confirmation,
}

impl Stage {
    fn tag(self) -> u64 {
        match self {
            Self::Intake => 1,
            Self::Worker => 2,
            Self::Notifier => 3,
            Self::Confirmation => 4,
        }
    }

    /// Calls per order after which this stage injects nothing more, so that
    /// faults test the retry paths rather than exhaust them (five worker
    /// receives lead to the DLQ, which is the redrive path's test, not this one).
    fn max_faulty_attempt(self) -> u32 {
        match self {
            Self::Intake => 4,
            Self::Worker => 2,
            Self::Notifier => 3,
            Self::Confirmation => 2,
        }
    }
}

/// Every fault the run injects, by name, and which stage draws it.
pub const KINDS: &[(&str, Stage)] = &[
    ("queue-unavailable", Stage::Intake),
    ("queue-ack-lost", Stage::Intake),
    ("queue-slow", Stage::Intake),
    ("store-throttled", Stage::Worker),
    ("worker-crash-before-put", Stage::Worker),
    ("worker-crash-after-put", Stage::Worker),
    ("conditional-check-race", Stage::Worker),
    ("visibility-expiry", Stage::Worker),
    ("sns-throttled", Stage::Notifier),
    ("sns-failure", Stage::Notifier),
    ("notifier-crash-after-publish", Stage::Notifier),
    ("ses-throttled", Stage::Confirmation),
    ("ses-refused", Stage::Confirmation),
    ("confirmation-crash-after-send", Stage::Confirmation),
];

/// SplitMix64: a well-mixed 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over the key's bytes, mixed with the seed.
fn hash(seed: u64, parts: &[u64], key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ mix(seed);
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    parts.iter().fold(h, |acc, p| mix(acc ^ mix(*p)))
}

/// A deterministic draw in `0..n` from the seed and the parts.
pub fn draw(seed: u64, parts: &[u64], key: &str, n: u64) -> u64 {
    hash(seed, parts, key) % n.max(1)
}

/// Decides and counts the faults of one run.
#[derive(Debug)]
pub struct FaultPlan {
    seed: u64,
    /// Chance of a fault per call, in millionths.
    per_million: u64,
    budget: usize,
    injected: AtomicUsize,
    attempts: Mutex<HashMap<(Stage, String), u32>>,
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl FaultPlan {
    /// At most `budget` faults, each call failing with probability
    /// `per_million` / 1,000,000.
    pub fn new(seed: u64, budget: usize, per_million: u64) -> Self {
        Self {
            seed,
            per_million,
            budget,
            injected: AtomicUsize::new(0),
            attempts: Mutex::new(HashMap::new()),
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// The fault for this call of `stage` about `order_id`, if any.
    pub fn fault(&self, stage: Stage, order_id: &str) -> Option<&'static str> {
        let attempt = {
            let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
            let n = attempts.entry((stage, order_id.to_owned())).or_insert(0);
            *n += 1;
            *n
        };
        if attempt > stage.max_faulty_attempt() {
            return None;
        }
        let parts = [stage.tag(), u64::from(attempt)];
        if draw(self.seed, &parts, order_id, 1_000_000) >= self.per_million {
            return None;
        }
        if self.injected.fetch_add(1, Ordering::Relaxed) >= self.budget {
            return None;
        }
        let kinds: Vec<&'static str> = KINDS
            .iter()
            .filter(|(_, s)| *s == stage)
            .map(|(name, _)| *name)
            .collect();
        let pick = draw(self.seed ^ 0x5eed, &parts, order_id, kinds.len() as u64);
        let kind = kinds[usize::try_from(pick).unwrap_or(0) % kinds.len()];
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(kind)
            .or_insert(0) += 1;
        Some(kind)
    }

    /// Faults injected so far, by kind.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Faults injected so far.
    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }
}

/// A crash: a call that never returns. The mapping's timeout ends it.
async fn crash() {
    std::future::pending::<()>().await;
}

/// Intake's queue with faults: refused before the send (`503`), lost
/// acknowledgement after the send (`503` although enqueued), or so slow the
/// client times out first.
pub struct ChaosQueue {
    /// The real port.
    pub inner: Arc<dyn OrderQueue>,
    /// The plan.
    pub plan: Arc<FaultPlan>,
    /// Longer than the clients' timeout.
    pub slow: Duration,
}

#[async_trait]
impl OrderQueue for ChaosQueue {
    async fn enqueue(&self, order: &OutgoingOrder) -> Result<(), QueueError> {
        match self
            .plan
            .fault(Stage::Intake, order.message.order_id.as_str())
        {
            Some("queue-unavailable") => Err(QueueError::Unavailable("injected: throttled".into())),
            Some("queue-ack-lost") => {
                self.inner.enqueue(order).await?;
                Err(QueueError::Unavailable(
                    "injected: sent, but the answer was lost".into(),
                ))
            }
            Some(_) => {
                tokio::time::sleep(self.slow).await;
                self.inner.enqueue(order).await
            }
            None => self.inner.enqueue(order).await,
        }
    }
}

/// The worker's store with faults.
pub struct ChaosStore {
    /// The real port.
    pub inner: Arc<dyn OrderStore>,
    /// The plan.
    pub plan: Arc<FaultPlan>,
    /// Ends the visibility timeout of the orders queue's in-flight messages.
    pub expire_visibility: Arc<dyn Fn() + Send + Sync>,
}

#[async_trait]
impl OrderStore for ChaosStore {
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError> {
        match self.plan.fault(Stage::Worker, order.order_id.as_str()) {
            Some("store-throttled") => Err(PortError::Transient(
                "injected: ProvisionedThroughputExceededException".into(),
            )),
            Some("worker-crash-before-put") => {
                crash().await;
                Err(PortError::Transient("unreachable after a crash".into()))
            }
            Some("worker-crash-after-put") => {
                self.inner.put_if_absent(order).await?;
                crash().await;
                Err(PortError::Transient("unreachable after a crash".into()))
            }
            Some("conditional-check-race") => {
                // Two workers put the same order at once: one wins, the
                // other's condition fails; this worker is the loser.
                let (a, b) = tokio::join!(
                    self.inner.put_if_absent(order),
                    self.inner.put_if_absent(order)
                );
                match (a?, b?) {
                    (PutOutcome::Created, other) | (other, PutOutcome::Created) => Ok(other),
                    (other, _) => Ok(other),
                }
            }
            Some(_) => {
                (self.expire_visibility)();
                self.inner.put_if_absent(order).await
            }
            None => self.inner.put_if_absent(order).await,
        }
    }
}

/// The notifier's publisher with faults.
pub struct ChaosPublisher {
    /// The real port.
    pub inner: Arc<dyn EventPublisher>,
    /// The plan.
    pub plan: Arc<FaultPlan>,
}

#[async_trait]
impl EventPublisher for ChaosPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        match self.plan.fault(Stage::Notifier, event.order_id.as_str()) {
            Some(kind @ ("sns-throttled" | "sns-failure")) => Err(injected_entry_failure(kind)),
            Some(_) => {
                self.inner.publish(event).await?;
                crash().await;
                Err(PortError::Transient("unreachable after a crash".into()))
            }
            None => self.inner.publish(event).await,
        }
    }

    /// Faults per entry, as `PublishBatch` reports them: a throttled or
    /// failed entry fails alone while the rest of its call goes to the real
    /// topic in one call; a crash comes after that call, before anything
    /// is answered.
    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<EntryResult> {
        let faults: Vec<Option<&'static str>> = events
            .iter()
            .map(|e| self.plan.fault(Stage::Notifier, e.order_id.as_str()))
            .collect();
        let refused = |fault: &Option<&str>| matches!(fault, Some("sns-throttled" | "sns-failure"));
        let forwarded: Vec<OrderCreated> = events
            .iter()
            .zip(&faults)
            .filter(|(_, fault)| !refused(fault))
            .map(|(event, _)| event.clone())
            .collect();
        let mut answers = if forwarded.is_empty() {
            Vec::new()
        } else {
            self.inner.publish_batch(&forwarded).await
        }
        .into_iter();
        if faults.iter().any(|f| f.is_some() && !refused(f)) {
            crash().await;
        }
        let results: Vec<EntryResult> = faults
            .iter()
            .map(|fault| match fault {
                Some(kind) if refused(fault) => Err(injected_entry_failure(kind)),
                _ => answers
                    .next()
                    .unwrap_or_else(|| Err(PortError::Transient("no answer for the entry".into()))),
            })
            .collect();
        results
    }
}

/// The confirmation's mailer with faults: SES throttles the send (it is
/// retried after a backoff), refuses it for good (`MessageRejected`: the
/// order must end `FAILED`), or the function crashes after SES accepted it
/// and before the sent mark (the one window where a confirmation may be
/// sent twice, once the claim has expired). Faults are drawn per order,
/// whose id the confirmation's subject names; the orders refused and
/// crashed on are kept for the ledger.
pub struct ChaosMailer {
    /// The real port.
    pub inner: Arc<dyn CustomerMailer>,
    /// The plan.
    pub plan: Arc<FaultPlan>,
    /// Orders whose confirmation the plan refused.
    pub refused: Arc<Mutex<HashSet<String>>>,
    /// Orders whose confirmation was sent just before a crash, and how often.
    pub crashed: Arc<Mutex<HashMap<String, u64>>>,
}

/// The order id a confirmation's subject names
/// (`confirmation::message::render`'s `Your order <id> is confirmed`).
pub fn confirmed_order(subject: &str) -> &str {
    subject
        .strip_prefix("Your order ")
        .and_then(|rest| rest.strip_suffix(" is confirmed"))
        .unwrap_or(subject)
}

#[async_trait]
impl CustomerMailer for ChaosMailer {
    async fn send(&self, email: &ConfirmationEmail) -> Result<String, SendError> {
        let order_id = confirmed_order(&email.subject).to_owned();
        match self.plan.fault(Stage::Confirmation, &order_id) {
            Some("ses-throttled") => Err(SendError {
                verdict: classify(Some("TooManyRequestsException"), Some(429)),
                code: "TooManyRequestsException".to_owned(),
            }),
            Some("ses-refused") => {
                self.refused
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(order_id);
                Err(SendError {
                    verdict: classify(Some("MessageRejected"), Some(400)),
                    code: "MessageRejected".to_owned(),
                })
            }
            Some(_) => {
                self.inner.send(email).await?;
                *self
                    .crashed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(order_id)
                    .or_insert(0) += 1;
                crash().await;
                Err(SendError {
                    verdict: classify(None, None),
                    code: "unreachable after a crash".to_owned(),
                })
            }
            None => self.inner.send(email).await,
        }
    }
}

/// The error of an entry the plan throttles or fails.
fn injected_entry_failure(kind: &str) -> PortError {
    if kind == "sns-throttled" {
        PortError::Transient("injected: Throttling".into())
    } else {
        PortError::Transient("injected: InternalError".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_seed_then_the_same_calls_draw_the_same_faults() {
        let a = FaultPlan::new(42, 1000, 200_000);
        let b = FaultPlan::new(42, 1000, 200_000);
        let run = |plan: &FaultPlan| {
            (0..200)
                .map(|i| plan.fault(Stage::Worker, &format!("o-{i}")))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&a), run(&b));
        assert_eq!(a.counts(), b.counts());
        assert!(a.total() > 10, "{:?}", a.counts());
        let c = FaultPlan::new(43, 1000, 200_000);
        assert_ne!(run(&a), run(&c));
    }

    #[test]
    fn given_a_budget_then_no_more_faults_are_injected() {
        let plan = FaultPlan::new(7, 5, 1_000_000);
        for i in 0..100 {
            plan.fault(Stage::Notifier, &format!("o-{i}"));
        }
        assert_eq!(plan.total(), 5);
    }

    #[test]
    fn given_many_attempts_then_faults_stop_after_the_stage_cap() {
        let plan = FaultPlan::new(7, 100, 1_000_000);
        let faults = (0..10)
            .filter(|_| plan.fault(Stage::Worker, "o-1").is_some())
            .count();
        assert_eq!(faults, 2);
    }
}
