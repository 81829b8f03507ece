//! Test data: orders, messages, items and events built through the domain's
//! own constructors, so they are valid by construction.

use orders_adapters::ports::OutgoingOrder;
use orders_adapters::record::StoredOrder;
use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;
use time::OffsetDateTime;

/// A queue message for the legacy body with this order id, customer name
/// and quantity (a different name or quantity changes the content hash).
pub fn order_message(order_id: &str, customer: &str, quantity: u32) -> OrderMessage {
    let mut body = legacy_order(order_id);
    body["customerName"] = customer.into();
    body["items"][0]["quantity"] = quantity.into();
    let request = OrderRequest::from_json(&body).expect("a valid legacy body");
    OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        request.order_id.expect("the body has an orderID"),
        CorrelationId::parse(&format!("corr-{order_id}")).expect("a valid correlation id"),
        OffsetDateTime::now_utc(),
        request.order,
    )
}

/// The message routed to `group`, deduplicated by `dedup`.
pub fn outgoing(message: OrderMessage, group: &str, dedup: &str) -> OutgoingOrder {
    OutgoingOrder {
        message,
        group_id: group.to_owned(),
        dedup_id: dedup.to_owned(),
        trace_header: None,
    }
}

/// The item the worker would store for this message.
pub fn stored_order(message: &OrderMessage) -> StoredOrder {
    StoredOrder::from_message(message, OffsetDateTime::now_utc())
}

/// The event the notifier would publish for this stored order.
pub fn order_created(stored: &StoredOrder) -> OrderCreated {
    OrderCreated::new(
        orders_domain::model::OwnerKey::anonymous(),
        stored.order_id.clone(),
        stored.correlation_id.clone(),
        stored.accepted_at,
        stored.created_at,
        &stored.order,
    )
}
