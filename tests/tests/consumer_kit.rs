//! The consumer kit, checked the way a consuming team would use it:
//!
//! - every filter policy the documentation shows (`infra/README.md`'s
//!   `json filter-policy` blocks and the default of
//!   `infra/consumer-template.yaml`) lets through what the notifier really
//!   publishes (an order stored, read from the table's stream, handed to the
//!   notifier's handler), on the embedded SNS and over moto; a policy that
//!   would never match fails here, naming where it is shown;
//! - what those queues receive reads with `OrderCreated::from_sqs_body`
//!   (raw and enveloped) and is valid against the committed JSON Schema;
//! - a queue subscribed with the stack output's subscription attributes
//!   (raw delivery, `FilterPolicyScope: MessageAttributes`, the filter
//!   policy, a `RedrivePolicy` to its own dead-letter queue) receives each
//!   event the notifier's port publishes, with `eventType` and
//!   `schemaVersion`, on the embedded SNS and over moto;
//! - on the embedded SNS, which follows AWS where moto does not: a
//!   `MessageStructure=json` publish (sent without attributes) reaches no
//!   attribute-filtered subscription, so publishing that way fails here;
//! - the example consumer's sample events are valid against it too;
//! - the example consumer's DynamoDB idempotency store claims, completes and
//!   releases over moto as it does in memory;
//! - acceptance: a Python consumer written from the guide and the schema
//!   only (`tests/consumer/consume.py`, boto3) reads a queue subscribed as
//!   the guide says to `orders-local` running over moto, and receives and
//!   validates the event of an order posted over HTTP.

// Test code, helpers included: a failed call stops the test with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Context, LambdaEvent};
use order_consumer::idempotency::{Claim, DynamoDbProcessedEvents, KEY_ATTRIBUTE, ProcessedEvents};
use orders_backends::backend::{Backends, QueueSpec};
use orders_backends::embedded::Embedded;
use orders_backends::embedded::sns::Publication;
use orders_domain::contract::{ORDER_CREATED_EVENT_TYPE, OrderCreated};
use orders_domain::test_support::legacy_order;
use orders_tests::consumer::{
    consumer_script, documented_filter_policies, order_created_schema, python, python_available,
    validate_order_created,
};
use orders_tests::fixtures::{order_created, order_message, stored_order};
use orders_tests::services::{drain, read_stream};
use orders_tests::{MotoStack, require_moto, unique_name, workspace_root};

/// Enough for any delivery that should happen.
const ARRIVES_WITHIN: Duration = Duration::from_secs(10);

/// A policy no OrderCreated v1 matches: proves that fan-out was complete
/// and filtering applied when the other queues are checked.
const NEVER_MATCHES: &str = r#"{"eventType":["OrderCancelled"]}"#;

fn standard(name: &str) -> QueueSpec {
    QueueSpec {
        name: unique_name(name),
        fifo: false,
        visibility_timeout: Duration::from_secs(30),
        redrive: None,
    }
}

/// One order through the real path to the topic: stored with the worker's
/// port, read back from the table's stream, published by the notifier's
/// handler. Returns the order id.
async fn announce_one_order(b: &Backends, topic: &str) -> String {
    let table = unique_name("kit-orders");
    b.tables.create_table(&table).await.unwrap();
    let order_id = unique_name("kit");
    let stored = stored_order(&order_message(&order_id, "Harry Kane", 2));
    b.tables
        .order_store(&table)
        .put_if_absent(&stored)
        .await
        .unwrap();
    let mut reader = b.tables.open_stream(&table).await.unwrap();
    let records = read_stream(reader.as_mut(), 1, ARRIVES_WITHIN).await;
    assert_eq!(records.len(), 1, "the stored order on the stream");
    let event: Event = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let dlq = b.queues.create_queue(&standard("kit-ndlq")).await.unwrap();
    let deps = notifier::Deps::new(
        b.topics.event_publisher(topic),
        b.queues.dead_letter_queue(&dlq),
    );
    let response = notifier::handle(&deps, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    order_id
}

/// Each documented filter policy gets one raw-delivery queue; the template's
/// policy also an enveloped one. All receive the event with its attributes,
/// the never-matching control receives nothing, and every body is valid
/// against the schema.
async fn documented_filter_policies_match_what_the_notifier_publishes(b: &Backends) {
    let policies = documented_filter_policies();
    // Three `json filter-policy` blocks, two `aws sns subscribe` lines, the
    // template's default.
    assert!(
        policies.len() >= 6,
        "the guide shows its policies: {policies:?}"
    );
    policies_match_what_the_notifier_publishes(b, &policies).await;
}

/// The check itself, for any policies (where shown, policy); the last one
/// also gets an enveloped subscription.
async fn policies_match_what_the_notifier_publishes(b: &Backends, policies: &[(String, String)]) {
    let topic = b
        .topics
        .create_topic(&unique_name("kit-events"))
        .await
        .unwrap();
    let mut raw_queues = Vec::new();
    for (shown_at, policy) in policies {
        let queue = b.queues.create_queue(&standard("kit-raw")).await.unwrap();
        b.topics
            .subscribe_queue(&topic, &queue, Some(policy), true)
            .await
            .unwrap_or_else(|e| panic!("{shown_at}: {policy} refused: {e}"));
        raw_queues.push((shown_at, policy, queue));
    }
    let (_, template_policy) = policies.last().unwrap();
    let enveloped = b.queues.create_queue(&standard("kit-env")).await.unwrap();
    b.topics
        .subscribe_queue(&topic, &enveloped, Some(template_policy), false)
        .await
        .unwrap();
    let control = b.queues.create_queue(&standard("kit-none")).await.unwrap();
    b.topics
        .subscribe_queue(&topic, &control, Some(NEVER_MATCHES), true)
        .await
        .unwrap();

    let order_id = announce_one_order(b, &topic).await;

    let mut bodies = Vec::new();
    for (shown_at, policy, queue) in &raw_queues {
        let got = drain(b.queues.as_ref(), queue, 1, ARRIVES_WITHIN).await;
        assert_eq!(
            got.len(),
            1,
            "the filter policy shown at {shown_at} never matched what the notifier publishes: {policy}"
        );
        let event = OrderCreated::from_sqs_body(&got[0].body).unwrap();
        assert_eq!(event.order_id.as_str(), order_id);
        assert_eq!(
            event.dedup_key(),
            format!("OrderCreated:anonymous:{order_id}")
        );
        assert_eq!(
            got[0]
                .message_attributes
                .get("eventType")
                .map(String::as_str),
            Some(ORDER_CREATED_EVENT_TYPE)
        );
        assert_eq!(
            got[0]
                .message_attributes
                .get("schemaVersion")
                .map(String::as_str),
            Some("2")
        );
        bodies.push(got[0].body.clone());
    }
    let got = drain(b.queues.as_ref(), &enveloped, 1, ARRIVES_WITHIN).await;
    assert_eq!(got.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(
        OrderCreated::from_sqs_body(&got[0].body).unwrap(),
        OrderCreated::from_sqs_body(&bodies[0]).unwrap()
    );
    bodies.push(envelope["Message"].as_str().unwrap().to_owned());
    let none = drain(b.queues.as_ref(), &control, 1, Duration::from_millis(500)).await;
    assert!(none.is_empty(), "{NEVER_MATCHES} matched");

    validate_order_created(&bodies);
}

/// The stack output `OrderEventsSubscriptionAttributes` (infra/template.yaml),
/// parsed: what a team passes to `aws sns subscribe --attributes`.
fn documented_subscription_attributes() -> serde_json::Map<String, serde_json::Value> {
    let template = std::fs::read_to_string(workspace_root().join("infra/template.yaml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&template).unwrap();
    let value = docs[0]["Outputs"]["OrderEventsSubscriptionAttributes"]["Value"]
        .as_str()
        .expect("the output is a plain string");
    serde_json::from_str(value).expect("the output is a JSON object")
}

/// The documented subscription as a team makes it, fed by the notifier's
/// port (the AWS adapter over moto, the embedded one in process), one event
/// with `Publish` and two with `PublishBatch`: every event arrives as its
/// JSON, with both attributes; nothing reaches the subscription's DLQ.
async fn the_documented_subscription_receives_each_event_with_its_attributes(b: &Backends) {
    let attributes = documented_subscription_attributes();
    let text = |name: &str| {
        attributes[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {attributes:?}"))
    };
    assert_eq!(text("RawMessageDelivery"), "true");
    assert_eq!(text("FilterPolicyScope"), "MessageAttributes");
    let redrive: serde_json::Value = serde_json::from_str(text("RedrivePolicy")).unwrap();
    assert!(
        redrive["deadLetterTargetArn"].is_string(),
        "the subscription has its own DLQ: {redrive}"
    );

    let topic = b
        .topics
        .create_topic(&unique_name("kit-events"))
        .await
        .unwrap();
    let queue = b.queues.create_queue(&standard("kit-team")).await.unwrap();
    let dlq = b.queues.create_queue(&standard("kit-sdlq")).await.unwrap();
    let subscription = b
        .topics
        .subscribe_queue(&topic, &queue, Some(text("FilterPolicy")), true)
        .await
        .unwrap();
    b.topics
        .set_dead_letter_queue(&subscription, &dlq)
        .await
        .unwrap();

    let events: Vec<OrderCreated> = (0..3)
        .map(|_| {
            let order_id = unique_name("kit");
            order_created(&stored_order(&order_message(&order_id, "Harry Kane", 2)))
        })
        .collect();
    let publisher = b.topics.event_publisher(&topic);
    publisher.publish(&events[0]).await.unwrap();
    let results = publisher.publish_batch(&events[1..]).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let mut got = drain(b.queues.as_ref(), &queue, 3, ARRIVES_WITHIN).await;
    assert_eq!(got.len(), 3, "{got:?}");
    got.sort_by_key(|m| events.iter().position(|e| e.to_json() == m.body));
    for (message, event) in got.iter().zip(&events) {
        assert_eq!(
            message.body,
            event.to_json(),
            "the body is the event's JSON"
        );
        assert_eq!(&OrderCreated::from_sqs_body(&message.body).unwrap(), event);
        assert_eq!(
            message
                .message_attributes
                .get("eventType")
                .map(String::as_str),
            Some(ORDER_CREATED_EVENT_TYPE)
        );
        assert_eq!(
            message
                .message_attributes
                .get("schemaVersion")
                .map(String::as_str),
            Some("2")
        );
    }
    let undelivered = drain(b.queues.as_ref(), &dlq, 1, Duration::from_millis(500)).await;
    assert!(undelivered.is_empty(), "{undelivered:?}");
    validate_order_created(&got.into_iter().map(|m| m.body).collect::<Vec<_>>());
}

orders_tests::on_both_backends!(
    documented_filter_policies_match_what_the_notifier_publishes,
    the_documented_subscription_receives_each_event_with_its_attributes,
);

/// The bug this kit guards against, on the embedded SNS (moto delivers the
/// attributes anyway): an event published with `MessageStructure=json`,
/// attributes set, reaches none of the documented filtered subscriptions,
/// because SNS sends no attributes with such a message
/// (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>);
/// an unfiltered raw queue gets the event, without attributes.
#[tokio::test]
async fn a_json_structured_publish_reaches_no_attribute_filtered_subscription() {
    let outbox = orders_tests::TempDir::new("kit-outbox");
    let embedded = Embedded::new(outbox.path().to_path_buf(), 1.0);
    let b = embedded.backends();
    let topic = b
        .topics
        .create_topic(&unique_name("kit-events"))
        .await
        .unwrap();
    let mut filtered = Vec::new();
    for (shown_at, policy) in documented_filter_policies() {
        let queue = b.queues.create_queue(&standard("kit-raw")).await.unwrap();
        b.topics
            .subscribe_queue(&topic, &queue, Some(&policy), true)
            .await
            .unwrap();
        filtered.push((shown_at, queue));
    }
    let unfiltered = b.queues.create_queue(&standard("kit-all")).await.unwrap();
    b.topics
        .subscribe_queue(&topic, &unfiltered, None, true)
        .await
        .unwrap();
    let event = order_created(&stored_order(&order_message(
        &unique_name("kit"),
        "Harry Kane",
        2,
    )));
    let publication = Publication {
        message: serde_json::json!({"default": event.to_json(), "sqs": event.to_json()})
            .to_string(),
        json_structure: true,
        subject: None,
        attributes: [
            ("eventType", ORDER_CREATED_EVENT_TYPE.to_owned()),
            ("schemaVersion", event.schema_version.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };

    embedded.topics.publish(&topic, &publication).await.unwrap();

    let got = drain(b.queues.as_ref(), &unfiltered, 1, ARRIVES_WITHIN).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, event.to_json());
    assert!(got[0].message_attributes.is_empty(), "{got:?}");
    for (shown_at, queue) in &filtered {
        let none = drain(b.queues.as_ref(), queue, 1, Duration::ZERO).await;
        assert!(
            none.is_empty(),
            "{shown_at} matched a JSON-structured message"
        );
    }
}

/// The check has teeth: a policy that looks right but never matches (the
/// attribute is `OrderCreated`, and exact matching is case-sensitive) fails it.
#[tokio::test]
#[should_panic(expected = "never matched what the notifier publishes")]
async fn a_policy_that_never_matches_fails_the_check() {
    let outbox = orders_tests::TempDir::new("kit-outbox");
    let backends = Backends::embedded(outbox.path().to_path_buf());
    let policies = [
        (
            "a typo".to_owned(),
            r#"{"eventType":["orderCreated"]}"#.to_owned(),
        ),
        documented_filter_policies().pop().unwrap(),
    ];
    policies_match_what_the_notifier_publishes(&backends, &policies).await;
}

/// The example consumer's sample (one raw body, one SNS envelope) holds
/// valid v1 events.
#[test]
fn the_example_consumers_sample_events_are_valid_against_the_schema() {
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            workspace_root().join("examples/order-consumer/events/order-consumer-sqs.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut events = Vec::new();
    for record in sample["Records"].as_array().unwrap() {
        let body = record["body"].as_str().unwrap();
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let event = match value["Message"].as_str() {
            Some(inner) => inner.to_owned(),
            None => body.to_owned(),
        };
        OrderCreated::from_sqs_body(body).unwrap();
        events.push(event);
    }
    assert_eq!(events.len(), 2);
    validate_order_created(&events);
}

fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// The store a team deploys, over moto: a second claim waits, a lapsed one
/// is taken over, a released one is free at once, a completed one is a
/// duplicate and cannot be released.
#[tokio::test]
async fn the_example_consumers_dynamodb_store_claims_once() {
    let moto = require_moto!();
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config());
    let table = unique_name("kit-processed");
    client
        .create_table()
        .table_name(&table)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let store = DynamoDbProcessedEvents::new(client, &table);
    let now = unix_now();

    assert_eq!(store.claim("e-1", now, now + 60).await.unwrap(), Claim::New);
    assert_eq!(
        store.claim("e-1", now + 1, now + 61).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        store.claim("e-1", now + 61, now + 121).await.unwrap(),
        Claim::New
    );
    store.release("e-1").await.unwrap();
    assert_eq!(
        store.claim("e-1", now + 62, now + 122).await.unwrap(),
        Claim::New
    );
    store.complete("e-1", now + 3600).await.unwrap();
    store.release("e-1").await.unwrap();
    assert_eq!(
        store.claim("e-1", now + 63, now + 123).await.unwrap(),
        Claim::AlreadyDone
    );
}

/// Acceptance: `orders-local` over moto (as the guide's local test says), a
/// team queue subscribed with the template's attributes (raw delivery,
/// filter policy on the message attributes), an order posted over HTTP, and
/// the Python consumer reading the queue: it receives the event, valid
/// against the committed schema, with the documented attributes.
#[tokio::test]
async fn a_python_consumer_written_from_the_guide_receives_and_validates_the_event() {
    let moto = require_moto!();
    if !python_available() {
        return;
    }
    let stack = MotoStack::new(moto, "kit");
    let pipeline = stack.start(&[]).await;
    let topic_arn = stack.topic_arn().await;

    // The team's queue and subscription with its dead-letter queue, as
    // infra/consumer-template.yaml makes them (moto has no
    // AWS::SNS::Subscription resource, so the same attributes are set
    // through the API, as the guide's CLI lines do).
    let queue_url = stack
        .sqs
        .create_queue()
        .queue_name(stack.name("payments-order-events"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = orders_tests::queue_attribute(
        &stack.sqs,
        &queue_url,
        aws_sdk_sqs::types::QueueAttributeName::QueueArn,
    )
    .await
    .unwrap();
    let dlq_url = stack
        .sqs
        .create_queue()
        .queue_name(stack.name("payments-order-events-sns-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = orders_tests::queue_attribute(
        &stack.sqs,
        &dlq_url,
        aws_sdk_sqs::types::QueueAttributeName::QueueArn,
    )
    .await
    .unwrap();
    let (_, policy) = documented_filter_policies().pop().unwrap();
    stack
        .sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicyScope", "MessageAttributes")
        .attributes("FilterPolicy", &policy)
        .attributes(
            "RedrivePolicy",
            serde_json::json!({ "deadLetterTargetArn": dlq_arn }).to_string(),
        )
        .send()
        .await
        .unwrap();

    let order_id = unique_name("kit-order");
    let body = legacy_order(&order_id);
    let response = reqwest::Client::new()
        .post(format!("{}/orders", pipeline.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    let endpoint = moto.endpoint().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(consumer_script())
            .args(["--endpoint-url", &endpoint, "--queue-url", &queue_url])
            .arg("--schema")
            .arg(order_created_schema())
            .args(["--expect", "1", "--wait-seconds", "60"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "consume.py failed:\n{stdout}{}\norders-local's log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        pipeline.log()
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(
        lines[0]["eventId"],
        format!("OrderCreated:anonymous:{order_id}")
    );
    assert_eq!(lines[0]["orderId"], order_id.as_str());
    assert_eq!(
        lines[0]["attributes"]["eventType"],
        ORDER_CREATED_EVENT_TYPE
    );
    assert_eq!(lines[0]["attributes"]["schemaVersion"], "2");
    assert_eq!(
        lines[1],
        serde_json::json!({"handled": 1, "duplicates": 0, "invalid": 0})
    );
}
