//! Orders, events and SQS records for the unit tests.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::record::StoredOrder;
use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
use orders_domain::model::{OrderRequest, OwnerKey};
use orders_domain::test_support::legacy_order;
use serde_json::{Value, json};

/// The customer's address of [`stored`].
pub const EMAIL: &str = "harry@example.org";

/// What the personal data of [`stored`] looks like, to assert it never
/// shows where it must not.
pub const PERSONAL_DATA: [&str; 3] = [EMAIL, "Harry Kane", "Nguyen Van Linh"];

/// The stored order for an intake `body` (owner: anonymous).
pub fn stored_from(body: Value) -> StoredOrder {
    let req = OrderRequest::from_json(&body).unwrap();
    let message = OrderMessage::new(
        OwnerKey::anonymous(),
        req.order_id.unwrap(),
        CorrelationId::parse("c0ffee-42").unwrap(),
        time::macros::datetime!(2026-11-24 10:00:00.250 UTC),
        req.order,
    );
    StoredOrder::from_message(&message, time::macros::datetime!(2026-11-24 10:00:01 UTC))
}

/// The legacy order `id` with the customer's e-mail and a priced line.
pub fn stored(id: &str) -> StoredOrder {
    let mut body = legacy_order(id);
    body["customerEmail"] = json!(EMAIL);
    body["currency"] = json!("EUR");
    body["items"] = json!([
        {"itemId": "item456", "quantity": 22, "unitPrice": 150},
        {"itemId": "book-1843", "quantity": 1, "unitPrice": 1999},
    ]);
    stored_from(body)
}

/// The legacy order `id` as it is: no e-mail.
pub fn without_address(id: &str) -> StoredOrder {
    stored_from(legacy_order(id))
}

/// The event the notifier publishes for `order`.
pub fn event(order: &StoredOrder) -> OrderCreated {
    OrderCreated::new(
        order.owner.clone(),
        order.order_id.clone(),
        order.correlation_id.clone(),
        order.accepted_at,
        order.created_at,
        &order.order,
    )
}

/// A record of the confirmation queue (raw delivery: the body is the
/// event), received `receive_count` times.
pub fn record(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    serde_json::from_value(json!({
        "messageId": message_id,
        "receiptHandle": format!("rh-{message_id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": receive_count.to_string()},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders-confirmation",
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
