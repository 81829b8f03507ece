//! The DynamoDB item of an order, mapped with `serde_dynamo`.
//!
//! One item per order, keyed by `orderId` (partition key, no sort key). The
//! order's fields sit at the top level of the item and `items` is a native
//! DynamoDB list of maps, so the console, PartiQL and stream consumers read it
//! without decoding a JSON string.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::contract::{CorrelationId, OrderMessage};
use crate::domain::{ContentHash, Order, OrderId};

/// Name of the table's partition key attribute.
pub const KEY_ATTRIBUTE: &str = "orderId";
/// Name of the attribute holding the content hash (read by the duplicate check).
pub const HASH_ATTRIBUTE: &str = "contentHash";
/// Version of the item layout, stored in every item as `itemVersion`.
pub const ITEM_VERSION: u32 = 1;

/// Lifecycle state of a stored order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Persisted by the worker; the OrderCreated event follows from the stream.
    Created,
}

/// One order as stored in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredOrder {
    /// Partition key.
    pub order_id: OrderId,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Layout version of this item.
    pub item_version: u32,
    /// Correlation id of the request that created the order.
    pub correlation_id: CorrelationId,
    /// When intake accepted the order.
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    /// When the worker stored it.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// SHA-256 of id and content: the duplicate-versus-conflict test.
    pub content_hash: ContentHash,
    /// The order's content, flattened to top-level attributes.
    #[serde(flatten)]
    pub order: Order,
}

/// An item image could not be read as an order.
#[derive(Debug, thiserror::Error)]
#[error("item is not a valid order")]
pub struct RecordError(#[source] pub serde_dynamo::Error);

impl StoredOrder {
    /// The item the worker writes for a queue message, stamped `now`.
    pub fn from_message(message: &OrderMessage, now: OffsetDateTime) -> Self {
        Self {
            order_id: message.order_id.clone(),
            status: OrderStatus::Created,
            item_version: ITEM_VERSION,
            correlation_id: message.correlation_id.clone(),
            accepted_at: message.accepted_at,
            created_at: now,
            updated_at: now,
            content_hash: message.content_hash(),
            order: message.order.clone(),
        }
    }

    /// Maps to any `serde_dynamo` item type (SDK `AttributeValue` maps, stream images).
    pub fn to_item<I: From<serde_dynamo::Item>>(&self) -> Result<I, RecordError> {
        serde_dynamo::to_item(self).map_err(RecordError)
    }

    /// Reads any `serde_dynamo` item type back, re-validating every field.
    pub fn from_item<I: Into<serde_dynamo::Item>>(item: I) -> Result<Self, RecordError> {
        serde_dynamo::from_item(item).map_err(RecordError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderRequest;
    use serde_dynamo::AttributeValue;
    use serde_json::json;

    fn stored() -> StoredOrder {
        let req = OrderRequest::from_json(&json!({"orderID":"23214","customerName":"Harry Kane","currency":"EUR","items":[{"itemId":"item456","quantity":22,"unitPrice":150}],"shippingAddress":"11 Nguyen Van Linh, Hanoi, Vietnam"})).unwrap();
        let msg = OrderMessage::new(
            req.order_id.unwrap(),
            CorrelationId::parse("c-1").unwrap(),
            time::macros::datetime!(2026-11-24 10:00 UTC),
            req.order,
        );
        StoredOrder::from_message(&msg, time::macros::datetime!(2026-11-24 10:00:01 UTC))
    }

    #[test]
    fn items_are_a_native_list_of_maps_at_the_top_level() {
        let item: serde_dynamo::Item = stored().to_item().unwrap();
        assert_eq!(
            item.get(KEY_ATTRIBUTE),
            Some(&AttributeValue::S("23214".into()))
        );
        assert_eq!(
            item.get("status"),
            Some(&AttributeValue::S("CREATED".into()))
        );
        assert!(matches!(
            item.get(HASH_ATTRIBUTE),
            Some(AttributeValue::S(_))
        ));
        let Some(AttributeValue::L(items)) = item.get("items") else {
            panic!("items is not a list: {:?}", item.get("items"));
        };
        let AttributeValue::M(first) = &items[0] else {
            panic!("item is not a map");
        };
        assert_eq!(first.get("quantity"), Some(&AttributeValue::N("22".into())));
        assert_eq!(
            first.get("unitPrice"),
            Some(&AttributeValue::N("150".into()))
        );
    }

    #[test]
    fn round_trips_through_sdk_and_stream_item_types() {
        let s = stored();
        let sdk: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            s.to_item().unwrap();
        assert_eq!(StoredOrder::from_item(sdk).unwrap(), s);
        let image: serde_dynamo::Item = s.to_item().unwrap();
        assert_eq!(StoredOrder::from_item(image).unwrap(), s);
    }

    #[test]
    fn a_tampered_item_is_rejected() {
        let mut item: serde_dynamo::Item = stored().to_item().unwrap();
        item.insert("items".into(), AttributeValue::L(vec![]));
        assert!(StoredOrder::from_item(item).is_err());
    }
}
