//! The `200` body: what a client may see of a stored order.
//!
//! Built field by field from [`StoredOrder`] rather than by serialising it, so
//! a field added to the item (the customer's name, address and e-mail are
//! already there) never reaches a client unless it is added here on purpose.

use orders_adapters::record::StoredOrder;
use orders_domain::confirmation::ConfirmationState;
use orders_domain::contract::PublicOrder;
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
    /// The items, currency and total: the order's public projection, the
    /// same the `OrderCreated` event carries.
    #[serde(flatten)]
    pub content: PublicOrder,
    /// What became of the customer's confirmation e-mail: `PENDING`,
    /// `SENT`, `NOT_REQUESTED` (no address given) or `FAILED`. Never the
    /// address, nor why SES refused it.
    pub confirmation: ConfirmationState,
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
            content: PublicOrder::of(order),
            confirmation: ConfirmationState::of(
                order.customer_email().is_some(),
                &stored.confirmation,
            ),
        }
    }
}

/// The status as the table spells it.
fn status_name(stored: &StoredOrder) -> &'static str {
    match stored.status {
        orders_adapters::record::OrderStatus::Created => "CREATED",
    }
}
