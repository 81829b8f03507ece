//! SNS `PublishBatch` over moto: the adapter's calls and per-entry results,
//! and the notifier's checkpoint at a failed entry of a batch.
//!
//! Each test creates its own uniquely named topic and queue and deletes them.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_sqs::types::QueueAttributeName;
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::aws::SnsEventPublisher;
use orders_adapters::memory::MemoryDeadLetters;
use orders_adapters::ports::{EntryResult, EventPublisher, PortError};
use orders_adapters::record::ItemMapping;
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated};
use orders_tests::fixtures::{order_created, order_message, stored_order};
use orders_tests::services::drain;
use orders_tests::{queue_attribute, require_moto, string_attribute, unique_name};

/// A topic with one raw SQS subscription, removed by [`Topic::delete`].
struct Topic {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    arn: String,
    queue_url: String,
}

impl Topic {
    async fn new(config: &aws_config::SdkConfig, prefix: &str) -> Self {
        let sqs = aws_sdk_sqs::Client::new(config);
        let sns = aws_sdk_sns::Client::new(config);
        let arn = sns
            .create_topic()
            .name(unique_name(prefix))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(unique_name(prefix))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = queue_attribute(&sqs, &queue_url, QueueAttributeName::QueueArn)
            .await
            .unwrap();
        sns.subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        Self {
            sqs,
            sns,
            arn,
            queue_url,
        }
    }

    fn publisher(&self) -> SnsEventPublisher {
        SnsEventPublisher::new(self.sns.clone(), &self.arn)
    }

    /// The events delivered to the subscribed queue, waiting for `want`.
    async fn delivered(&self, want: usize) -> Vec<OrderCreated> {
        let got = drain(&self.sqs, &self.queue_url, want, Duration::from_secs(5)).await;
        for message in &got {
            assert_eq!(
                string_attribute(message, "eventType").as_deref(),
                Some(ORDER_CREATED_EVENT_TYPE)
            );
        }
        got.iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect()
    }

    async fn delete(self) {
        self.sqs
            .delete_queue()
            .queue_url(&self.queue_url)
            .send()
            .await
            .unwrap();
        self.sns
            .delete_topic()
            .topic_arn(&self.arn)
            .send()
            .await
            .unwrap();
    }
}

fn event_for(order_id: &str) -> OrderCreated {
    order_created(&stored_order(&order_message(order_id, "Harry Kane", 3)))
}

fn ids(events: &[OrderCreated]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.order_id.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn a_full_batch_of_ten_is_published_entry_by_entry_with_its_attributes() {
    let moto = require_moto!();
    let topic = Topic::new(&moto.sdk_config(), "batch-full").await;
    let events: Vec<OrderCreated> = (0..10).map(|i| event_for(&format!("full-{i}"))).collect();

    let results = topic.publisher().publish_batch(&events).await;

    assert_eq!(results.len(), 10);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut delivered = topic.delivered(10).await;
    delivered.sort_by(|a, b| a.order_id.as_str().cmp(b.order_id.as_str()));
    let mut expected = events.clone();
    expected.sort_by(|a, b| a.order_id.as_str().cmp(b.order_id.as_str()));
    assert_eq!(delivered, expected);
    topic.delete().await;
}

#[tokio::test]
async fn an_entry_over_256_kib_fails_alone_as_a_refusal_and_its_neighbours_are_published() {
    let moto = require_moto!();
    let topic = Topic::new(&moto.sdk_config(), "batch-big").await;
    let mut big = event_for("big-2");
    // Far beyond SNS's 256 KiB per message.
    big.items = std::iter::repeat_n(big.items[0].clone(), 20_000).collect();
    assert!(big.to_json().len() > 256 * 1024);
    let events = vec![event_for("big-1"), big, event_for("big-3")];

    let results = topic.publisher().publish_batch(&events).await;

    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    // moto lists the entry under `Failed` (InvalidParameter, SenderFault):
    // a refusal a retry will not fix.
    assert!(
        matches!(&results[1], Err(e) if !e.is_transient()),
        "{results:?}"
    );
    let mut delivered = ids(&topic.delivered(2).await);
    delivered.sort();
    assert_eq!(delivered, ["big-1", "big-3"]);
    topic.delete().await;
}

/// The SNS adapter over moto, with the entries of the named orders failing
/// transiently (as a throttled entry of a `PublishBatch` answer does) and the
/// rest forwarded to moto in one `PublishBatch` call.
struct FailingEntries {
    inner: SnsEventPublisher,
    failing: Mutex<HashSet<String>>,
    calls: Mutex<Vec<usize>>,
}

#[async_trait::async_trait]
impl EventPublisher for FailingEntries {
    async fn publish(&self, _event: &OrderCreated) -> Result<(), PortError> {
        panic!("the notifier publishes with PublishBatch");
    }

    async fn publish_batch(&self, events: &[OrderCreated]) -> Vec<EntryResult> {
        let failing = self.failing.lock().unwrap().clone();
        let fails = |e: &OrderCreated| failing.contains(e.order_id.as_str());
        let forwarded: Vec<OrderCreated> = events.iter().filter(|e| !fails(e)).cloned().collect();
        self.calls.lock().unwrap().push(forwarded.len());
        let mut answers = self.inner.publish_batch(&forwarded).await.into_iter();
        events
            .iter()
            .map(|e| {
                if fails(e) {
                    Err(PortError::Transient("entry throttled".into()))
                } else {
                    answers.next().unwrap()
                }
            })
            .collect()
    }
}

/// The stream record Lambda delivers for a newly stored order.
fn insert_record(sequence: &str, order_id: &str) -> serde_json::Value {
    let stored = stored_order(&order_message(order_id, "Harry Kane", 3));
    let item: serde_dynamo::Item = stored.to_item().unwrap();
    serde_json::json!({
        "eventID": format!("event-{sequence}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"orderKey": {"S": format!("anonymous#{order_id}")}},
            "NewImage": serde_json::to_value(item).unwrap(),
            "SequenceNumber": sequence,
            "SizeBytes": 420,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-20T08:15:42.318"
    })
}

async fn invoke(deps: &notifier::Deps, records: &[serde_json::Value]) -> Vec<String> {
    let payload: Event = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let response = notifier::handle(deps, LambdaEvent::new(payload, Context::default()))
        .await
        .unwrap();
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn the_notifier_checkpoints_at_the_failed_entry_of_a_batch_and_the_retry_announces_every_order()
 {
    let moto = require_moto!();
    let topic = Topic::new(&moto.sdk_config(), "batch-checkpoint").await;
    let publisher = Arc::new(FailingEntries {
        inner: topic.publisher(),
        failing: Mutex::new(HashSet::from(["cp-3".to_owned()])),
        calls: Mutex::new(Vec::new()),
    });
    let deps = notifier::Deps::new(publisher.clone(), Arc::new(MemoryDeadLetters::default()));
    let records: Vec<serde_json::Value> = (1..=5)
        .map(|i| insert_record(&format!("90{i}"), &format!("cp-{i}")))
        .collect();

    // One PublishBatch call; the third entry fails.
    let reported = invoke(&deps, &records).await;

    // The checkpoint is the failed entry (the context has no deadline, so no
    // time to retry it inside the invocation); the entries after it that
    // moto accepted in the same call are settled, not reported.
    assert_eq!(reported, ["903"]);
    assert_eq!(*publisher.calls.lock().unwrap(), [4]);
    let mut first = ids(&topic.delivered(4).await);
    first.sort();
    assert_eq!(first, ["cp-1", "cp-2", "cp-4", "cp-5"]);

    // Lambda retries from the checkpoint; the throttling has passed. Only
    // the refused entry goes to SNS: cp-4 and cp-5 are not announced again.
    publisher.failing.lock().unwrap().clear();
    let reported = invoke(&deps, &records[2..]).await;

    assert!(reported.is_empty(), "{reported:?}");
    let second = topic.delivered(1).await;
    assert_eq!(ids(&second), ["cp-3"]);
    assert_eq!(second[0].event_id, "OrderCreated:anonymous:cp-3");
    assert!(
        topic.delivered(1).await.is_empty(),
        "an accepted entry was published again"
    );
    topic.delete().await;
}
