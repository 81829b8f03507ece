//! The admin digest against the services: its mailbox publishes a String
//! message with a subject and no attributes (on the embedded SNS and through
//! the SDK on moto, and with the shipped SNS adapter on moto), and the
//! shipped handler over moto's SNS and DynamoDB e-mails a batch once and
//! drops its redelivery by `eventId`.

// Test code: a failed step stops the test with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use admin_digest::AdminMailbox;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use order_consumer::idempotency::{DynamoDbProcessedEvents, KEY_ATTRIBUTE};
use orders_backends::backend::{Backends, QueueSpec};
use orders_tests::{fixtures, on_both_backends, require_moto, unique_name};
use serde_json::{Value, json};

const SUBJECT: &str = "3 new orders";
const TEXT: &str = "3 new orders\n\nTotals:\n  not known for 3 orders\n";

/// A topic with a standard queue subscribed without raw delivery, so the
/// queue receives SNS's envelope: subject, message and attributes as SNS
/// sent them.
async fn topic_with_envelope_queue(b: &Backends) -> (String, String) {
    let topic = b.topics.create_topic(&unique_name("admin")).await.unwrap();
    let queue = b
        .queues
        .create_queue(&QueueSpec {
            name: unique_name("admin-tap"),
            fifo: false,
            visibility_timeout: Duration::from_secs(30),
            redrive: None,
        })
        .await
        .unwrap();
    b.topics
        .subscribe_queue(&topic, &queue, None, false)
        .await
        .unwrap();
    (topic, queue)
}

/// Every envelope on the queue, waiting up to a few seconds for the first.
async fn envelopes(b: &Backends, queue: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..5 {
        let messages = b
            .queues
            .receive(queue, 10, Duration::from_secs(1))
            .await
            .unwrap();
        if messages.is_empty() && !out.is_empty() {
            break;
        }
        for m in messages {
            out.push(serde_json::from_str(&m.body).unwrap());
            b.queues.delete(queue, &m.receipt_handle).await.unwrap();
        }
    }
    out
}

/// What every mailbox must deliver: the text as the message, the subject,
/// and no message attribute.
fn assert_plain_email(envelope: &Value, subject: &str, text: &str) {
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["Subject"], subject);
    assert_eq!(envelope["Message"], text);
    let attributes = &envelope["MessageAttributes"];
    assert!(
        attributes.is_null() || attributes.as_object().is_some_and(|a| a.is_empty()),
        "{attributes}"
    );
}

async fn the_runners_mailbox_publishes_the_text_with_its_subject_and_no_attributes(b: &Backends) {
    let (topic, queue) = topic_with_envelope_queue(b).await;
    let mailbox = orders_local::pipeline::TopicMailbox::new(b.topics.clone(), &topic);
    mailbox.send(SUBJECT, TEXT).await.unwrap();
    let got = envelopes(b, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_plain_email(&got[0], SUBJECT, TEXT);
}

async fn the_runners_mailbox_on_a_missing_topic_fails(b: &Backends) {
    let (topic, _) = topic_with_envelope_queue(b).await;
    let missing = format!("{topic}-missing");
    let mailbox = orders_local::pipeline::TopicMailbox::new(b.topics.clone(), &missing);
    assert!(mailbox.send(SUBJECT, TEXT).await.is_err());
}

on_both_backends!(
    the_runners_mailbox_publishes_the_text_with_its_subject_and_no_attributes,
    the_runners_mailbox_on_a_missing_topic_fails,
);

#[tokio::test]
async fn the_shipped_sns_mailbox_publishes_the_text_with_its_subject_and_no_attributes() {
    let moto = require_moto!();
    let b = Backends::aws(&moto.sdk_config());
    let (topic, queue) = topic_with_envelope_queue(&b).await;
    let mailbox =
        admin_digest::SnsAdminMailbox::new(aws_sdk_sns::Client::new(&moto.sdk_config()), &topic);
    mailbox.send(SUBJECT, TEXT).await.unwrap();
    let got = envelopes(&b, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_plain_email(&got[0], SUBJECT, TEXT);
}

/// The consumer kit's idempotency table on moto (key `eventId`).
async fn processed_events_table(client: &aws_sdk_dynamodb::Client) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let table = unique_name("digest-processed");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    table
}

/// A batch of the digest queue carrying `bodies`, as Lambda delivers it.
fn batch(bodies: &[String]) -> LambdaEvent<SqsEvent> {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(n, body)| {
            json!({"messageId": format!("m-{n}"), "receiptHandle": format!("r-{n}"), "body": body,
                   "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                   "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders-admin-digest"})
        })
        .collect();
    let event = serde_json::from_value(json!({ "Records": records })).unwrap();
    LambdaEvent::new(event, Context::default())
}

#[tokio::test]
async fn the_digest_over_moto_emails_a_batch_once_and_drops_its_redelivery() {
    let moto = require_moto!();
    let sdk = moto.sdk_config();
    let b = Backends::aws(&sdk);
    let (topic, queue) = topic_with_envelope_queue(&b).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = processed_events_table(&dynamodb).await;
    let deps = admin_digest::Deps::new(
        Arc::new(admin_digest::SnsAdminMailbox::new(
            aws_sdk_sns::Client::new(&sdk),
            &topic,
        )),
        Arc::new(DynamoDbProcessedEvents::new(dynamodb, &table)),
    );
    // Given three orders' events, one of them twice in the batch
    let ids = [unique_name("d1"), unique_name("d2"), unique_name("d3")];
    let mut bodies: Vec<String> = ids
        .iter()
        .map(|id| {
            let message = fixtures::order_message(id, "Ann Able", 2);
            fixtures::order_created(&fixtures::stored_order(&message)).to_json()
        })
        .collect();
    bodies.push(bodies[0].clone());
    // When the batch is handled, and delivered again
    let first = admin_digest::handle(&deps, batch(&bodies)).await.unwrap();
    let again = admin_digest::handle(&deps, batch(&bodies)).await.unwrap();
    // Then one e-mail lists each order once, and the redelivery sends nothing
    assert!(first.batch_item_failures.is_empty());
    assert!(again.batch_item_failures.is_empty());
    let got = envelopes(&b, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["Subject"], "3 new orders");
    let text = got[0]["Message"].as_str().unwrap();
    for id in &ids {
        assert_eq!(text.matches(&format!("\nOrder {id} (")).count(), 1, "{id}");
    }
}
