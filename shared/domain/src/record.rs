//! The stored order: what the table holds for each order.
//!
//! One item per order, keyed by `orderKey` (partition key, no sort key):
//! [`order_key`] of the order's owner and id, because an order's identity is
//! (owner, order id). The owner and the id are also kept as attributes of
//! their own. A composite partition key rather than the owner as partition
//! key: with the API open every order has one owner, and one partition
//! takes at most 1,000 writes a second
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html>).
//! The order's fields sit at the top level of the item and `items` is a list
//! of maps, so the console, PartiQL and stream consumers read it without
//! decoding a JSON string. The mapping to DynamoDB's attribute values lives in
//! the adapters crate (`orders_adapters::record::ItemMapping`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::confirmation::ConfirmationMarks;
use crate::contract::{CorrelationId, OrderMessage};
use crate::model::{ContentHash, Order, OrderId, OwnerKey};

/// Name of the table's partition key attribute, whose value is [`order_key`].
pub const KEY_ATTRIBUTE: &str = "orderKey";
/// Name of the attribute holding the order's owner key.
pub const OWNER_ATTRIBUTE: &str = "owner";
/// Name of the attribute holding the order's id.
pub const ORDER_ID_ATTRIBUTE: &str = "orderId";
/// Name of the attribute holding the content hash (read by the duplicate check).
pub const HASH_ATTRIBUTE: &str = "contentHash";
/// Version of the item layout, stored in every item as `itemVersion`.
/// Version 2 keyed the item by owner and id ([`KEY_ATTRIBUTE`]).
pub const ITEM_VERSION: u32 = 2;

/// The table key of the order `order_id` of `owner`: `<owner>#<orderId>`.
/// An owner key never holds `#`, so the split is unambiguous.
pub fn order_key(owner: &OwnerKey, order_id: &OrderId) -> String {
    format!("{owner}#{order_id}")
}

/// The owner key and the order id of a table key ([`order_key`]); `None`
/// when `key` is not one.
pub fn split_order_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('#')
}

/// The table key an operator names an order by: `<owner>#<orderId>` as
/// dead letters, logs and events show it, or a bare order id for the
/// anonymous owner's order (every order while the API is open).
pub fn order_key_from_operator(named: &str) -> String {
    if named.contains('#') {
        named.to_owned()
    } else {
        format!("{}#{named}", OwnerKey::anonymous())
    }
}

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
    /// Who posted it, as an opaque key.
    pub owner: OwnerKey,
    /// The order's id, unique per owner.
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
    /// The customer confirmation's claim and marks, top-level attributes
    /// the confirmation function writes on the stored item (none when the
    /// worker writes it; see [`crate::confirmation`]).
    #[serde(flatten, default)]
    pub confirmation: ConfirmationMarks,
}

impl StoredOrder {
    /// The item the worker writes for a queue message, stamped `now`.
    pub fn from_message(message: &OrderMessage, now: OffsetDateTime) -> Self {
        Self {
            owner: message.owner.clone(),
            order_id: message.order_id.clone(),
            status: OrderStatus::Created,
            item_version: ITEM_VERSION,
            correlation_id: message.correlation_id.clone(),
            accepted_at: message.accepted_at,
            created_at: now,
            updated_at: now,
            content_hash: message.content_hash(),
            order: message.order.clone(),
            confirmation: ConfirmationMarks::default(),
        }
    }

    /// This order's table key ([`order_key`]).
    pub fn key(&self) -> String {
        order_key(&self.owner, &self.order_id)
    }
}
