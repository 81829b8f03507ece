//! The stored order: what the table holds for each order.
//!
//! One item per order, keyed by `orderId` (partition key, no sort key). The
//! order's fields sit at the top level of the item and `items` is a list of
//! maps, so the console, PartiQL and stream consumers read it without
//! decoding a JSON string. The mapping to DynamoDB's attribute values lives in
//! the adapters crate (`orders_adapters::record::ItemMapping`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::contract::{CorrelationId, OrderMessage};
use crate::model::{ContentHash, Order, OrderId};

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
}
