//! Property: one parse, both directions.
//!
//! For every request body (generated: unicode of every category, lengths at
//! and around the limits, nulls, wrong types, missing and extra fields), the
//! shipped handlers, on in-memory ports, either
//! - answer a 4xx problem and enqueue nothing, or
//! - answer 202, and then the enqueued message is one SQS would take, the
//!   worker stores it without a failure or a dead letter, and the notifier
//!   turns the stored item's stream image into exactly one `OrderCreated`
//!   whose e-mail SNS would take.
//!
//! Never a 5xx, never a 202 whose message a later stage cannot read. The run
//! is seeded (`ORDERS_PROPTEST_SEED`, default fixed) and sized
//! (`ORDERS_PROPTEST_CASES`, default 3000) so a failure reproduces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use orders_adapters::record::ItemMapping;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::memory::{MemoryDeadLetters, MemoryPublisher, MemoryQueue, MemoryStore};
use orders_domain::contract::OrderCreated;
use orders_domain::model::is_queue_safe;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

/// Characters that have broken, or could break, some stage: controls, the
/// noncharacters SQS refuses, bidi controls, joiners, the edges of the
/// surrogate gap and of Unicode, odd whitespace, quotes and escapes.
/// Weight of the good choice against `bad` at each perturbation point.
const GOOD: u32 = 100;

const TRICKY: &[char] = &[
    '\u{0}',
    '\u{8}',
    '\u{9}',
    '\u{A}',
    '\u{D}',
    '\u{1F}',
    '\u{7F}',
    '\u{85}',
    '\u{A0}',
    '\u{AD}',
    '\u{200B}',
    '\u{200D}',
    '\u{200E}',
    '\u{202A}',
    '\u{202E}',
    '\u{2066}',
    '\u{2069}',
    '\u{2028}',
    '\u{3000}',
    '\u{D7FF}',
    '\u{E000}',
    '\u{FDD0}',
    '\u{FEFF}',
    '\u{FFFD}',
    '\u{FFFE}',
    '\u{FFFF}',
    '\u{10000}',
    '\u{1F468}',
    '\u{10FFFF}',
    '"',
    '\\',
    '/',
    '~',
    '<',
    '&',
    '\'',
    ' ',
    'é',
    'ệ',
    '中',
];

/// A character: mostly plain, with any Unicode scalar and the tricky ones at
/// weight `bad` against 40.
fn tricky_char(bad: u32) -> impl Strategy<Value = char> {
    prop_oneof![
        GOOD => proptest::char::range('a', 'z'),
        bad => any::<char>(),
        bad => proptest::sample::select(TRICKY),
        5 => proptest::char::range('A', 'Z'),
        5 => proptest::char::range('0', '9'),
    ]
}

/// Text of a length drawn around `limit` (and short lengths).
fn text(limit: usize, bad: u32) -> impl Strategy<Value = String> {
    let lengths = prop_oneof![
        GOOD => 1..12usize,
        bad => Just(0usize),
        bad => (limit.saturating_sub(2))..(limit + 3),
    ];
    lengths
        .prop_flat_map(move |n| proptest::collection::vec(tricky_char(bad), n))
        .prop_map(|chars| chars.into_iter().collect())
}

/// Ids: mostly the allowed alphabet, at and around 64 characters, sometimes not.
fn id(bad: u32) -> impl Strategy<Value = String> {
    let alphabet = prop_oneof![
        GOOD => proptest::sample::select(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:"
                .chars()
                .collect::<Vec<_>>()
        ),
        bad => tricky_char(bad),
    ];
    let lengths = prop_oneof![GOOD => 1..10usize, bad => 62..67usize, bad => Just(0usize)];
    lengths
        .prop_flat_map(move |n| proptest::collection::vec(alphabet.clone(), n))
        .prop_map(|chars| chars.into_iter().collect())
}

/// Any JSON value of a wrong type.
fn wrong() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!("x")),
    ]
}

/// A field that is usually `good`, sometimes (weight `bad` against 40)
/// absent, null or of a wrong type.
fn field(good: BoxedStrategy<Value>, bad: u32) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        GOOD => good.prop_map(Some),
        bad => Just(None),
        bad => wrong().prop_map(Some),
    ]
    .boxed()
}

fn number(max: u64, bad: u32) -> BoxedStrategy<Value> {
    let edges = prop_oneof![
        (max.saturating_sub(1)..=max.saturating_add(1)).prop_map(Value::from),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(u64::MAX)),
    ];
    prop_oneof![
        GOOD => (1..=max.min(50)).prop_map(Value::from),
        bad => edges,
    ]
    .boxed()
}

fn item(bad: u32) -> impl Strategy<Value = Value> {
    (
        field(id(bad).prop_map(Value::from).boxed(), bad),
        field(number(10_000, bad), bad),
        prop_oneof![
            2 => Just(None),
            1 => field(number(100_000_000, bad), bad),
        ],
        proptest::option::weighted(f64::from(bad) / 200.0, (id(bad), wrong())),
    )
        .prop_map(|(item_id, quantity, unit_price, extra)| {
            let mut item = Map::new();
            let mut put = |key: &str, v: Option<Value>| {
                if let Some(v) = v {
                    item.insert(key.to_owned(), v);
                }
            };
            put("itemId", item_id);
            put("quantity", quantity);
            put("unitPrice", unit_price);
            if let Some((key, value)) = extra {
                item.insert(key, value);
            }
            Value::Object(item)
        })
}

fn items(bad: u32) -> BoxedStrategy<Value> {
    let lengths = prop_oneof![GOOD => 1..4usize, bad => Just(0usize), bad => 99..102usize];
    lengths
        .prop_flat_map(move |n| proptest::collection::vec(item(bad), n))
        .prop_map(Value::from)
        .boxed()
}

/// E-mail addresses: mostly well-formed, with any characters in their parts.
fn email(bad: u32) -> BoxedStrategy<Value> {
    prop_oneof![
        GOOD => (text(20, bad), text(20, bad)).prop_map(|(local, domain)| json!(format!("{local}@{domain}.com"))),
        bad => text(254, bad).prop_map(Value::from),
    ]
    .boxed()
}

/// Request bodies: the legacy shape with every field perturbed, from gently
/// (so that many are valid and reach the worker and the notifier) to hostile.
fn body() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => body_at(1),
        1 => body_at(5),
        1 => body_at(20),
    ]
}

fn body_at(bad: u32) -> impl Strategy<Value = Value> {
    let strings = move |limit: usize| text(limit, bad).prop_map(Value::from).boxed();
    let currencies = prop_oneof![
        GOOD => Just(json!("EUR")),
        bad => Just(json!("eur")),
        GOOD => Just(json!("VND")),
    ]
    .boxed();
    (
        (
            field(id(bad).prop_map(Value::from).boxed(), bad),
            any::<bool>(),
            field(strings(200), bad),
            field(strings(500), bad),
        ),
        (
            prop_oneof![3 => Just(None), 1 => field(email(bad), bad)],
            prop_oneof![
                1 => Just(None),
                3 => field(currencies, bad),
            ],
            field(items(bad), bad),
            proptest::option::weighted(f64::from(bad) / 200.0, (text(40, bad), wrong())),
        ),
    )
        .prop_map(
            |((order_id, alias, name, address), (email, currency, items, extra))| {
                let mut body = Map::new();
                let mut put = |key: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        body.insert(key.to_owned(), v);
                    }
                };
                put(if alias { "orderId" } else { "orderID" }, order_id);
                put("customerName", name);
                put("shippingAddress", address);
                put("customerEmail", email);
                put("currency", currency);
                put("items", items);
                if let Some((key, value)) = extra {
                    body.insert(key, value);
                }
                Value::Object(body)
            },
        )
}

/// How the cases split, so the test can check it explored both paths.
#[derive(Default)]
struct Tally {
    accepted: AtomicUsize,
    rejected: AtomicUsize,
    /// Every event the notifier published, as JSON, to validate against the
    /// published schema in one go at the end.
    events: std::sync::Mutex<Vec<String>>,
}

async fn check(body: &Value, tally: &Tally) -> Result<(), TestCaseError> {
    // intake
    let queue = Arc::new(MemoryQueue::default());
    let intake_deps = intake::Deps::new(
        queue.clone(),
        intake::GroupStrategy::Customer,
        orders_http::Owners::open(),
    );
    let request = http::Request::builder()
        .method("POST")
        .uri("/orders")
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(body.to_string()))
        .unwrap();
    let response = intake::handle(&intake_deps, request).await.unwrap();
    let status = response.status().as_u16();
    prop_assert!(status < 500, "5xx {status} for {body}");
    if status != 202 {
        prop_assert!((400..500).contains(&status), "{status}");
        let problem: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        if std::env::var_os("ORDERS_PROPTEST_DEBUG").is_some() {
            eprintln!("{}", problem["errors"]);
        }
        prop_assert_eq!(problem["status"].as_u64(), Some(u64::from(status)));
        if status == 422 {
            prop_assert!(!problem["errors"].as_array().unwrap().is_empty());
        }
        prop_assert!(queue.sent().is_empty(), "rejected but enqueued");
        tally.rejected.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    tally.accepted.fetch_add(1, Ordering::Relaxed);

    // the queue: SQS would take the message
    let sent = queue.sent();
    prop_assert_eq!(sent.len(), 1);
    let outgoing = &sent[0];
    let message_body = outgoing.message.to_body();
    prop_assert!(
        message_body.chars().all(is_queue_safe),
        "SQS would refuse the body of {body}"
    );
    prop_assert!(
        outgoing
            .message
            .correlation_id
            .as_str()
            .chars()
            .all(is_queue_safe)
    );
    prop_assert!((1..=128).contains(&outgoing.group_id.len()));
    prop_assert!((1..=128).contains(&outgoing.dedup_id.len()));

    // worker
    let store = Arc::new(MemoryStore::default());
    let worker_dlq = Arc::new(MemoryDeadLetters::default());
    let worker_deps = worker::Deps::new(store.clone(), worker_dlq.clone());
    let sqs: SqsEvent = serde_json::from_value(json!({"Records": [{
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": message_body,
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": outgoing.group_id},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }]}))
    .unwrap();
    let response = worker::handle(&worker_deps, LambdaEvent::new(sqs, Context::default()))
        .await
        .unwrap();
    prop_assert!(
        response.batch_item_failures.is_empty(),
        "worker failed {body}"
    );
    prop_assert!(worker_dlq.sent().is_empty(), "worker dead-lettered {body}");
    let stored = store
        .get(outgoing.message.order_id.as_str())
        .expect("stored");

    // notifier, from the item's stream image
    let image: serde_dynamo::Item = stored.to_item().unwrap();
    let stream: Event = serde_json::from_value(json!({"Records": [{
        "eventID": "e-1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "eventSourceARN": "arn:aws:dynamodb:eu-west-1:1:table/orders/stream/x",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795514401,
            "Keys": {"orderKey": {"S": stored.key()}},
            "NewImage": serde_json::to_value(&image).unwrap(),
            "SequenceNumber": "100",
            "SizeBytes": 1,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    }]}))
    .unwrap();
    let publisher = Arc::new(MemoryPublisher::default());
    let notifier_dlq = Arc::new(MemoryDeadLetters::default());
    let notifier_deps = notifier::Deps::new(publisher.clone(), notifier_dlq.clone());
    let response = notifier::handle(&notifier_deps, LambdaEvent::new(stream, Context::default()))
        .await
        .unwrap();
    prop_assert!(response.batch_item_failures.is_empty());
    prop_assert!(
        notifier_dlq.sent().is_empty(),
        "notifier dead-lettered {body}"
    );
    let published = publisher.published();
    prop_assert_eq!(published.len(), 1);
    let event = &published[0];
    prop_assert_eq!(&event.order_id, &outgoing.message.order_id);
    let back: OrderCreated = serde_json::from_str(&event.to_json()).unwrap();
    prop_assert_eq!(&back, event);
    tally.events.lock().unwrap().push(event.to_json());
    // The admin's e-mail about it. SNS: a subject of under 100 ASCII
    // characters without line breaks.
    let subject = admin_digest::email::detail::subject(event);
    prop_assert!(subject.len() < 100 && subject.bytes().all(|b| (0x20..0x7f).contains(&b)));
    prop_assert!(
        !admin_digest::email::detail::text(event)
            .chars()
            .any(orders_domain::model::is_bidi_control)
    );
    Ok(())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_body_is_rejected_with_a_4xx_or_stored_and_announced() {
    let cases = u32::try_from(env_number("ORDERS_PROPTEST_CASES", 3000)).unwrap();
    let seed = env_number("ORDERS_PROPTEST_SEED", 8);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tally = Tally::default();

    let result = runner.run(&body(), |body| runtime.block_on(check(&body, &tally)));

    let accepted = tally.accepted.load(Ordering::Relaxed);
    let rejected = tally.rejected.load(Ordering::Relaxed);
    println!(
        "delivery property: seed {seed}, {cases} cases: {accepted} accepted, {rejected} rejected"
    );
    if let Err(err) = result {
        panic!("seed {seed}: {err}");
    }
    // The generator must explore both paths, or the property proves little.
    let total = accepted + rejected;
    assert!(
        accepted * 10 >= total,
        "only {accepted} of {total} accepted"
    );
    assert!(
        rejected * 10 >= total,
        "only {rejected} of {total} rejected"
    );
    // Every event announced above is valid against the committed JSON Schema
    // (shared/domain/schema/order-created.v2.schema.json) that other teams use.
    let events = tally.events.into_inner().unwrap();
    assert_eq!(events.len(), accepted);
    let validated = orders_tests::consumer::validate_order_created(&events);
    println!(
        "delivery property: {validated} published events valid against the OrderCreated v1 schema"
    );
}
