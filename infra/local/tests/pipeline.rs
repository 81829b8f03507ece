//! End-to-end tests of the local pipeline: a real HTTP client against an
//! in-process `Pipeline` on a free port, over the embedded emulators, with
//! durations scaled down (counts never are).

// The whole file is test code; clippy's test allowance covers only `#[test]` fns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orders_local::backend::SendMessage;
use orders_local::embedded::Embedded;
use orders_local::{Pipeline, PipelineConfig, Ports, ResourceNames, Status, TimeScale};
use serde_json::{Value, json};
use shared::contract::OrderCreated;
use shared::ports::{EventPublisher, PortError};
use shared::settings::{MAX_RECEIVE_COUNT, NOTIFIER_MAX_RETRY_ATTEMPTS};

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

    fn emails(&self) -> Vec<String> {
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
    json!({"orderID": id, "customerName": customer,
           "items": [{"itemId": "item456", "quantity": 22}],
           "shippingAddress": "11 Nguyen Van Linh, Hanoi, Vietnam"})
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
    let emails = h.emails();
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
        let Some(serde_dynamo::AttributeValue::S(id)) = r.change.keys.get("orderId") else {
            panic!("no key");
        };
        by_customer
            .entry(id[..2].to_owned())
            .or_default()
            .push(id.clone());
    }
    assert_eq!(by_customer.len(), customers.len());
    for (customer, ids) in by_customer {
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "customer {customer} out of order");
        assert_eq!(ids.len(), per_customer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dlq_after_max_receive_count_while_other_groups_flow() {
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
        .wait_for("group B persisted", |s| s.stages.persisted == 5)
        .await;
    assert_eq!(
        s.queues["ordersDlq"].visible, 0,
        "group B flowed while the poison message was still being retried"
    );
    let s = h
        .wait_for("the poison message in the DLQ", |s| {
            s.queues["ordersDlq"].visible == 1
        })
        .await;
    assert_eq!(s.stages.failed, 1);
    assert_eq!(s.queues["orders"].visible + s.queues["orders"].in_flight, 0);
    let dead = h.embedded.queues.peek(&resources.orders_dlq_url).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "{not an order");
    assert_eq!(dead[0].receive_count(), MAX_RECEIVE_COUNT);
    assert_eq!(dead[0].attributes["MessageGroupId"], "poison-group");
    assert_eq!(
        s.invocations["workerItemFailures"],
        u64::from(MAX_RECEIVE_COUNT),
        "received (and failed) exactly maxReceiveCount times"
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
    let emails = h.emails();
    assert_eq!(emails.len(), 2);
    assert_eq!(
        emails
            .iter()
            .filter(|e| e.contains("New order dup-1"))
            .count(),
        1
    );
}

/// Blocks the first publish until released, fails every publish of one order,
/// and records what was published.
struct ScriptedPublisher {
    inner: Arc<dyn EventPublisher>,
    gate: tokio::sync::Semaphore,
    poison: String,
    published: Mutex<Vec<String>>,
    poison_attempts: Mutex<u32>,
}

#[async_trait]
impl EventPublisher for ScriptedPublisher {
    async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
        if event.order_id.as_str() == "gate" {
            let _permit = self.gate.acquire().await.unwrap();
        }
        if event.order_id.as_str() == self.poison {
            *self.poison_attempts.lock().unwrap() += 1;
            return Err(PortError::Transient("injected".into()));
        }
        self.inner.publish(event).await?;
        self.published
            .lock()
            .unwrap()
            .push(event.order_id.as_str().to_owned());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_notifier_record_retries_checkpoints_and_lands_in_the_on_failure_queue() {
    let scripted: Arc<Mutex<Option<Arc<ScriptedPublisher>>>> = Arc::default();
    let slot = scripted.clone();
    let h = Harness::start_with(move |ports| {
        let p = Arc::new(ScriptedPublisher {
            inner: ports.publisher.clone(),
            gate: tokio::sync::Semaphore::new(0),
            poison: "bad".into(),
            published: Mutex::default(),
            poison_attempts: Mutex::default(),
        });
        *slot.lock().unwrap() = Some(p.clone());
        Ports {
            publisher: p,
            ..ports
        }
    })
    .await;
    let publisher = scripted.lock().unwrap().clone().unwrap();
    // The gate order holds the notifier so the next three arrive as one batch.
    for id in ["gate", "ok-1", "bad", "ok-2"] {
        assert_eq!(h.post(&order(id, "Nia Notify")).await.status(), 202);
    }
    // The notifier is held, so look at the table itself: ok-2 is last in its group.
    let start = Instant::now();
    let backends = h.pipeline.backends().clone();
    while backends
        .tables
        .get(&h.pipeline.resources().table, "ok-2")
        .await
        .unwrap()
        .is_none()
    {
        assert!(start.elapsed() < DEADLINE, "ok-2 never persisted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    publisher.gate.add_permits(1);
    let s = h
        .wait_for("the bad record in the on-failure queue", |s| {
            s.queues["notifierOnFailure"].visible == 1 && s.stages.notified == 3
        })
        .await;
    assert_eq!(s.stages.failed, 1);
    assert_eq!(
        *publisher.published.lock().unwrap(),
        ["gate", "ok-1", "ok-2"],
        "ok-1 was checkpointed, not published again by the retries"
    );
    assert_eq!(
        *publisher.poison_attempts.lock().unwrap(),
        1 + NOTIFIER_MAX_RETRY_ATTEMPTS
    );
    let failure = h
        .pipeline
        .backends()
        .queues
        .receive(
            &h.pipeline.resources().on_failure_queue_url,
            1,
            Duration::ZERO,
        )
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&failure[0].body).unwrap();
    assert_eq!(v["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(
        v["requestContext"]["approximateInvokeCount"],
        1 + NOTIFIER_MAX_RETRY_ATTEMPTS
    );
    assert!(
        v["requestContext"]["functionArn"]
            .as_str()
            .unwrap()
            .ends_with("notifier")
    );
    assert_eq!(v["version"], "1.0");
    let info = &v["DDBStreamBatchInfo"];
    assert_eq!(
        info["batchSize"], 1,
        "bisection narrowed the batch to the bad record"
    );
    assert_eq!(info["startSequenceNumber"], info["endSequenceNumber"]);
    assert!(info["streamArn"].as_str().unwrap().contains("/stream/"));
    assert!(info["shardId"].as_str().unwrap().starts_with("shardId-"));
    assert!(
        info["approximateArrivalOfFirstRecord"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_intake_first_and_reports_nothing_left() {
    let outbox = std::env::temp_dir().join(format!("orders-local-test-{}", uuid::Uuid::new_v4()));
    let embedded = Embedded::new(outbox.clone(), SCALE);
    let config = PipelineConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        time_scale: TimeScale(SCALE),
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
    assert_eq!(summary.status.queues["orders"].visible, 0);
    assert!(summary.lines()[0].contains("accepted 1"));
    assert!(http.post(format!("{url}/orders")).send().await.is_err());
    let _ = std::fs::remove_dir_all(outbox);
}

/// Fails every publish of one order while `failing` is set.
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
            return Err(PortError::Transient("injected".into()));
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
    h.wait_for("the failed batch in the notifier DLQ", |s| {
        s.queues["notifierOnFailure"].visible == 1
    })
    .await;
    let backends = h.pipeline.backends().clone();
    let r = h.pipeline.resources();
    let replay = |deps: notifier::Deps| {
        let backends = backends.clone();
        let (table, dlq) = (r.table.clone(), r.on_failure_queue_url.clone());
        async move {
            orders_local::replay::replay_notifier_dlq(
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
    let report = replay(notifier::Deps::new(flaky.clone())).await;
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
    let report = replay(notifier::Deps::new(flaky.clone())).await;
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
        h.emails().iter().any(|e| e.contains("New order late")),
        "the admin e-mail went out on replay"
    );
}
