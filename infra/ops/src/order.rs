//! `orders-ops order show ID`: one stored order's status and timestamps.
//!
//! The customer's name, e-mail and address are shown only with
//! `--show-personal-data`; without it the output holds ids, times and counts.

use orders_adapters::record::{ItemMapping, StoredOrder};
use orders_domain::confirmation::ConfirmationState;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::error::{OpsError, OpsResult};
use crate::target::Clients;

/// The customer's personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Personal {
    /// Customer name.
    pub customer_name: String,
    /// Customer e-mail, when given.
    pub customer_email: Option<String>,
    /// Shipping address.
    pub shipping_address: String,
}

/// What `order show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order id.
    pub order_id: String,
    /// Lifecycle state (`CREATED`).
    pub status: String,
    /// Correlation id of the request that created it.
    pub correlation_id: String,
    /// When intake accepted it (RFC 3339).
    pub accepted_at: String,
    /// When the worker stored it.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Layout version of the item.
    pub item_version: u32,
    /// Distinct line items.
    pub line_items: usize,
    /// Units over all line items.
    pub units: u64,
    /// The total with its currency, when prices were given.
    pub total: Option<String>,
    /// The customer's confirmation e-mail: its state (as `GET
    /// /orders/{orderId}` answers it) and what the item says about it (SES's
    /// message id, the refusal's reason code, or until when a claim holds).
    /// Never the address.
    pub confirmation: String,
    /// Only with `--show-personal-data`.
    pub personal: Option<Personal>,
}

impl OrderView {
    /// The view of a stored order.
    pub fn of(stored: &StoredOrder, show_personal_data: bool) -> Self {
        let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_else(|_| t.to_string());
        let order = &stored.order;
        let total = match (order.total(), order.currency()) {
            (Some(total), Some(currency)) => Some(total.display_with(currency)),
            (Some(total), None) => Some(format!("{} (minor units)", total.minor_units())),
            _ => None,
        };
        Self {
            order_id: stored.order_id.to_string(),
            status: serde_json::to_value(stored.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            correlation_id: stored.correlation_id.to_string(),
            accepted_at: time(stored.accepted_at),
            created_at: time(stored.created_at),
            updated_at: time(stored.updated_at),
            item_version: stored.item_version,
            line_items: order.items().len(),
            units: order.unit_count(),
            total,
            confirmation: confirmation(stored),
            personal: show_personal_data.then(|| Personal {
                customer_name: order.customer_name().as_str().to_owned(),
                customer_email: order.customer_email().map(|e| e.as_str().to_owned()),
                shipping_address: order.shipping_address().as_str().to_owned(),
            }),
        }
    }

    /// As lines of text.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("order        {}", self.order_id),
            format!("status       {}", self.status),
            format!("correlation  {}", self.correlation_id),
            format!("accepted at  {}", self.accepted_at),
            format!("created at   {}", self.created_at),
            format!("updated at   {}", self.updated_at),
            format!(
                "items        {} line(s), {} unit(s){}",
                self.line_items,
                self.units,
                self.total
                    .as_ref()
                    .map_or_else(String::new, |t| format!(", total {t}"))
            ),
            format!("confirmation {}", self.confirmation),
        ];
        match &self.personal {
            Some(p) => {
                lines.push(format!("customer     {}", p.customer_name));
                if let Some(email) = &p.customer_email {
                    lines.push(format!("e-mail       {email}"));
                }
                lines.push(format!("ship to      {}", p.shipping_address));
            }
            None => lines.push("(personal data hidden: --show-personal-data shows it)".to_owned()),
        }
        lines
    }
}

/// `SENT (SES message id …)`, `FAILED (invalid-address)`, `PENDING (claimed
/// until …)`, `PENDING`, `NOT_REQUESTED`.
fn confirmation(stored: &StoredOrder) -> String {
    let marks = &stored.confirmation;
    let state = ConfirmationState::of(stored.order.customer_email().is_some(), marks);
    let detail = match state {
        ConfirmationState::Sent => marks
            .confirmation_message_id
            .as_ref()
            .map(|id| format!("SES message id {id}")),
        ConfirmationState::Failed => marks.confirmation_failed.map(|r| r.as_str().to_owned()),
        ConfirmationState::Pending => marks
            .confirmation_claim_until
            .and_then(|until| time::OffsetDateTime::from_unix_timestamp(until).ok())
            .and_then(|until| until.format(&Rfc3339).ok())
            .map(|until| format!("claimed until {until}")),
        ConfirmationState::NotRequested => None,
    };
    match detail {
        Some(detail) => format!("{} ({detail})", state.as_str()),
        None => state.as_str().to_owned(),
    }
}

/// Reads order `id` from `table`.
pub async fn show(
    clients: &Clients,
    table: &str,
    id: &str,
    show_personal_data: bool,
) -> OpsResult<OrderView> {
    let item = crate::renotify::get_order(clients, table, id)
        .await?
        .ok_or_else(|| OpsError::NotFound {
            what: format!("order {id} in table {table}"),
        })?;
    // The mapping's error can quote a value of the item: keep the chain out
    // of the message (ids only), name the order.
    let stored = StoredOrder::from_item(item).map_err(|err| OpsError::Unreadable {
        what: format!("order {id} (the stored item)"),
        source: Box::new(std::io::Error::other(err.to_string())),
    })?;
    Ok(OrderView::of(&stored, show_personal_data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_domain::confirmation::{ConfirmationMarks, RefusalCode};
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::model::{OrderRequest, OwnerKey};
    use orders_domain::test_support::legacy_order;

    fn stored(email: bool, marks: ConfirmationMarks) -> StoredOrder {
        let mut body = legacy_order("o-1");
        if email {
            body["customerEmail"] = serde_json::json!("harry@example.org");
        }
        let request = OrderRequest::from_json(&body).unwrap();
        let message = OrderMessage::new(
            OwnerKey::anonymous(),
            request.order_id.unwrap(),
            CorrelationId::parse("c-1").unwrap(),
            time::OffsetDateTime::UNIX_EPOCH,
            request.order,
        );
        let mut stored = StoredOrder::from_message(&message, time::OffsetDateTime::UNIX_EPOCH);
        stored.confirmation = marks;
        stored
    }

    #[test]
    fn given_each_mark_then_the_confirmation_line_says_its_state_and_detail_never_the_address() {
        let cases = [
            (false, ConfirmationMarks::default(), "NOT_REQUESTED"),
            (true, ConfirmationMarks::default(), "PENDING"),
            (
                true,
                ConfirmationMarks {
                    confirmation_claim: Some("t".into()),
                    confirmation_claim_until: Some(60),
                    ..ConfirmationMarks::default()
                },
                "PENDING (claimed until 1970-01-01T00:01:00Z)",
            ),
            (
                true,
                ConfirmationMarks {
                    confirmation_sent_at: Some(time::OffsetDateTime::UNIX_EPOCH),
                    confirmation_message_id: Some("0100-abc".into()),
                    ..ConfirmationMarks::default()
                },
                "SENT (SES message id 0100-abc)",
            ),
            (
                true,
                ConfirmationMarks {
                    confirmation_failed: Some(RefusalCode::InvalidAddress),
                    ..ConfirmationMarks::default()
                },
                "FAILED (invalid-address)",
            ),
        ];
        for (email, marks, expected) in cases {
            let view = OrderView::of(&stored(email, marks), false);
            assert_eq!(view.confirmation, expected);
            let text = view.lines().join("\n");
            assert!(text.contains(&format!("confirmation {expected}")), "{text}");
            assert!(!text.contains("harry@example.org"), "{text}");
        }
    }
}
