//! End to end over moto: the `orders-local` binary with `--endpoint-url`
//! pointing at moto runs the real handlers against the real AWS APIs.
//!
//! Each test starts its own `orders-local` with a unique name prefix (so its
//! queues, table and topic are its own) and `--time-scale 0.02` (visibility
//! timeout 60 s → 2 s, whole seconds on SQS; counts such as maxReceiveCount are
//! never scaled), and checks the results through the SDK.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orders_adapters::record::ItemMapping;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use orders_adapters::ports::DEAD_LETTER_REASON_ATTRIBUTE;
use orders_adapters::record::{KEY_ATTRIBUTE, StoredOrder};
use orders_adapters::settings::MAX_RECEIVE_COUNT;
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated};
use orders_domain::test_support::{LEGACY_CUSTOMER_NAME, legacy_order};
use orders_tests::local::LocalPipeline;
use orders_tests::services::drain;
use orders_tests::{MotoServer, MotoStack, require_moto};
use orders_tests::{queue_attribute, string_attribute};

/// How long a stage may take: with the time scale, redrive after
/// maxReceiveCount × 2 s and three notifier retries take ~15 s.
const WITHIN: Duration = Duration::from_secs(90);

const EMAIL: &str = "orders-team@example.com";

/// One runner over moto, with its own name prefix.
struct Run {
    pipeline: LocalPipeline,
    stack: MotoStack,
}

impl Run {
    async fn start(moto: &MotoServer) -> Self {
        let stack = MotoStack::new(moto, "e2e");
        let pipeline = stack
            .start(&[
                "--time-scale",
                "0.02",
                "--email",
                EMAIL,
                "--drain-timeout",
                "1",
            ])
            .await;
        Self { pipeline, stack }
    }

    /// A standard queue of this run subscribed to the topic (raw delivery,
    /// filter on `eventType`).
    async fn subscribe_raw_queue(&self) -> String {
        let url = self
            .stack
            .sqs
            .create_queue()
            .queue_name(self.stack.name("test-events"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = queue_attribute(&self.stack.sqs, &url, QueueAttributeName::QueueArn)
            .await
            .unwrap();
        self.stack
            .sns
            .subscribe()
            .topic_arn(self.stack.topic_arn().await)
            .protocol("sqs")
            .endpoint(arn)
            .attributes("RawMessageDelivery", "true")
            .attributes("FilterPolicy", r#"{"eventType":["OrderCreated"]}"#)
            .send()
            .await
            .unwrap();
        url
    }

    /// Receives (and deletes) until `want` messages arrived or [`WITHIN`] passed.
    async fn drain(&self, url: &str, want: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let got = drain(&self.stack.sqs, url, want, WITHIN).await;
        assert_eq!(
            got.len(),
            want,
            "messages on {url} within {WITHIN:?}; orders-local's log:\n{}",
            self.pipeline.log()
        );
        got
    }

    /// The stored order, polled until the worker has written it.
    async fn wait_for_item(&self, order_id: &str) -> HashMap<String, AttributeValue> {
        let deadline = Instant::now() + WITHIN;
        loop {
            let item = self
                .stack
                .dynamo
                .get_item()
                .table_name(self.stack.name("orders"))
                .key(
                    KEY_ATTRIBUTE,
                    AttributeValue::S(format!("anonymous#{order_id}")),
                )
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item;
            if let Some(item) = item {
                return item;
            }
            assert!(
                Instant::now() < deadline,
                "order {order_id} not stored within {WITHIN:?}; orders-local's log:\n{}",
                self.pipeline.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn legacy_post_is_stored_as_native_item_and_announced_on_the_topic() {
    let moto = require_moto!();
    let run = Run::start(moto).await;
    let raw_events = run.subscribe_raw_queue().await;

    // Given the old system's body, posted as is
    let response = reqwest::Client::new()
        .post(format!("{}/orders", run.pipeline.url))
        .header("content-type", "application/json")
        .body(legacy_order("23214").to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");

    // Then the worker stores it, `items` a native list of maps
    let item = run.wait_for_item("23214").await;
    let Some(AttributeValue::L(lines)) = item.get("items") else {
        panic!("items is not a list: {:?}", item.get("items"));
    };
    let AttributeValue::M(line) = &lines[0] else {
        panic!("line is not a map: {:?}", lines[0]);
    };
    assert_eq!(
        line.get("itemId"),
        Some(&AttributeValue::S("item456".into()))
    );
    assert_eq!(line.get("quantity"), Some(&AttributeValue::N("22".into())));
    let stored = StoredOrder::from_item(item).unwrap();
    assert_eq!(stored.order_id.as_str(), "23214");
    assert_eq!(stored.order.customer_name().as_str(), LEGACY_CUSTOMER_NAME);

    // And the notifier publishes OrderCreated: the raw subscription gets the
    // JSON event with its attributes as SQS message attributes
    let got = run.drain(&raw_events, 1).await;
    let event: OrderCreated = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(event.order_id.as_str(), "23214");
    assert_eq!(event.event_type, ORDER_CREATED_EVENT_TYPE);
    assert_eq!(event.unit_count, 22);
    assert_eq!(
        string_attribute(&got[0], "eventType").as_deref(),
        Some(ORDER_CREATED_EVENT_TYPE)
    );
    assert_eq!(
        string_attribute(&got[0], "schemaVersion").as_deref(),
        Some("2")
    );

    // And the pipeline's own events queue (enveloped delivery) has the same
    // event, with the attributes in the envelope
    let events_queue = run.stack.queue_url("order-events-queue").await;
    let got = run.drain(&events_queue, 1).await;
    let envelope: serde_json::Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    let enveloped: OrderCreated =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(enveloped, event);
    assert_eq!(
        envelope["MessageAttributes"]["eventType"]["Value"],
        ORDER_CREATED_EVENT_TYPE
    );
    assert_eq!(envelope["MessageAttributes"]["schemaVersion"]["Value"], "2");
    assert!(
        envelope
            .get("Subject")
            .is_none_or(serde_json::Value::is_null)
    );

    // And the topic got one String-structure message: the event's JSON,
    // which is what lets SNS deliver its attributes
    // (https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html).
    // moto's state (`/moto-api/data.json`) shows what was published.
    let topic_arn = run.stack.topic_arn().await;
    let state: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", moto.endpoint()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let topic = state["sns"]["Topic"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["arn"] == topic_arn.as_str())
        .unwrap();
    // Each entry: [message id, message, subject, attributes, group id].
    let sent = topic["sent_notifications"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let published: OrderCreated = serde_json::from_str(sent[0][1].as_str().unwrap()).unwrap();
    assert_eq!(published, event);
    assert!(
        sent[0][2].is_null(),
        "an event has no subject: {:?}",
        sent[0][2]
    );
}

#[tokio::test]
async fn a_poison_message_reaches_the_worker_dlq_at_once_with_its_reason() {
    let moto = require_moto!();
    let run = Run::start(moto).await;
    let orders = run.stack.queue_url("orders.fifo").await;
    let dlq = run.stack.queue_url("orders-dlq.fifo").await;

    // Given a message no worker can read, on the orders queue
    run.stack
        .sqs
        .send_message()
        .queue_url(&orders)
        .message_body(r#"{"schemaVersion":2,"orderId":"poison"}"#)
        .message_group_id("poison-group")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap();

    // Then it is in the DLQ after its first receive, intact, with its reason
    let dead = run.drain(&dlq, 1).await;
    assert_eq!(
        dead[0].body(),
        Some(r#"{"schemaVersion":2,"orderId":"poison"}"#)
    );
    let receives: u32 = dead[0]
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Received once from the DLQ here: the orders queue did not burn five
    // receives (and five visibility timeouts of its group) first.
    assert!(receives < MAX_RECEIVE_COUNT, "received {receives} times");
    assert_eq!(
        string_attribute(&dead[0], DEAD_LETTER_REASON_ATTRIBUTE).as_deref(),
        Some("poison")
    );
    assert_eq!(
        dead[0]
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .map(String::as_str),
        Some("poison-group")
    );
}

#[tokio::test]
async fn an_unreadable_stream_record_reaches_the_notifier_dlq_with_its_position_only() {
    let moto = require_moto!();
    let run = Run::start(moto).await;
    let on_failure = run.stack.queue_url("notifier-on-failure").await;

    // Given an INSERT whose image is not an order (written around the worker)
    run.stack
        .dynamo
        .put_item()
        .table_name(run.stack.name("orders"))
        .item(KEY_ATTRIBUTE, AttributeValue::S("not-an-order".into()))
        .item("status", AttributeValue::S("CREATED".into()))
        .item("items", AttributeValue::S("garbage".into()))
        .send()
        .await
        .unwrap();

    // Then the notifier sends its own description of the record to its DLQ
    // at once: the stream position, the table and key, the reason
    let got = run.drain(&on_failure, 1).await;
    let record: serde_json::Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    let info = &record["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 1, "{record:#}");
    assert_eq!(
        info["startSequenceNumber"], info["endSequenceNumber"],
        "{record:#}"
    );
    assert!(
        info["streamArn"]
            .as_str()
            .is_some_and(|arn| arn.contains(&run.stack.name("orders"))),
        "{record:#}"
    );
    assert_eq!(record["reason"], "poison", "{record:#}");
    assert_eq!(record["table"], run.stack.name("orders"), "{record:#}");
    assert_eq!(record["keys"]["orderKey"], "not-an-order", "{record:#}");
    assert_eq!(
        string_attribute(&got[0], DEAD_LETTER_REASON_ATTRIBUTE).as_deref(),
        Some("poison")
    );
}
