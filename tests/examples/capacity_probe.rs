//! Measures what `infra/CAPACITY.md` takes from this machine rather than from
//! AWS: the CPU time of the shipped worker and notifier handlers per batch of
//! ten (in-memory ports, JSON logs formatted and discarded, as on Lambda),
//! the DynamoDB size of an order item and the SNS size of its event. Prints
//! one JSON object; `bench/p6_capacity.sh` reads it.
//!
//! Round trips to AWS cannot be measured here: the model takes them from
//! `bench/capacity_inputs.json`.

// A measuring tool: a failed setup stops it with its cause.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::memory::{MemoryDeadLetters, MemoryPublisher, MemoryStore};
use orders_adapters::record::ItemMapping;
use orders_tests::fixtures::{order_created, order_message, stored_order};
use serde_dynamo::AttributeValue;

const BATCH: usize = 10;
const ROUNDS: usize = 400;

/// Ten worker records of ten message groups (a flash sale: one order per customer).
fn worker_event(round: usize) -> LambdaEvent<SqsEvent> {
    let records: Vec<serde_json::Value> = (0..BATCH)
        .map(|i| {
            let id = format!("r{round}-o{i}");
            serde_json::json!({
                "messageId": format!("m-{id}"),
                "receiptHandle": "AQEB",
                "body": order_message(&id, "Harry Kane", 22).to_body(),
                "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": format!("customer-{i}")},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders.fifo",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let payload: SqsEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    LambdaEvent::new(payload, Context::default())
}

/// Ten notifier stream records (INSERTs).
fn notifier_event(round: usize) -> LambdaEvent<Event> {
    let records: Vec<serde_json::Value> = (0..BATCH)
        .map(|i| {
            let id = format!("r{round}-o{i}");
            let item: serde_dynamo::Item = stored_order(&order_message(&id, "Harry Kane", 22))
                .to_item()
                .unwrap();
            serde_json::json!({
                "eventID": format!("e-{id}"),
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"orderId": {"S": id}},
                    "NewImage": serde_json::to_value(item).unwrap(),
                    "SequenceNumber": format!("{}", 1000 + round * BATCH + i),
                    "SizeBytes": 420,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/x"
            })
        })
        .collect();
    let payload: Event = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    LambdaEvent::new(payload, Context::default())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

/// DynamoDB's item size: attribute names plus values (strings by UTF-8
/// length, numbers about one byte per two digits plus one, three bytes and
/// one per element for maps and lists), per
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>.
fn item_size(item: &serde_dynamo::Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(list) => 3 + list.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(Vec::len).sum(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // As on Lambda: every line formatted as JSON, then discarded.
    orders_adapters::telemetry::init_with(
        orders_adapters::telemetry::LogFormat::Json,
        std::io::sink,
    );

    let store = Arc::new(MemoryStore::default());
    let worker = worker::Deps::new(store, Arc::new(MemoryDeadLetters::default()));
    let publisher = Arc::new(MemoryPublisher::default());
    let notifier = notifier::Deps::new(publisher.clone(), Arc::new(MemoryDeadLetters::default()));

    let mut worker_samples = Vec::with_capacity(ROUNDS);
    let mut notifier_samples = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let event = worker_event(round);
        let started = Instant::now();
        let response = worker::handle(&worker, event).await.unwrap();
        worker_samples.push(started.elapsed());
        assert!(response.batch_item_failures.is_empty());

        let event = notifier_event(round);
        let started = Instant::now();
        let response = notifier::handle(&notifier, event).await.unwrap();
        notifier_samples.push(started.elapsed());
        assert!(response.batch_item_failures.is_empty());
    }
    assert!(publisher.batch_calls().iter().all(|n| *n == BATCH));

    let stored = stored_order(&order_message("23214", "Harry Kane", 22));
    let item: serde_dynamo::Item = stored.to_item().unwrap();
    let event = order_created(&stored);
    let report = serde_json::json!({
        "worker_cpu_ms_per_batch": median_ms(worker_samples),
        "notifier_cpu_ms_per_batch": median_ms(notifier_samples),
        "batch": BATCH,
        "rounds": ROUNDS,
        "order_item_bytes": item_size(&item),
        "sns_entry_bytes": orders_adapters::aws::sns_entry_size(&event),
    });
    println!("{report}");
}
