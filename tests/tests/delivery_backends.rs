//! Permanent failures go to the stage's DLQ at once, and one failure holds
//! back only what it must: the shipped worker and notifier handlers over real
//! ports, on the embedded emulators and on the AWS SDK adapters over moto.
//!
//! Each case is a generic `async fn(&Backends)`, instantiated for both
//! backends by `orders_tests::on_both_backends!` at the bottom, with uniquely named resources.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orders_adapters::record::ItemMapping;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::ports::{
    DEAD_LETTER_ORDER_ID_ATTRIBUTE, DEAD_LETTER_REASON_ATTRIBUTE,
    DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE, DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE,
    DEAD_LETTER_STAGE_ATTRIBUTE,
};
use orders_backends::backend::{Backends, QueueSpec, ReceivedMessage};
use orders_domain::contract::OrderCreated;
use orders_tests::fixtures::{order_message, stored_order};
use orders_tests::services::drain;
use orders_tests::unique_name;
use serde_json::{Value, json};

const ARRIVES_WITHIN: Duration = Duration::from_secs(10);
const PERSONAL_DATA: &[&str] = &["Harry", "Kane", "Nguyen", "Hanoi"];

fn queue_spec(name: &str, fifo: bool) -> QueueSpec {
    QueueSpec {
        name: if fifo {
            format!("{name}.fifo")
        } else {
            name.to_owned()
        },
        fifo,
        visibility_timeout: Duration::from_secs(30),
        redrive: None,
    }
}

/// A URL of the same backend that names no queue: the queue's URL with
/// another last segment.
fn missing_queue_url(url: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{}", unique_name("missing"))
}

/// One SQS FIFO record of `group`, as Lambda delivers it.
fn sqs_record(group: &str, message_id: &str, body: &str) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": format!("r-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": group},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    })
}

async fn run_worker(deps: &worker::Deps, records: Vec<Value>) -> Vec<String> {
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let response: SqsBatchResponse =
        worker::handle(deps, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

fn attribute<'a>(message: &'a ReceivedMessage, name: &str) -> Option<&'a str> {
    message.message_attributes.get(name).map(String::as_str)
}

async fn table(b: &Backends) -> String {
    let table = unique_name("delivery-orders");
    b.tables.create_table(&table).await.unwrap();
    table
}

/// Finding 2/5 and the acceptance batch: `[poison (A), later (A), other (B)]`
/// with the DLQ reachable reports none, stores both orders and leaves the
/// poison in the DLQ with its reason, group and source id.
async fn worker_dead_letters_poison_and_stores_the_rest(b: &Backends) {
    let table = table(b).await;
    let dlq = b
        .queues
        .create_queue(&queue_spec(&unique_name("delivery-wdlq"), true))
        .await
        .unwrap();
    let deps = worker::Deps::new(
        b.tables.order_store(&table),
        b.queues.dead_letter_queue(&dlq),
    );

    let failed = run_worker(
        &deps,
        vec![
            sqs_record("A", "m-1", "{poison"),
            sqs_record(
                "A",
                "m-2",
                &order_message("o-a2", "Harry Kane", 1).to_body(),
            ),
            sqs_record("B", "m-3", &order_message("o-b1", "Other One", 1).to_body()),
        ],
    )
    .await;

    assert!(failed.is_empty(), "reported {failed:?}");
    for id in ["o-a2", "o-b1"] {
        assert!(
            b.tables
                .get(&table, &format!("anonymous#{id}"))
                .await
                .unwrap()
                .is_some(),
            "{id}"
        );
    }
    let dead = drain(b.queues.as_ref(), &dlq, 1, ARRIVES_WITHIN).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "{poison");
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_REASON_ATTRIBUTE),
        Some("poison")
    );
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_STAGE_ATTRIBUTE),
        Some("worker")
    );
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE),
        Some("m-1")
    );
    assert_eq!(
        dead[0].attributes.get("MessageGroupId").map(String::as_str),
        Some("A")
    );
}

/// With the DLQ unreachable the same batch reports exactly the poison and
/// the later record of its group; the other group is stored.
async fn worker_with_an_unreachable_dlq_reports_the_poison_and_its_group_only(b: &Backends) {
    let table = table(b).await;
    let existing = b
        .queues
        .create_queue(&queue_spec(&unique_name("delivery-any"), true))
        .await
        .unwrap();
    let deps = worker::Deps::new(
        b.tables.order_store(&table),
        b.queues.dead_letter_queue(&missing_queue_url(&existing)),
    );

    let failed = run_worker(
        &deps,
        vec![
            sqs_record("A", "m-1", "{poison"),
            sqs_record(
                "A",
                "m-2",
                &order_message("o-a2", "Harry Kane", 1).to_body(),
            ),
            sqs_record("B", "m-3", &order_message("o-b1", "Other One", 1).to_body()),
        ],
    )
    .await;

    assert_eq!(failed, ["m-1", "m-2"]);
    assert!(
        b.tables
            .get(&table, "anonymous#o-a2")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        b.tables
            .get(&table, "anonymous#o-b1")
            .await
            .unwrap()
            .is_some()
    );
}

/// Finding 2: a conflict reaches the worker DLQ on its first receive, with
/// the order and correlation ids, and is acknowledged.
async fn worker_sends_a_conflict_to_the_dlq_at_once(b: &Backends) {
    let table = table(b).await;
    let dlq = b
        .queues
        .create_queue(&queue_spec(&unique_name("delivery-wdlq"), true))
        .await
        .unwrap();
    let deps = worker::Deps::new(
        b.tables.order_store(&table),
        b.queues.dead_letter_queue(&dlq),
    );
    let first = order_message("o-1", "Harry Kane", 1);
    assert!(
        run_worker(&deps, vec![sqs_record("A", "m-1", &first.to_body())])
            .await
            .is_empty()
    );
    let other = order_message("o-1", "Harry Kane", 2).to_body();

    let failed = run_worker(&deps, vec![sqs_record("A", "m-2", &other)]).await;

    assert!(failed.is_empty(), "reported {failed:?}");
    let dead = drain(b.queues.as_ref(), &dlq, 1, ARRIVES_WITHIN).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, other);
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_REASON_ATTRIBUTE),
        Some("conflict")
    );
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_ORDER_ID_ATTRIBUTE),
        Some("o-1")
    );
    assert_eq!(attribute(&dead[0], "correlationId"), Some("corr-o-1"));
}

/// One INSERT stream record, as Lambda delivers it.
fn insert(sequence_number: &str, order_id: &str, image: Value) -> Value {
    json!({
        "eventID": format!("e-{sequence_number}"),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-20T08:15:42.318",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795514401,
            "Keys": {"orderKey": {"S": format!("anonymous#{order_id}")}},
            "NewImage": image,
            "SequenceNumber": sequence_number,
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    })
}

/// Finding 6 and the acceptance batch: `[unreadable INSERT, good INSERT]`
/// publishes the good one in the same invocation; the unreadable one is in
/// the notifier DLQ with its position, never its image.
async fn notifier_dead_letters_an_unreadable_insert_and_publishes_the_next(b: &Backends) {
    let topic = b
        .topics
        .create_topic(&unique_name("delivery-events"))
        .await
        .unwrap();
    let events = b
        .queues
        .create_queue(&queue_spec(&unique_name("delivery-events-q"), false))
        .await
        .unwrap();
    b.topics
        .subscribe_queue(&topic, &events, None, true)
        .await
        .unwrap();
    let dlq = b
        .queues
        .create_queue(&queue_spec(&unique_name("delivery-ndlq"), false))
        .await
        .unwrap();
    let deps = notifier::Deps::new(
        b.topics.event_publisher(&topic),
        b.queues.dead_letter_queue(&dlq),
    );
    let good = stored_order(&order_message("o-good", "Harry Kane", 1));
    let good_image: serde_dynamo::Item = good.to_item().unwrap();
    let mut bad_image = serde_json::to_value(&good_image).unwrap();
    bad_image["items"] = json!({"L": []});
    let event: Event = serde_json::from_value(json!({"Records": [
        insert("101", "o-bad", bad_image),
        insert("102", "o-good", serde_json::to_value(&good_image).unwrap()),
    ]}))
    .unwrap();

    let response = notifier::handle(&deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();

    assert!(response.batch_item_failures.is_empty());
    let published = drain(b.queues.as_ref(), &events, 1, ARRIVES_WITHIN).await;
    assert_eq!(published.len(), 1);
    let created: OrderCreated = serde_json::from_str(&published[0].body).unwrap();
    assert_eq!(created.order_id.as_str(), "o-good");
    let dead = drain(b.queues.as_ref(), &dlq, 1, ARRIVES_WITHIN).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_REASON_ATTRIBUTE),
        Some("poison")
    );
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_STAGE_ATTRIBUTE),
        Some("notifier")
    );
    assert_eq!(
        attribute(&dead[0], DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE),
        Some("101")
    );
    let letter: notifier::dead_letter::NotifierDeadLetter =
        serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(letter.table.as_deref(), Some("orders"));
    assert_eq!(letter.batch.start_sequence_number, "101");
    for word in PERSONAL_DATA {
        assert!(!dead[0].body.contains(word), "{word} in the DLQ message");
    }
}

orders_tests::on_both_backends!(
    worker_dead_letters_poison_and_stores_the_rest,
    worker_with_an_unreachable_dlq_reports_the_poison_and_its_group_only,
    worker_sends_a_conflict_to_the_dlq_at_once,
    notifier_dead_letters_an_unreadable_insert_and_publishes_the_next,
);
