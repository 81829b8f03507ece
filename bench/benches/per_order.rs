//! CPU per order of each function's own work, without I/O (P3):
//!
//! - intake: parse the body, validate it, hash the content, serialise the
//!   queue message;
//! - worker: decode the queue message, map it to the DynamoDB item;
//! - notifier: read the stream image, build the event, its JSON and the
//!   e-mail text.
//!
//! `bench/python/per_order.py` does the same work the way the old Python
//! function did; `bench/run.sh` compares the two.

// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::hint::black_box;

use aws_sdk_dynamodb::types::AttributeValue;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use orders_adapters::record::{ItemMapping, StoredOrder};
use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
use orders_domain::model::OrderRequest;
use time::OffsetDateTime;

/// The body every stage starts from (the old system's fields plus e-mail,
/// currency and prices), the same one `per_order.py` uses.
const BODY: &str = include_str!("../python/order.json");

fn intake(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    let Ok(request) = OrderRequest::from_json(&json) else {
        return String::new();
    };
    let Some(order_id) = request.order_id else {
        return String::new();
    };
    let message = OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        order_id,
        CorrelationId::generate(),
        OffsetDateTime::now_utc(),
        request.order,
    );
    let dedup_id = message.content_hash();
    black_box(dedup_id);
    message.to_body()
}

fn worker(body: &str) -> HashMap<String, AttributeValue> {
    let Ok(message) = OrderMessage::from_body(body) else {
        return HashMap::new();
    };
    let stored = StoredOrder::from_message(&message, OffsetDateTime::now_utc());
    stored.to_item().unwrap_or_default()
}

fn notifier(image: serde_dynamo::Item) -> String {
    let Ok(stored) = StoredOrder::from_item(image) else {
        return String::new();
    };
    let event = OrderCreated::new(
        orders_domain::model::OwnerKey::anonymous(),
        stored.order_id,
        stored.correlation_id,
        stored.accepted_at,
        stored.created_at,
        &stored.order,
    );
    // The event is published as its JSON, one String message for every
    // subscriber; the admin's e-mail is the digest function's job.
    event.to_json()
}

fn per_order(c: &mut Criterion) {
    let message_body = intake(BODY);
    assert!(
        !message_body.is_empty(),
        "the intake stage refused the sample body"
    );
    let item = worker(&message_body);
    assert!(!item.is_empty(), "the worker stage refused the message");
    let image: serde_dynamo::Item = item.into();
    assert!(
        !notifier(image.clone()).is_empty(),
        "the notifier stage refused the image"
    );

    c.bench_function("intake", |b| b.iter(|| intake(black_box(BODY))));
    c.bench_function("worker", |b| b.iter(|| worker(black_box(&message_body))));
    c.bench_function("notifier", |b| {
        b.iter_batched(|| image.clone(), notifier, BatchSize::SmallInput)
    });
}

criterion_group!(benches, per_order);
criterion_main!(benches);
