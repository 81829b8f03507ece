//! OrderCreated v2: what the notifier publishes to the order-events topic,
//! the public projection of an order it carries, and the reader of its
//! deliveries to a queue.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ContractError, CorrelationId, ORDER_CREATED_EVENT_TYPE, ORDER_CREATED_SCHEMA_VERSION};
use crate::model::{Currency, ItemId, Order, OrderId, OwnerKey, Quantity};

/// One line of an `OrderCreated` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreatedItem {
    /// The item.
    pub item_id: ItemId,
    /// Units ordered.
    pub quantity: Quantity,
    /// Unit price in minor units, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Written only when known, never as `null`.
    #[schemars(with = "u64", range(max = crate::model::MAX_UNIT_PRICE_MINOR))]
    pub unit_price: Option<u64>,
}

/// What anyone may see of an order's content: its lines, their currency and
/// the total. The one public projection of an order: the `OrderCreated`
/// event and the status function's answer are both built from it, so neither
/// can show the customer's name, address or e-mail by accident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicOrder {
    /// The lines, in the order the client sent them.
    pub items: Vec<OrderCreatedItem>,
    /// Currency of the prices, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Order total in minor units, when every line has a price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl PublicOrder {
    /// The public projection of `order`.
    pub fn of(order: &Order) -> Self {
        Self {
            items: order
                .items()
                .iter()
                .map(|i| OrderCreatedItem {
                    item_id: i.item_id.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price.map(|p| p.minor_units()),
                })
                .collect(),
            currency: order.currency().cloned(),
            total: order.total().map(|t| t.minor_units()),
        }
    }
}

/// OrderCreated event v2, published once an order is durably stored.
///
/// It deliberately carries no personal data (name, address, e-mail): consumers
/// that need them read the order from the table under their own grant, by
/// (`owner`, `orderId`). `eventId` is deterministic per order, so consumers
/// can drop the rare duplicate delivery (stream retries publish at least once).
// The schema attributes feed `crate::schema` (the published JSON Schema);
// the doc comments become its descriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    /// Always `OrderCreated`.
    #[schemars(extend("const" = ORDER_CREATED_EVENT_TYPE))]
    pub event_type: String,
    /// Always 2 in this version; readers refuse a version they do not know.
    #[schemars(extend("const" = ORDER_CREATED_SCHEMA_VERSION))]
    pub schema_version: u32,
    /// `OrderCreated:<owner>:<orderId>`: stable across redeliveries, distinct
    /// per owner; the deduplication key.
    #[schemars(extend("pattern" = event_id_pattern()))]
    pub event_id: String,
    /// When the order was stored.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub occurred_at: OffsetDateTime,
    /// The request's correlation id.
    pub correlation_id: CorrelationId,
    /// Who posted the order, as an opaque key (`anonymous` while the API is
    /// open): never a token subject or a principal.
    pub owner: OwnerKey,
    /// The order, unique per owner.
    pub order_id: OrderId,
    /// When intake accepted it.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub accepted_at: OffsetDateTime,
    /// Number of lines.
    #[schemars(range(min = 1, max = crate::model::MAX_ITEMS))]
    pub line_count: usize,
    /// Total units over all lines.
    #[schemars(range(min = 1))]
    pub unit_count: u64,
    /// The lines.
    #[schemars(length(min = 1, max = crate::model::MAX_ITEMS))]
    pub items: Vec<OrderCreatedItem>,
    /// Currency of the prices, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Currency")]
    pub currency: Option<Currency>,
    /// Order total in minor units, when every line has a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64")]
    pub total: Option<u64>,
    /// Whether the customer gave an e-mail address (never the address):
    /// the customer's confirmation is sent only then, and its subscription
    /// filters on the `customerEmailGiven` message attribute, so an order
    /// without one costs the confirmation nothing.
    #[serde(default)]
    pub customer_email_given: bool,
}

impl OrderCreated {
    /// Builds the v2 event for a stored order.
    pub fn new(
        owner: OwnerKey,
        order_id: OrderId,
        correlation_id: CorrelationId,
        accepted_at: OffsetDateTime,
        occurred_at: OffsetDateTime,
        order: &Order,
    ) -> Self {
        let PublicOrder {
            items,
            currency,
            total,
        } = PublicOrder::of(order);
        Self {
            event_type: ORDER_CREATED_EVENT_TYPE.to_owned(),
            schema_version: ORDER_CREATED_SCHEMA_VERSION,
            event_id: format!("{ORDER_CREATED_EVENT_TYPE}:{owner}:{order_id}"),
            occurred_at,
            correlation_id,
            owner,
            order_id,
            accepted_at,
            line_count: order.items().len(),
            unit_count: order.unit_count(),
            items,
            currency,
            total,
            customer_email_given: order.customer_email().is_some(),
        }
    }

    /// The JSON form sent to queue and HTTP subscribers.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the event from the body of an SQS message on a queue subscribed
    /// to the topic, delivered raw (`RawMessageDelivery: true`) or inside the
    /// SNS envelope (`{"Type":"Notification","Message":"…",…}`). An unknown
    /// `schemaVersion` is poison ([`ContractError::UnsupportedVersion`]),
    /// never guessed at; unknown fields are ignored. Consumers drop repeats
    /// by [`Self::dedup_key`].
    pub fn from_sqs_body(body: &str) -> Result<Self, ContractError> {
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(ContractError::Malformed)?;
        let event = match value.get("Message").and_then(serde_json::Value::as_str) {
            Some(message) if value.get("Type").is_some() => {
                serde_json::from_str(message).map_err(ContractError::Malformed)?
            }
            _ => value,
        };
        let probe: EventProbe =
            serde_json::from_value(event.clone()).map_err(ContractError::Malformed)?;
        if probe.event_type != ORDER_CREATED_EVENT_TYPE {
            return Err(ContractError::Malformed(serde::de::Error::custom(
                "eventType is not OrderCreated",
            )));
        }
        if probe.schema_version != u64::from(ORDER_CREATED_SCHEMA_VERSION) {
            return Err(ContractError::UnsupportedVersion(probe.schema_version));
        }
        serde_json::from_value(event).map_err(ContractError::Malformed)
    }

    /// The key consumers deduplicate on: the `eventId`, stable per order.
    pub fn dedup_key(&self) -> &str {
        &self.event_id
    }
}

/// The JSON Schema pattern of an `eventId`: the type, the owner key, the id.
fn event_id_pattern() -> String {
    let id = crate::model::id_pattern("");
    let id = id.trim_start_matches('^');
    format!(
        "^{ORDER_CREATED_EVENT_TYPE}:{}:{id}",
        crate::model::OWNER_KEY_ALTERNATIVES
    )
}

/// Reads only the type and version of an event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventProbe {
    event_type: String,
    schema_version: u64,
}
