//! End-to-end tests of the local pipeline: a real HTTP client against an
//! in-process `Pipeline` on a free port, over the embedded emulators, with
//! durations scaled down (counts never are).

// The whole file is test code; clippy's test allowance covers only `#[test]` fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orders_adapters::record::ItemMapping;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use notifier::dead_letter::NotifierDeadLetter;
use orders_adapters::ports::{EventPublisher, PortError};
use orders_adapters::record::StoredOrder;
use orders_adapters::settings::MAX_RECEIVE_COUNT;
use orders_backends::backend::{QueueService, QueueSpec, SendMessage, TableService};
use orders_backends::embedded::Embedded;
use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::{LEGACY_CUSTOMER_NAME, LEGACY_SHIPPING_ADDRESS, legacy_order};
use orders_local::mapping::stream::StreamMapping;
use orders_local::stats::Counters;
use orders_local::{Pipeline, PipelineConfig, Ports, ResourceNames, Status, TimeScale};
use serde_dynamo::AttributeValue;
use serde_json::{Value, json};

/// 60 s visibility timeout → 0.6 s; 5 min dedup window → 3 s.
const SCALE: f64 = 0.01;
const DEADLINE: Duration = Duration::from_secs(10);

struct Harness {
    pipeline: Pipeline,
    embedded: Embedded,
    http: reqwest::Client,
    outbox: PathBuf,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(|p| p).await
    }

    async fn start_with(customize: impl FnOnce(Ports) -> Ports) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let outbox = std::env::temp_dir().join(format!("orders-local-test-{id}"));
        let embedded = Embedded::new(outbox.clone(), SCALE);
        let config = PipelineConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            names: ResourceNames::with_prefix(&format!("t{}-", &id[..8])),
            time_scale: TimeScale(SCALE),
            email: Some("ops@example.com".into()),
            drain_timeout: Duration::from_secs(3),
            ..PipelineConfig::default()
        };
        let pipeline = Pipeline::start_with(config, embedded.backends(), customize)
            .await
            .unwrap();
        Self {
            pipeline,
            embedded,
            http: reqwest::Client::new(),
            outbox,
        }
    }

    async fn post(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/orders", self.pipeline.url()))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn status(&self) -> Status {
        let v: Value = self
            .http
            .get(format!("{}/_local/status", self.pipeline.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
    }

    /// Polls the status endpoint until `done` holds, failing after the deadline.
    async fn wait_for(&self, what: &str, done: impl Fn(&Status) -> bool) -> Status {
        let start = Instant::now();
        loop {
            let s = self.status().await;
            if done(&s) {
                return s;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The outbox's e-mails, once the admin digest has e-mailed every event
    /// published so far and the e-mails are written.
    async fn emails(&self) -> Vec<String> {
        self.wait_for("the admin digest's queue drained", |s| {
            let q = &s.queues["adminDigest"];
            q.visible + q.in_flight == 0
        })
        .await;
        self.embedded.topics.delivered().await;
        let Ok(dir) = std::fs::read_dir(&self.outbox) else {
            return Vec::new();
        };
        dir.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

fn order(id: &str, customer: &str) -> Value {
    let mut body = legacy_order(id);
    body["customerName"] = json!(customer);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_curl_is_accepted_persisted_notified_and_emailed_within_a_second() {
    let h = Harness::start().await;
    let started = Instant::now();
    let response = h.post(&order("23214", "Harry Kane")).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["orderId"], "23214");
    let s = h
        .wait_for("persisted and notified", |s| {
            s.stages.persisted == 1 && s.stages.notified == 1
        })
        .await;
    let latency = started.elapsed();
    println!("POST → notified: {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert_eq!(s.stages.accepted, 1);
    assert_eq!(s.stages.failed, 0);
    assert_eq!(
        s.queues["events"].visible, 1,
        "the events queue got the envelope"
    );
    let emails = h.emails().await;
    assert_eq!(emails.len(), 1);
    assert!(emails[0].contains("Subject: New order 23214"));
    assert!(
        !emails[0].contains("Harry"),
        "no personal data in the e-mail"
    );
    let envelope = h
        .pipeline
        .backends()
        .queues
        .receive(&h.pipeline.resources().events_queue_url, 1, Duration::ZERO)
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&envelope[0].body).unwrap();
    assert_eq!(v["Type"], "Notification");
    let event: Value = serde_json::from_str(v["Message"].as_str().unwrap()).unwrap();
    assert_eq!(event["eventType"], "OrderCreated");
    assert_eq!(event["orderId"], "23214");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_problem_404s() {
    let h = Harness::start().await;
    let r = h
        .http
        .get(format!("{}/orders", h.pipeline.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = h.post(&json!({"items": []})).await;
    assert_eq!(r.status(), 422, "validation is the intake's own answer");
    assert_eq!(h.status().await.stages.rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_of_a_customer_are_persisted_in_posting_order_under_concurrent_posting() {
    let h = Arc::new(Harness::start().await);
    let customers: [&'static str; 3] = ["Ann Able", "Bob Baker", "Cy Cole"];
    let per_customer = 8;
    let mut posters = Vec::new();
    for (c, customer) in customers.into_iter().enumerate() {
        let h = h.clone();
        posters.push(tokio::spawn(async move {
            for n in 0..per_customer {
                let r = h.post(&order(&format!("c{c}-{n:02}"), customer)).await;
                assert_eq!(r.status(), 202);
            }
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
    let total = (customers.len() * per_customer) as u64;
    h.wait_for("all persisted", |s| s.stages.persisted == total)
        .await;
    let mut reader = h
        .pipeline
        .backends()
        .tables
        .open_stream(&h.pipeline.resources().table)
        .await
        .unwrap();
    let records = reader.next_records(1000).await.unwrap();
    let mut by_customer: HashMap<String, Vec<String>> = HashMap::new();
    for r in records.iter().filter(|r| r.event_name == "INSERT") {
        let Some(serde_dynamo::AttributeValue::S(key)) = r.change.keys.get("orderKey") else {
            panic!("no key");
        };
        let id = key.strip_prefix("anonymous#").unwrap();
        by_customer
            .entry(id[..2].to_owned())
            .or_default()
            .push(id.to_owned());
    }
    assert_eq!(by_customer.len(), customers.len());
    for (customer, ids) in by_customer {
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "customer {customer} out of order");
        assert_eq!(ids.len(), per_customer);
    }
}

/// The worker sends a poison message to its DLQ on the first receive (it
/// fails the same way on every delivery); the redrive policy's
/// `maxReceiveCount` is only the backstop for when that send fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_worker_dlq_at_once_while_other_groups_flow() {
    let h = Harness::start().await;
    let resources = h.pipeline.resources().clone();
    h.pipeline
        .backends()
        .queues
        .send(
            &resources.orders_queue_url,
            &SendMessage {
                body: "{not an order".into(),
                group_id: Some("poison-group".into()),
                dedup_id: Some("poison-1".into()),
                message_attributes: HashMap::new(),
                trace_header: None,
            },
        )
        .await
        .unwrap();
    for n in 0..5 {
        assert_eq!(
            h.post(&order(&format!("b-{n}"), "Bea Flow")).await.status(),
            202
        );
    }
    let s = h
        .wait_for("group B persisted and the poison message in the DLQ", |s| {
            s.stages.persisted == 5 && s.queues["ordersDlq"].visible == 1
        })
        .await;
    assert_eq!(s.stages.failed, 1);
    assert_eq!(s.queues["orders"].visible + s.queues["orders"].in_flight, 0);
    let dead = h.embedded.queues.peek(&resources.orders_dlq_url).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].body, "{not an order",
        "the body unchanged, for a redrive"
    );
    assert_eq!(dead[0].attributes["MessageGroupId"], "poison-group");
    assert_eq!(dead[0].message_attributes["reason"], "poison");
    assert_eq!(dead[0].message_attributes["stage"], "worker");
    assert_eq!(
        s.invocations["workerItemFailures"], 0,
        "dead-lettered, not retried up to maxReceiveCount ({MAX_RECEIVE_COUNT})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_post_inside_the_window_creates_one_item_and_one_notification() {
    let h = Harness::start().await;
    assert_eq!(h.post(&order("dup-1", "Dee Dup")).await.status(), 202);
    assert_eq!(h.post(&order("dup-1", "Dee Dup")).await.status(), 202);
    // Same customer, so the same FIFO group: once this one is notified, any
    // second copy of dup-1 would have been processed before it.
    assert_eq!(h.post(&order("dup-2", "Dee Dup")).await.status(), 202);
    let s = h
        .wait_for("dup-2 notified", |s| s.stages.notified == 2)
        .await;
    assert_eq!(s.stages.accepted, 3);
    assert_eq!(s.stages.persisted, 2);
    assert_eq!(s.queues["events"].visible, 2);
    let emails = h.emails().await;
    for id in ["dup-1", "dup-2"] {
        assert_eq!(emails_listing(&emails, id), 1, "{id} in {emails:?}");
    }
}

/// How many of the admin's e-mails list the order: as the detail of a
/// batch of one (its subject) or as an order of a digest.
fn emails_listing(emails: &[String], id: &str) -> usize {
    let detail = format!("Subject: New order {id}\r\n");
    let digest = format!("\nOrder {id} (");
    emails
        .iter()
        .filter(|e| e.contains(&detail) || e.contains(&digest))
        .count()
}

/// A flash sale on the runner's own settings (batch size, batching window
/// scaled like every wait, maximum concurrency, one e-mail per second per
/// invocation): 300 orders in a few seconds make few e-mails, each order is
/// in exactly one, and the e-mail subscription, which SNS suspends above
/// ten messages a second, stays confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_300_orders_reaches_the_admin_in_at_most_30_emails_each_order_once() {
    let h = Arc::new(Harness::start().await);
    let orders = 300;
    let clients = 10;
    let mut posters = Vec::new();
    for c in 0..clients {
        let h = h.clone();
        posters.push(tokio::spawn(async move {
            for n in (c..orders).step_by(clients) {
                let r = h.post(&order(&format!("sale-{n:03}"), "Sam Sale")).await;
                assert_eq!(r.status(), 202);
            }
        }));
    }
    for p in posters {
        p.await.unwrap();
    }
    h.wait_for("every order notified", |s| {
        s.stages.notified == orders as u64
    })
    .await;
    let emails = h.emails().await;
    println!("{orders} orders -> {} admin e-mails", emails.len());
    assert!(
        !emails.is_empty() && emails.len() <= 30,
        "{} e-mails",
        emails.len()
    );
    for n in 0..orders {
        let id = format!("sale-{n:03}");
        assert_eq!(emails_listing(&emails, &id), 1, "{id}");
    }
    for email in &emails {
        assert!(!email.contains("Sam Sale") && !email.contains("Nguyen"));
    }
    assert_eq!(
        h.pipeline.backends().topics.suspended_subscriptions(),
        Vec::<String>::new(),
        "the e-mail subscription is never suspended"
    );
    let s = h.status().await;
    assert_eq!(s.queues["adminDigestDlq"].visible, 0);
    assert!(s.invocations["adminDigest"] >= 1);
}

/// The notifier's stream mapping alone, over an embedded table and queue:
/// records are written first and the mapping runs until they are all done, so
/// every batch is known in advance. Used where a test needs what the pipeline
/// does not configure (a finite retry limit, a short timeout).
struct StreamRig {
    embedded: Embedded,
    table: String,
    on_failure_url: String,
    counters: Arc<Counters>,
}

impl StreamRig {
    async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let embedded = Embedded::new(std::env::temp_dir().join(format!("rig-{id}")), SCALE);
        let table = format!("rig{}-orders", &id[..8]);
        embedded.tables.create_table(&table).await.unwrap();
        let on_failure_url = embedded
            .queues
            .create_queue(&QueueSpec {
                name: format!("rig{}-notifier-on-failure", &id[..8]),
                fifo: false,
                visibility_timeout: Duration::from_secs(30),
                redrive: None,
            })
            .await
            .unwrap();
        Self {
            embedded,
            table,
            on_failure_url,
            counters: Arc::default(),
        }
    }

    /// Stores a valid order (an INSERT on the stream).
    async fn put_order(&self, order_id: &str) {
        let request = OrderRequest::from_json(&order(order_id, "Harry Kane")).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let message = OrderMessage::new(
            orders_domain::model::OwnerKey::anonymous(),
            request.order_id.unwrap(),
            CorrelationId::parse("c-rig").unwrap(),
            now,
            request.order,
        );
        let item = StoredOrder::from_message(&message, now).to_item().unwrap();
        self.embedded.tables.put(&self.table, item).await.unwrap();
    }

    /// Stores an item that is not a readable order, with a customer's name and
    /// address in it (an INSERT the notifier cannot read).
    async fn put_unreadable(&self, order_id: &str) {
        let item = serde_dynamo::Item::from(HashMap::from([
            (
                "orderKey".to_owned(),
                AttributeValue::S(format!("anonymous#{order_id}")),
            ),
            ("orderId".to_owned(), AttributeValue::S(order_id.to_owned())),
            (
                "customerName".to_owned(),
                AttributeValue::S(LEGACY_CUSTOMER_NAME.into()),
            ),
            (
                "shippingAddress".to_owned(),
                AttributeValue::S(LEGACY_SHIPPING_ADDRESS.into()),
            ),
            ("items".to_owned(), AttributeValue::S("garbage".into())),
        ]));
        self.embedded.tables.put(&self.table, item).await.unwrap();
    }

    /// Sequence numbers of the stream's records, by order id.
    async fn sequences(&self) -> HashMap<String, String> {
        let mut reader = self.embedded.tables.open_stream(&self.table).await.unwrap();
        reader
            .next_records(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                let Some(AttributeValue::S(key)) = r.change.keys.get("orderKey") else {
                    panic!("no key");
                };
                let id = key.strip_prefix("anonymous#").unwrap();
                (id.to_owned(), r.change.sequence_number.clone().unwrap())
            })
            .collect()
    }

    /// Runs the mapping over everything written so far, until it is done.
    async fn run(
        &self,
        publisher: Arc<dyn EventPublisher>,
        max_retry_attempts: Option<u32>,
        timeout: Duration,
    ) {
        let queues = self.embedded.backends().queues;
        let mapping = StreamMapping {
            reader: tokio::sync::Mutex::new(
                self.embedded.tables.open_stream(&self.table).await.unwrap(),
            ),
            deps: Arc::new(notifier::Deps::new(
                publisher,
                queues.dead_letter_queue(&self.on_failure_url),
            )),
            queues,
            on_failure_url: self.on_failure_url.clone(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:rig-notifier".into(),
            timeout,
            max_record_age: Duration::from_secs(3600),
            max_retry_attempts,
            retry_backoff: Duration::from_millis(1),
            counters: self.counters.clone(),
            idle_at: Arc::default(),
            pending_count: Arc::default(),
        };
        // Stopped from the start: the mapping returns once the stream is worked off.
        let (_stop, stopped) = tokio::sync::watch::channel(true);
        // Longer than DEADLINE: a notifier invocation may spend 8 of its 10 s
        // retrying (on the paused clock of the tests that do).
        tokio::time::timeout(DEADLINE * 6, mapping.run(stopped))
            .await
            .expect("the mapping worked off the stream");
    }

    /// The on-failure queue's messages (not received).
    fn on_failure(&self) -> Vec<orders_backends::backend::ReceivedMessage> {
        self.embedded.queues.peek(&self.on_failure_url).unwrap()
    }

    fn invocations(&self) -> u64 {
        Counters::get(&self.counters.notifier_invocations)
    }
}

/// Records every publish; fails the publishes of one order transiently until
/// `fails_until` on tokio's clock (paused in the tests that use it), or hangs
/// on them when `hang`. The notifier retries a refused publish inside its
/// invocation for as long as the deadline allows, so a failure reaches the
/// mapping only when it outlasts an invocation.
struct Scripted {
    order: String,
    fails_until: Option<tokio::time::Instant>,
    hang: bool,
    published: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(order: &str, fails_for: Option<Duration>, hang: bool) -> Arc<Self> {
        Arc::new(Self {
            order: order.to_owned(),
            fails_until: fails_for.map(|d| tokio::time::Instant::now() + d),
            hang,
            published: Mutex::default(),
        })
    }

    fn published(&self) -> Vec<String> {
        self.published.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for Scripted {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        if event.order_id.as_str() == self.order {
            if self.hang {
                std::future::pending::<()>().await;
            }
            if self
                .fails_until
                .is_some_and(|until| tokio::time::Instant::now() < until)
            {
                return Err(PortError::Transient("injected".into()));
            }
        }
        self.published
            .lock()
            .unwrap()
            .push(event.order_id.as_str().to_owned());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_insert_is_dead_lettered_without_its_image_and_the_good_one_is_published_in_the_same_invocation()
 {
    let rig = StreamRig::new().await;
    // Given one stream batch [unreadable INSERT, good INSERT]
    rig.put_unreadable("poison-1").await;
    rig.put_order("good-1").await;
    let publisher = Scripted::new("none", None, false);

    // When the mapping invokes the notifier
    rig.run(publisher.clone(), None, Duration::from_secs(10))
        .await;

    // Then the good one is published by that one invocation
    assert_eq!(publisher.published(), ["good-1"]);
    assert_eq!(
        rig.invocations(),
        1,
        "no retry: the poison record did not fail the batch"
    );
    assert_eq!(Counters::get(&rig.counters.notifier_dead_records), 0);
    // And the unreadable one is in the notifier DLQ, described, not copied
    let dead = rig.on_failure();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_attributes["reason"], "poison");
    let letter: NotifierDeadLetter = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(letter.reason(), Some("poison"));
    assert_eq!(letter.source.as_deref(), Some("notifier"));
    assert!(!letter.is_replayable());
    assert_eq!(letter.keys.unwrap()["orderKey"], "anonymous#poison-1");
    let sequences = rig.sequences().await;
    assert_eq!(letter.batch.start_sequence_number, sequences["poison-1"]);
    assert_eq!(letter.batch.end_sequence_number, sequences["poison-1"]);
    for personal in ["Harry", "Kane", "Nguyen", "Hanoi", "garbage"] {
        assert!(
            !dead[0].body.contains(personal),
            "the image leaked into the DLQ: {}",
            dead[0].body
        );
    }
}

#[tokio::test(start_paused = true)]
async fn with_a_finite_retry_limit_a_record_that_keeps_failing_sends_the_whole_remainder_to_the_on_failure_queue()
 {
    let rig = StreamRig::new().await;
    for id in ["ok-1", "bad", "ok-2", "ok-3"] {
        rig.put_order(id).await;
    }
    // Given a publisher that fails transiently on one order forever, and
    // MaximumRetryAttempts 2
    let publisher = Scripted::new("bad", Some(Duration::from_secs(24 * 3600)), false);
    rig.run(publisher.clone(), Some(2), Duration::from_secs(10))
        .await;

    // Then the records before it were published once, and from it on the
    // whole rest of the batch went to the on-failure queue unpublished (AWS
    // drops the remainder, not just the failing record)
    assert_eq!(publisher.published(), ["ok-1"]);
    assert_eq!(rig.invocations(), 3, "1 + MaximumRetryAttempts");
    assert_eq!(Counters::get(&rig.counters.notified), 1);
    assert_eq!(Counters::get(&rig.counters.notifier_dead_records), 3);
    let dead = rig.on_failure();
    assert_eq!(dead.len(), 1, "one on-failure record for the remainder");
    let v: Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(v["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(v["requestContext"]["approximateInvokeCount"], 3);
    assert!(
        v["requestContext"]["functionArn"]
            .as_str()
            .unwrap()
            .ends_with("notifier")
    );
    assert_eq!(v["version"], "1.0");
    let info = &v["DDBStreamBatchInfo"];
    let sequences = rig.sequences().await;
    assert_eq!(info["batchSize"], 3, "bad, ok-2, ok-3");
    assert_eq!(info["startSequenceNumber"], sequences["bad"].as_str());
    assert_eq!(info["endSequenceNumber"], sequences["ok-3"].as_str());
    assert!(info["streamArn"].as_str().unwrap().contains("/stream/"));
    assert!(info["shardId"].as_str().unwrap().starts_with("shardId-"));
    assert!(
        info["approximateArrivalOfFirstRecord"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    // And the on-failure record parses as a replayable notifier DLQ message.
    let letter: NotifierDeadLetter = serde_json::from_str(&dead[0].body).unwrap();
    assert!(letter.is_replayable());
}

#[tokio::test(start_paused = true)]
async fn after_an_item_failure_the_retry_is_the_whole_remainder_not_half_of_it() {
    let rig = StreamRig::new().await;
    for id in ["ok-1", "flaky", "ok-2", "ok-3", "ok-4"] {
        rig.put_order(id).await;
    }
    // Given a publisher that fails on one order for longer than one
    // invocation retries it (10 s less the 2 s reserve), then recovers
    let publisher = Scripted::new("flaky", Some(Duration::from_secs(9)), false);
    rig.run(publisher.clone(), None, Duration::from_secs(10))
        .await;

    // Then: [ok-1, flaky, ok-2, ok-3, ok-4] checkpoints at flaky, and
    // [flaky, ok-2, ok-3, ok-4] is retried whole and succeeds: two
    // invocations. Halving would have taken [flaky, ok-2], then
    // [ok-3, ok-4]: three.
    assert_eq!(rig.invocations(), 2);
    assert_eq!(
        publisher.published(),
        ["ok-1", "flaky", "ok-2", "ok-3", "ok-4"],
        "each once, in stream order"
    );
    assert!(rig.on_failure().is_empty());
    assert_eq!(Counters::get(&rig.counters.notified), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_batch_is_bisected_and_splitting_does_not_use_the_retry_quota() {
    let rig = StreamRig::new().await;
    for id in ["a", "slow", "b", "c"] {
        rig.put_order(id).await;
    }
    // Given a publisher that hangs on one order (the invocation times out),
    // and MaximumRetryAttempts 1
    let publisher = Scripted::new("slow", None, true);
    rig.run(publisher.clone(), Some(1), Duration::from_millis(200))
        .await;

    // Then [a, slow, b, c] → [a, slow] + [b, c]; [a, slow] → [a] + [slow];
    // [slow] fails twice (one retry) and is given up on alone; [b, c] goes on.
    // Had the splits used the quota, [a, slow] would have been given up on.
    let dead = rig.on_failure();
    assert_eq!(dead.len(), 1);
    let v: Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(v["DDBStreamBatchInfo"]["batchSize"], 1);
    let sequences = rig.sequences().await;
    assert_eq!(
        v["DDBStreamBatchInfo"]["startSequenceNumber"],
        sequences["slow"].as_str()
    );
    assert_eq!(rig.invocations(), 6);
    let published = publisher.published();
    assert_eq!(
        published.iter().filter(|id| *id == "a").count(),
        3,
        "a timed-out batch is retried whole: a is published again"
    );
    assert!(published.ends_with(&["b".to_owned(), "c".to_owned()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_intake_first_and_reports_nothing_left() {
    let outbox = std::env::temp_dir().join(format!("orders-local-test-{}", uuid::Uuid::new_v4()));
    let embedded = Embedded::new(outbox.clone(), SCALE);
    let config = PipelineConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        time_scale: TimeScale(SCALE),
        email: Some("ops@example.com".into()),
        drain_timeout: Duration::from_secs(3),
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(config, embedded.backends()).await.unwrap();
    let url = pipeline.url().to_owned();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/orders"))
        .json(&order("last", "Lee Last"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let summary = pipeline.shutdown().await;
    assert!(summary.drained, "{:?}", summary.lines());
    assert_eq!(summary.status.stages.notified, 1);
    assert_eq!(summary.undelivered, 0);
    assert_eq!(
        std::fs::read_dir(&outbox).unwrap().count(),
        1,
        "the e-mail is in the outbox once shutdown returns"
    );
    assert_eq!(summary.status.queues["orders"].visible, 0);
    assert!(summary.lines()[0].contains("accepted 1"));
    assert!(http.post(format!("{url}/orders")).send().await.is_err());
    let _ = std::fs::remove_dir_all(outbox);
}

/// Refuses every publish of one order for good while `failing` is set (as
/// SNS refuses a publish to a deleted topic).
struct Flaky {
    inner: Arc<dyn EventPublisher>,
    order: String,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl EventPublisher for Flaky {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        if event.order_id.as_str() == self.order
            && self.failing.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(PortError::Permanent("injected".into()));
        }
        self.inner.publish(event).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifier_dlq_replays_once_the_cause_is_fixed_and_keeps_what_still_fails() {
    let slot: Arc<Mutex<Option<Arc<Flaky>>>> = Arc::default();
    let keep = slot.clone();
    let h = Harness::start_with(move |ports| {
        let p = Arc::new(Flaky {
            inner: ports.publisher.clone(),
            order: "late".into(),
            failing: true.into(),
        });
        *keep.lock().unwrap() = Some(p.clone());
        Ports {
            publisher: p,
            ..ports
        }
    })
    .await;
    let flaky = slot.lock().unwrap().clone().unwrap();
    assert_eq!(h.post(&order("late", "Rhea Replay")).await.status(), 202);
    // The notifier sends its own description of the refused record to its DLQ.
    h.wait_for("the refused record in the notifier DLQ", |s| {
        s.queues["notifierOnFailure"].visible == 1
    })
    .await;
    let backends = h.pipeline.backends().clone();
    let r = h.pipeline.resources();
    let replay = |deps: notifier::Deps| {
        let backends = backends.clone();
        let (table, dlq) = (r.table.clone(), r.on_failure_queue_url.clone());
        async move {
            orders_ops::replay::replay_notifier_dlq(
                backends.queues.as_ref(),
                backends.tables.as_ref(),
                &table,
                &dlq,
                &deps,
            )
            .await
            .unwrap()
        }
    };

    // Given the cause is not fixed, when replayed, then the message stays.
    let report = replay(orders_ops::replay::replay_deps(flaky.clone())).await;
    assert_eq!(report.still_failing.len(), 1, "{report:?}");
    assert!(report.replayed.is_empty());
    h.wait_for("the message visible in the DLQ again", |s| {
        s.queues["notifierOnFailure"].visible == 1
    })
    .await;

    // Given the cause is fixed, when replayed, then the event is published once
    // and the DLQ message is deleted.
    flaky
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let events_before = h.status().await.queues["events"].visible;
    let report = replay(orders_ops::replay::replay_deps(flaky.clone())).await;
    assert_eq!(report.replayed.len(), 1, "{report:?}");
    assert_eq!(report.records, 1);
    let s = h
        .wait_for("the replayed event on the events queue", |s| {
            s.queues["events"].visible == events_before + 1
        })
        .await;
    assert_eq!(s.queues["notifierOnFailure"].visible, 0);
    assert_eq!(s.queues["notifierOnFailure"].in_flight, 0);
    assert!(
        h.emails()
            .await
            .iter()
            .any(|e| e.contains("New order late")),
        "the admin e-mail went out on replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dlq_range_whose_start_was_trimmed_from_the_stream_is_neither_published_nor_deleted() {
    let h = Harness::start().await;
    for id in ["gap-1", "gap-2"] {
        assert_eq!(h.post(&order(id, "Gus Gap")).await.status(), 202);
    }
    let s = h
        .wait_for("both notified", |s| s.stages.notified == 2)
        .await;
    let events_before = s.queues["events"].visible;
    let backends = h.pipeline.backends().clone();
    let r = h.pipeline.resources().clone();
    let mut reader = backends.tables.open_stream(&r.table).await.unwrap();
    let records = reader.next_records(10).await.unwrap();
    assert_eq!(records.len(), 2);

    // Given Lambda's on-failure record for both INSERTs
    let body = json!({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
        "version": "1.0",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000000000000000001-00000001",
            "startSequenceNumber": records[0].change.sequence_number,
            "endSequenceNumber": records[1].change.sequence_number,
            "batchSize": 2,
            "streamArn": records[0].event_source_arn,
        }
    });
    let id = backends
        .queues
        .send(
            &r.on_failure_queue_url,
            &SendMessage {
                body: body.to_string(),
                ..SendMessage::default()
            },
        )
        .await
        .unwrap();
    // And the stream has since trimmed the first of them
    h.embedded.tables.trim_stream(&r.table, 1).unwrap();

    // When replayed
    let deps = orders_ops::replay::replay_deps(backends.topics.event_publisher(&r.topic_arn));
    let report = orders_ops::replay::replay_notifier_dlq(
        backends.queues.as_ref(),
        backends.tables.as_ref(),
        &r.table,
        &r.on_failure_queue_url,
        &deps,
    )
    .await
    .unwrap();

    // Then the part still in the stream is not published on its own, and the
    // message stays for the manual path
    assert_eq!(report.incomplete, [id], "{report:?}");
    assert!(report.replayed.is_empty());
    assert_eq!(report.records, 0);
    let s = h.status().await;
    assert_eq!(
        s.queues["events"].visible, events_before,
        "gap-2 was not republished"
    );
    let left = &s.queues["notifierOnFailure"];
    assert_eq!(left.visible + left.in_flight, 1, "the DLQ message was kept");
}
