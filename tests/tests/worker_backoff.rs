//! The worker's backoff end to end, at scaled time: the local pipeline
//! (the shipped intake and worker, the emulated SQS mapping with its
//! redrive policy of `maxReceiveCount` receives) over a table that throttles
//! every write from before the first order until one scaled hour after the
//! last was accepted. Nothing reaches the worker DLQ and every order is
//! stored after the hour, through the held-back records of its customer's
//! group too; without the backoff the same hour sends every order to the DLQ.
//!
//! On the embedded emulators (scale 1/400: an hour is 9 s) and on the AWS
//! SDK adapters over moto (`SqsVisibilityDelay`'s `ChangeMessageVisibility`;
//! SQS counts whole seconds, so the scale is 1/300 and an hour 12 s, each
//! backoff rounded up), where moto allows: its concurrent receives may hand
//! out two records of one FIFO group, so the held-back order is checked on
//! the embedded SQS only. And the SQS adapter's rounding on its own over
//! moto.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orders_adapters::memory::MemoryVisibility;
use orders_adapters::ports::{OrderStore, PortError, PutOutcome, VisibilityDelay};
use orders_adapters::record::StoredOrder;
use orders_adapters::settings::{MAX_RECEIVE_COUNT, WORKER_BACKOFF_SECS};
use orders_backends::backend::{Backends, QueueSpec};
use orders_backends::embedded::Embedded;
use orders_domain::test_support::legacy_order;
use orders_local::{Pipeline, PipelineConfig, Ports, ResourceNames, TimeScale};
use orders_tests::{TempDir, require_moto, unique_name};
use serde_json::json;

/// One hour, the outage every order must outlive.
const HOUR: Duration = Duration::from_secs(3600);

/// Three customers with two orders each: the second order of each is held
/// back behind the first on the customer's FIFO message group.
const ORDERS: [(&str, &str); 6] = [
    ("wb-a1", "Ann Able"),
    ("wb-b1", "Bob Baker"),
    ("wb-c1", "Cy Cole"),
    ("wb-a2", "Ann Able"),
    ("wb-b2", "Bob Baker"),
    ("wb-c2", "Cy Cole"),
];

/// The table, throttled until `until` is set and has passed: every write
/// fails as DynamoDB's `ProvisionedThroughputExceededException` does (a
/// transient fault), and every attempt is recorded.
struct ThrottledStore {
    inner: Arc<dyn OrderStore>,
    until: Mutex<Option<Instant>>,
    attempts: Mutex<HashMap<String, Vec<Instant>>>,
    stored: Mutex<HashMap<String, Instant>>,
}

impl ThrottledStore {
    fn new(inner: Arc<dyn OrderStore>) -> Self {
        Self {
            inner,
            until: Mutex::new(None),
            attempts: Mutex::new(HashMap::new()),
            stored: Mutex::new(HashMap::new()),
        }
    }

    fn throttled(&self, now: Instant) -> bool {
        self.until.lock().unwrap().is_none_or(|until| now < until)
    }
}

#[async_trait]
impl OrderStore for ThrottledStore {
    async fn put_if_absent(&self, order: &StoredOrder) -> Result<PutOutcome, PortError> {
        let now = Instant::now();
        let id = order.order_id.as_str().to_owned();
        self.attempts
            .lock()
            .unwrap()
            .entry(id.clone())
            .or_default()
            .push(now);
        if self.throttled(now) {
            return Err(PortError::Transient(
                "ProvisionedThroughputExceededException (injected)".into(),
            ));
        }
        let outcome = self.inner.put_if_absent(order).await?;
        self.stored.lock().unwrap().entry(id).or_insert(now);
        Ok(outcome)
    }
}

/// What one run saw.
struct Run {
    /// When the throttling ended.
    outage_end: Instant,
    /// Every order's store attempts.
    attempts: HashMap<String, Vec<Instant>>,
    /// When each order was stored.
    stored: HashMap<String, Instant>,
    /// Messages in the worker DLQ (visible and in flight).
    dead_letters: u64,
    /// Messages left on the orders queue.
    queued: u64,
}

impl Run {
    /// Every order's attempts, in seconds relative to the outage's end.
    fn timeline(&self) -> String {
        let mut lines: Vec<String> = self
            .attempts
            .iter()
            .map(|(id, attempts)| {
                let at: Vec<String> = attempts
                    .iter()
                    .map(|at| {
                        if *at >= self.outage_end {
                            format!("+{:.2}", (*at - self.outage_end).as_secs_f64())
                        } else {
                            format!("-{:.2}", (self.outage_end - *at).as_secs_f64())
                        }
                    })
                    .collect();
                format!("{id}: [{}]", at.join(", "))
            })
            .collect();
        lines.sort();
        lines.join("; ")
    }
}

/// Starts the pipeline with the table throttled, posts [`ORDERS`], keeps the
/// table throttled until a scaled hour (plus `slack`) after the last `202`,
/// and waits until every order is stored or `settle` has passed since.
/// `no_backoff` replaces the worker's visibility port with one that changes
/// nothing: the queue's own timeout then applies to every retry.
async fn run(
    backends: Backends,
    scale: f64,
    slack: Duration,
    settle: Duration,
    no_backoff: bool,
) -> Run {
    let config = PipelineConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        names: ResourceNames::with_prefix(&format!("{}-", unique_name("wb"))),
        time_scale: TimeScale(scale),
        drain_timeout: Duration::from_millis(500),
        ..PipelineConfig::default()
    };
    let slot: Arc<Mutex<Option<Arc<ThrottledStore>>>> = Arc::default();
    let keep = slot.clone();
    let pipeline = Pipeline::start_with(config, backends.clone(), move |ports| {
        let store = Arc::new(ThrottledStore::new(ports.store.clone()));
        *keep.lock().unwrap() = Some(store.clone());
        let worker_visibility: Arc<dyn VisibilityDelay> = if no_backoff {
            Arc::new(MemoryVisibility::default())
        } else {
            ports.worker_visibility.clone()
        };
        Ports {
            store,
            worker_visibility,
            ..ports
        }
    })
    .await
    .unwrap();
    let store = slot.lock().unwrap().clone().unwrap();

    let http = reqwest::Client::new();
    for (id, customer) in ORDERS {
        let mut body = legacy_order(id);
        body["customerName"] = json!(customer);
        let response = http
            .post(format!("{}/orders", pipeline.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{id}");
    }
    // Every order is received after its 202, so each meets at least an
    // hour of throttling from its first receive.
    let outage_end = Instant::now() + HOUR.mul_f64(scale) + slack;
    *store.until.lock().unwrap() = Some(outage_end);

    let resources = pipeline.resources().clone();
    let depth = |url: String| {
        let backends = backends.clone();
        async move {
            let d = backends.queues.depth(&url).await.unwrap();
            d.visible + d.in_flight
        }
    };
    // Until every order is stored, or every one is in the DLQ, or the
    // longest backoff has passed since the outage.
    let deadline = outage_end + settle;
    let all = ORDERS.len() as u64;
    while Instant::now() < deadline
        && (store.stored.lock().unwrap().len() as u64) < all
        && depth(resources.orders_dlq_url.clone()).await < all
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dead_letters = depth(resources.orders_dlq_url.clone()).await;
    let queued = depth(resources.orders_queue_url.clone()).await;
    pipeline.shutdown().await;
    let attempts = store.attempts.lock().unwrap().clone();
    let stored = store.stored.lock().unwrap().clone();
    Run {
        outage_end,
        attempts,
        stored,
        dead_letters,
        queued,
    }
}

/// The longest the backoff can take over all receives, scaled, plus `per_step`
/// (rounding, processing and polling) for each step.
fn longest_backoff(scale: f64, per_step: Duration) -> Duration {
    WORKER_BACKOFF_SECS
        .iter()
        .map(|(_, ceiling)| Duration::from_secs(*ceiling).mul_f64(scale) + per_step)
        .sum()
}

/// How strictly a backend keeps a FIFO group's order under concurrent
/// receives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupOrder {
    /// As SQS does: no record of a group is delivered while another is in
    /// flight, so a held-back order is never tried before the one ahead of it.
    Kept,
    /// moto decides which groups are in flight once per `ReceiveMessage`,
    /// so concurrent pollers can each get a record of one group; only what
    /// does not depend on the order is checked.
    Racy,
}

/// The acceptance: 0 orders in the worker DLQ, and every order stored on
/// its first attempt after the hour, having been received no more than
/// `maxReceiveCount` times. With the group order kept, the first order of
/// each customer was throttled on more than one receive (the backoff was
/// exercised) and the held-back ones were never tried before the hour ended;
/// either way some order went through at least three steps of the backoff.
fn assert_outlived_the_hour(run: &Run, order: GroupOrder) {
    let timeline = run.timeline();
    assert_eq!(run.dead_letters, 0, "orders in the worker DLQ: {timeline}");
    assert_eq!(run.queued, 0, "orders left on the queue: {timeline}");
    let mut most_throttled = 0;
    for (position, (id, _)) in ORDERS.iter().enumerate() {
        let attempts = run.attempts.get(*id).map_or(&[][..], Vec::as_slice);
        let stored = run
            .stored
            .get(*id)
            .unwrap_or_else(|| panic!("{id} not stored: {timeline}"));
        let first_after = attempts
            .iter()
            .find(|at| **at >= run.outage_end)
            .unwrap_or_else(|| panic!("{id} never tried after the outage: {timeline}"));
        assert_eq!(
            stored, first_after,
            "{id} not stored on its first try after the outage: {timeline}"
        );
        assert!(
            attempts.len() <= MAX_RECEIVE_COUNT as usize,
            "{id} tried more often than it can be received: {timeline}"
        );
        let throttled = attempts.iter().filter(|at| **at < run.outage_end).count();
        most_throttled = most_throttled.max(throttled);
        match (order, position < 3) {
            (GroupOrder::Kept, true) => {
                assert!(
                    throttled >= 2,
                    "{id} throttled only {throttled} times: {timeline}"
                );
            }
            (GroupOrder::Kept, false) => {
                assert_eq!(
                    throttled, 0,
                    "{id} tried before the order ahead of it: {timeline}"
                );
            }
            (GroupOrder::Racy, _) => {}
        }
    }
    assert!(
        most_throttled >= 3,
        "the backoff was hardly exercised: {timeline}"
    );
}

/// 1/400: the queue's 60 s are 150 ms (well above an invocation's time on a
/// busy machine, so no receive is lost to an expired visibility), an hour is
/// 9 s, the backoff at most 14.6 s.
const EMBEDDED_SCALE: f64 = 0.0025;

fn embedded(outbox: &TempDir) -> Backends {
    Embedded::new(outbox.path().to_path_buf(), EMBEDDED_SCALE).backends()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_an_hour_of_throttling_leaves_the_worker_dlq_empty_and_stores_every_order_after_it()
 {
    let outbox = TempDir::new("wb-outbox");
    let settle = longest_backoff(EMBEDDED_SCALE, Duration::from_secs(1));

    let run = run(
        embedded(&outbox),
        EMBEDDED_SCALE,
        Duration::from_millis(100),
        settle,
        false,
    )
    .await;

    assert_outlived_the_hour(&run, GroupOrder::Kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_without_the_backoff_the_same_hour_sends_every_order_to_the_worker_dlq() {
    // The control: the test above can fail. With the queue's own 60 s
    // (60 ms here) five receives pass long before the hour does.
    let outbox = TempDir::new("wb-outbox");

    let run = run(
        embedded(&outbox),
        EMBEDDED_SCALE,
        Duration::from_millis(100),
        Duration::ZERO,
        true,
    )
    .await;

    assert!(run.stored.is_empty(), "stored {:?}", run.stored.keys());
    assert_eq!(run.dead_letters, ORDERS.len() as u64);
}

/// 1/300: an hour is 12 s; each backoff step, in whole seconds on SQS,
/// rounds up to 1, 1, 3 and 9 s at least (14 s in all).
const MOTO_SCALE: f64 = 1.0 / 300.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_an_hour_of_throttling_leaves_the_worker_dlq_empty_and_stores_every_order_after_it() {
    let moto = require_moto!();
    let settle = longest_backoff(MOTO_SCALE, Duration::from_secs(3));

    let run = run(
        Backends::aws(&moto.sdk_config()),
        MOTO_SCALE,
        Duration::from_secs(1),
        settle,
        false,
    )
    .await;

    assert_outlived_the_hour(&run, GroupOrder::Racy);
}

#[tokio::test]
async fn moto_the_sqs_adapter_keeps_a_message_invisible_for_the_delay_rounded_up_to_whole_seconds()
{
    let moto = require_moto!();
    let backends = Backends::aws(&moto.sdk_config());
    let q = &backends.queues;
    let url = q
        .create_queue(&QueueSpec {
            name: format!("{}.fifo", unique_name("wb-adapter")),
            fifo: true,
            visibility_timeout: Duration::from_secs(1),
            redrive: None,
        })
        .await
        .unwrap();
    let send = orders_backends::backend::SendMessage {
        body: "x".into(),
        group_id: Some("A".into()),
        dedup_id: Some("1".into()),
        ..Default::default()
    };
    q.send(&url, &send).await.unwrap();
    let got = q.receive(&url, 1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    let port = q.visibility_delay(&url);

    // 2.2 s asks SQS for 3 s: still invisible after the queue's 1 s and
    // after 2.2 s.
    let asked = Instant::now();
    port.delay(&got[0].receipt_handle, Duration::from_millis(2_200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_400)).await;
    assert!(
        q.receive(&url, 1, Duration::ZERO).await.unwrap().is_empty(),
        "visible before the delay ended"
    );
    let again = q.receive(&url, 1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(again.len(), 1, "never visible again");
    assert!(asked.elapsed() >= Duration::from_millis(2_900));
    assert_eq!(again[0].receive_count(), 2);

    // A handle SQS never issued is refused, for good.
    let refused = port
        .delay("not-a-receipt-handle", Duration::from_secs(60))
        .await;
    assert!(
        matches!(refused, Err(PortError::Permanent(_))),
        "{refused:?}"
    );
}
