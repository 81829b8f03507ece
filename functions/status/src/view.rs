//! The `200` body: what a client may see of a stored order.
//!
//! Built field by field from [`StoredOrder`] rather than by serialising it, so
//! a field added to the item (the customer's name, address and e-mail are
//! already there) never reaches a client unless it is added here on purpose.

use adapters::record::StoredOrder;
use orders_domain::domain::LineItem;
use serde::Serialize;
use time::OffsetDateTime;

/// The public view of a stored order: ids, status, timestamps, items and
/// money. Never the customer's name, shipping address or e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order id.
    pub order_id: String,
    /// Lifecycle state (`CREATED` once stored).
    pub status: &'static str,
    /// When intake accepted the order (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    /// When the worker stored it (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its last change (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The line items, in the order the client sent them.
    pub items: Vec<ItemView>,
    /// ISO 4217 code of the prices, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Sum of the lines in minor units, when every line has a unit price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// One line of [`OrderView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemView {
    /// What was ordered.
    pub item_id: String,
    /// How many units.
    pub quantity: u32,
    /// Price of one unit in minor units, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<u64>,
}

impl From<&LineItem> for ItemView {
    fn from(item: &LineItem) -> Self {
        Self {
            item_id: item.item_id.as_str().to_owned(),
            quantity: item.quantity.get(),
            unit_price: item.unit_price.map(|p| p.minor_units()),
        }
    }
}

impl From<&StoredOrder> for OrderView {
    fn from(stored: &StoredOrder) -> Self {
        let order = &stored.order;
        Self {
            order_id: stored.order_id.as_str().to_owned(),
            status: status_name(stored),
            accepted_at: stored.accepted_at,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            items: order.items().iter().map(ItemView::from).collect(),
            currency: order.currency().map(|c| c.as_str().to_owned()),
            total: order.total().map(|t| t.minor_units()),
        }
    }
}

/// The status as the table spells it.
fn status_name(stored: &StoredOrder) -> &'static str {
    match stored.status {
        adapters::record::OrderStatus::Created => "CREATED",
    }
}
