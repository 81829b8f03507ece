//! Unit tests of the consumer on in-memory fakes, driven by the sample event
//! in `events/` and by generated batches.

use std::collections::HashSet;
use std::sync::Mutex;

use lambda_runtime::Context;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::idempotency::MemoryProcessedEvents;

/// A raw-delivered body and an SNS-enveloped one, as SQS hands them to Lambda.
const SAMPLE: &str = include_str!("../events/order-consumer-sqs.json");

/// Records the order ids it handled; fails for the ids in `fail`.
#[derive(Default)]
struct Recording {
    fail: Mutex<HashSet<String>>,
    handled: Mutex<Vec<String>>,
}

impl Recording {
    fn failing(ids: impl IntoIterator<Item = String>) -> Self {
        Self {
            fail: Mutex::new(ids.into_iter().collect()),
            ..Self::default()
        }
    }

    fn handled(&self) -> Vec<String> {
        self.handled.lock().unwrap().clone()
    }
}

#[async_trait]
impl OrderCreatedHandler for Recording {
    async fn handle(
        &self,
        event: &OrderCreated,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let id = event.order_id.as_str().to_owned();
        self.handled.lock().unwrap().push(id.clone());
        if self.fail.lock().unwrap().contains(&id) {
            return Err("downstream unavailable".into());
        }
        Ok(())
    }
}

fn deps(handler: Arc<Recording>, processed: Arc<MemoryProcessedEvents>) -> Deps {
    Deps {
        processed,
        handler,
        lock_for: LOCK_FOR,
        remember_for: REMEMBER_FOR,
    }
}

fn event_body(order_id: &str) -> String {
    json!({
        "eventType": "OrderCreated", "schemaVersion": 2,
        "eventId": format!("OrderCreated:anonymous:{order_id}"),
        "occurredAt": "2026-11-24T10:00:01Z", "correlationId": "c-1",
        "owner": "anonymous", "orderId": order_id, "acceptedAt": "2026-11-24T10:00:00Z",
        "lineCount": 1, "unitCount": 2,
        "items": [{"itemId": "sku-1", "quantity": 2}],
    })
    .to_string()
}

/// A batch of one record per body, from a FIFO queue (one message group)
/// or a standard one; message ids `m-0`, `m-1`, …
fn batch(bodies: &[String], fifo: bool) -> SqsEvent {
    let arn = if fifo {
        "arn:aws:sqs:us-east-1:123456789012:team-order-events.fifo"
    } else {
        "arn:aws:sqs:us-east-1:123456789012:team-order-events"
    };
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut attributes = json!({"ApproximateReceiveCount": "1"});
            if fifo {
                attributes["MessageGroupId"] = json!("g-1");
            }
            json!({"messageId": format!("m-{i}"), "body": body, "attributes": attributes,
                   "eventSource": "aws:sqs", "eventSourceARN": arn})
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

async fn run(deps: &Deps, event: SqsEvent) -> Vec<String> {
    handle_batch(deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap()
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

#[tokio::test]
async fn given_the_sample_then_raw_and_enveloped_bodies_are_handled_once_each() {
    let handler = Arc::new(Recording::default());
    let processed = Arc::new(MemoryProcessedEvents::default());
    let deps = deps(handler.clone(), processed.clone());
    let sample: SqsEvent = serde_json::from_str(SAMPLE).unwrap();

    let failed = run(&deps, sample.clone()).await;

    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(handler.handled(), ["23214", "A-1001"]);
    assert!(
        processed.is_done("OrderCreated:anonymous:23214")
            && processed.is_done("OrderCreated:anonymous:A-1001")
    );

    // When the same batch is delivered again (a replay, a redelivery), then
    // nothing is handled twice and nothing is reported.
    let failed = run(&deps, sample).await;
    assert!(failed.is_empty());
    assert_eq!(handler.handled().len(), 2);
}

#[tokio::test]
async fn given_poison_on_a_standard_queue_then_only_it_is_reported() {
    let handler = Arc::new(Recording::default());
    let deps = deps(handler.clone(), Arc::default());
    let mut v3: serde_json::Value = serde_json::from_str(&event_body("o-2")).unwrap();
    v3["schemaVersion"] = json!(3);
    let bodies = [
        event_body("o-1"),
        "not json".to_owned(),
        v3.to_string(),
        event_body("o-4"),
    ];

    let failed = run(&deps, batch(&bodies, false)).await;

    assert_eq!(failed, ["m-1", "m-2"]);
    assert_eq!(handler.handled(), ["o-1", "o-4"]);
}

#[tokio::test]
async fn given_a_failure_on_a_fifo_queue_then_it_and_every_later_record_are_reported_unhandled() {
    let handler = Arc::new(Recording::failing(["o-2".to_owned()]));
    let deps = deps(handler.clone(), Arc::default());
    let bodies = [event_body("o-1"), event_body("o-2"), event_body("o-3")];

    let failed = run(&deps, batch(&bodies, true)).await;

    assert_eq!(failed, ["m-1", "m-2"]);
    assert_eq!(handler.handled(), ["o-1", "o-2"], "o-3 must wait for o-2");
}

#[tokio::test]
async fn given_a_failed_handler_then_the_claim_is_released_and_the_retry_handles_it() {
    let handler = Arc::new(Recording::failing(["o-1".to_owned()]));
    let processed = Arc::new(MemoryProcessedEvents::default());
    let deps = deps(handler.clone(), processed.clone());
    let bodies = [event_body("o-1")];

    assert_eq!(run(&deps, batch(&bodies, false)).await, ["m-0"]);
    handler.fail.lock().unwrap().clear();
    assert!(run(&deps, batch(&bodies, false)).await.is_empty());

    assert_eq!(handler.handled(), ["o-1", "o-1"]);
    assert!(processed.is_done("OrderCreated:anonymous:o-1"));
}

#[tokio::test]
async fn given_a_claim_held_by_another_delivery_then_the_record_is_retried_not_dropped() {
    let handler = Arc::new(Recording::default());
    let processed = Arc::new(MemoryProcessedEvents::default());
    let deps = deps(handler.clone(), processed.clone());
    let now = unix_seconds(SystemTime::now());
    processed
        .claim("OrderCreated:anonymous:o-1", now, now + 600)
        .await
        .unwrap();

    let failed = run(&deps, batch(&[event_body("o-1")], false)).await;

    assert_eq!(failed, ["m-0"]);
    assert!(handler.handled().is_empty());
}

#[test]
fn the_batch_rule_by_example() {
    use Outcome::*;
    let outcomes = [Processed, Failed, Duplicate, Poison, Processed];
    assert_eq!(failures_to_report(false, &outcomes), [1, 3]);
    assert_eq!(failures_to_report(true, &outcomes), [1, 2, 3, 4]);
    assert!(failures_to_report(true, &[Processed, Duplicate]).is_empty());
}

proptest! {
    /// For any batch (1–10 records, any of them failing, FIFO or standard),
    /// run through the real handler: a standard queue reports exactly the
    /// failed records and handles all; a FIFO queue handles records up to
    /// the first failure only and reports it and everything after it.
    #[test]
    fn batch_failures_follow_the_queue_type(
        fails in proptest::collection::vec(any::<bool>(), 1..=10),
        fifo in any::<bool>(),
    ) {
        let ids: Vec<String> = (0..fails.len()).map(|i| format!("o-{i}")).collect();
        let failing = ids.iter().zip(&fails).filter(|(_, f)| **f).map(|(id, _)| id.clone());
        let handler = Arc::new(Recording::failing(failing));
        let deps = deps(handler.clone(), Arc::default());
        let bodies: Vec<String> = ids.iter().map(|id| event_body(id)).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();

        let reported = runtime.block_on(run(&deps, batch(&bodies, fifo)));

        let first_failure = fails.iter().position(|f| *f);
        let (expect_reported, expect_handled): (Vec<usize>, usize) = match (fifo, first_failure) {
            (true, Some(first)) => ((first..fails.len()).collect(), first + 1),
            _ => ((0..fails.len()).filter(|i| fails[*i]).collect(), fails.len()),
        };
        let expect_reported: Vec<String> =
            expect_reported.iter().map(|i| format!("m-{i}")).collect();
        prop_assert_eq!(reported, expect_reported);
        prop_assert_eq!(handler.handled(), ids[..expect_handled].to_vec());
    }
}
