//! Orders and SQS records for the unit tests.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use orders_domain::contract::{CorrelationId, OrderCreated};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;
use serde_json::{Value, json};

/// The event the notifier publishes for the order in `body` (an intake
/// request, personal data included, which the event leaves out).
pub fn event(body: Value) -> OrderCreated {
    let req = OrderRequest::from_json(&body).unwrap();
    OrderCreated::new(
        orders_domain::model::OwnerKey::anonymous(),
        req.order_id.unwrap(),
        CorrelationId::parse("c0ffee-42").unwrap(),
        time::macros::datetime!(2026-11-24 10:00:00.250 UTC),
        time::macros::datetime!(2026-11-24 10:00:01 UTC),
        &req.order,
    )
}

/// An order of `items` (item id, quantity, unit price) in `currency`: the
/// legacy order's customer and address, with an e-mail, in the request.
pub fn order(id: &str, items: &[(&str, u32, Option<u64>)], currency: Option<&str>) -> OrderCreated {
    let mut body = legacy_order(id);
    body["customerEmail"] = json!("harry@example.org");
    body["items"] = items
        .iter()
        .map(|(item, quantity, price)| {
            let mut line = json!({"itemId": item, "quantity": quantity});
            if let Some(price) = price {
                line["unitPrice"] = json!(price);
            }
            line
        })
        .collect();
    if let Some(currency) = currency {
        body["currency"] = json!(currency);
    }
    event(body)
}

/// The legacy order: one unpriced line.
pub fn plain(id: &str) -> OrderCreated {
    order(id, &[("item456", 22, None)], None)
}

/// What the personal data of [`order`] looks like, to assert it never shows.
pub const PERSONAL_DATA: [&str; 3] = ["Harry Kane", "harry@example.org", "Nguyen Van Linh"];

/// A record of the digest queue (raw delivery: the body is the event).
pub fn record(message_id: &str, body: &str) -> SqsMessage {
    serde_json::from_value(json!({
        "messageId": message_id,
        "receiptHandle": format!("rh-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders-admin-digest",
        "awsRegion": "eu-west-1",
    }))
    .unwrap()
}

/// A batch of records; the context has no deadline, as in a unit test.
pub fn batch(records: Vec<SqsMessage>) -> LambdaEvent<SqsEvent> {
    let mut event = SqsEvent::default();
    event.records = records;
    LambdaEvent::new(event, Context::default())
}
