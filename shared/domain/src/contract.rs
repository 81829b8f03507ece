//! Versioned message contracts other teams may consume.
//!
//! * [`OrderMessage`] (`schemaVersion: 1`): what intake puts on the orders FIFO
//!   queue and the worker reads.
//! * [`OrderCreated`] (`eventType: "OrderCreated"`, `schemaVersion: 1`): what the
//!   notifier publishes to the order-events SNS topic.
//!
//! Compatibility rules: readers ignore unknown fields (so producers may add
//! optional fields within a version); a breaking change bumps `schemaVersion`,
//! and readers reject versions they do not know as poison rather than guessing.
//! Timestamps are RFC 3339 in UTC; money is integer minor units.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{
    ContentHash, Currency, ItemId, MAX_CORRELATION_ID_LEN, MAX_ID_LEN, Order, OrderId, Quantity,
    is_id_char,
};

/// The only order-message schema version this code reads and writes.
pub const ORDER_MESSAGE_SCHEMA_VERSION: u32 = 1;
/// The only OrderCreated schema version this code writes.
pub const ORDER_CREATED_SCHEMA_VERSION: u32 = 1;
/// The `eventType` of [`OrderCreated`], also sent as an SNS message attribute.
pub const ORDER_CREATED_EVENT_TYPE: &str = "OrderCreated";

/// Carries one request's identity through every stage (queue message, item,
/// event and every log line). 1–128 printable ASCII characters without spaces
/// when read back; what a client may choose is narrower ([`Self::from_client`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CorrelationId(String);

impl CorrelationId {
    /// Accepts a client's `X-Correlation-Id` when it is an id by the rule
    /// every client-chosen id follows (1 to [`MAX_ID_LEN`] of
    /// [`crate::domain::ID_CHARS`]): it reaches log lines and the admin
    /// e-mail, so a client can put neither a long text nor markup, spaces or
    /// look-alike characters there. Anything else is replaced by a minted id
    /// (the caller's choice, not an error: the header is advisory).
    pub fn from_client(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty() && raw.len() <= MAX_ID_LEN && raw.chars().all(is_id_char);
        ok.then(|| Self(raw.to_owned()))
    }

    /// Accepts an id that is 1 to [`MAX_CORRELATION_ID_LEN`] visible ASCII
    /// characters: API Gateway's request ids (base64, with `=`), and every id
    /// already written to a message or an item, so readers never turn an old
    /// message into poison.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_CORRELATION_ID_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }

    /// A fresh random id, for requests that came with none.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CorrelationId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
            .ok_or_else(|| "correlation id must be 1-128 visible ASCII characters".into())
    }
}

impl From<CorrelationId> for String {
    fn from(id: CorrelationId) -> String {
        id.0
    }
}

/// Why a message body could not be read. Both variants are permanent: the same
/// bytes will fail the same way on every delivery.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The body is not a valid message of any version we know the shape of.
    #[error("malformed message body")]
    Malformed(#[source] serde_json::Error),
    /// The body declares a schema version this reader does not support.
    #[error("unsupported schemaVersion {0}")]
    UnsupportedVersion(u64),
}

/// Order message v1: the body of every message on the orders queue.
///
/// ```json
/// {"schemaVersion":1,"orderId":"23214","correlationId":"c0ffee",
///  "acceptedAt":"2026-11-24T10:00:00Z",
///  "order":{"customerName":"…","shippingAddress":"…",
///           "items":[{"itemId":"item456","quantity":22}]}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    /// Always [`ORDER_MESSAGE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The order's id (client-chosen or minted by intake).
    pub order_id: OrderId,
    /// The request's correlation id.
    pub correlation_id: CorrelationId,
    /// When intake accepted the order.
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    /// The validated order content.
    pub order: Order,
}

/// Reads only the version, so an unknown version is told apart from a malformed body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionProbe {
    schema_version: u64,
}

impl OrderMessage {
    /// Builds a v1 message.
    pub fn new(
        order_id: OrderId,
        correlation_id: CorrelationId,
        accepted_at: OffsetDateTime,
        order: Order,
    ) -> Self {
        Self {
            schema_version: ORDER_MESSAGE_SCHEMA_VERSION,
            order_id,
            correlation_id,
            accepted_at,
            order,
        }
    }

    /// Serialises the message as its JSON body.
    pub fn to_body(&self) -> String {
        // Plain strings, integers and a formatted timestamp: this cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a JSON body, tolerating unknown fields but not unknown versions.
    pub fn from_body(body: &str) -> Result<Self, ContractError> {
        let probe: VersionProbe = serde_json::from_str(body).map_err(ContractError::Malformed)?;
        if probe.schema_version != u64::from(ORDER_MESSAGE_SCHEMA_VERSION) {
            return Err(ContractError::UnsupportedVersion(probe.schema_version));
        }
        serde_json::from_str(body).map_err(ContractError::Malformed)
    }

    /// The content hash of this message's order.
    pub fn content_hash(&self) -> ContentHash {
        ContentHash::of(&self.order_id, &self.order)
    }
}

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
    #[schemars(with = "u64", range(max = crate::domain::MAX_UNIT_PRICE_MINOR))]
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

/// OrderCreated event v1, published once an order is durably stored.
///
/// It deliberately carries no personal data (name, address, e-mail): consumers
/// that need them read the order from the table under their own grant. `eventId`
/// is deterministic per order, so consumers can drop the rare duplicate delivery
/// (stream retries publish at least once).
// The schema attributes feed `crate::schema` (the published JSON Schema);
// the doc comments become its descriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    /// Always `OrderCreated`.
    #[schemars(extend("const" = ORDER_CREATED_EVENT_TYPE))]
    pub event_type: String,
    /// Always 1 in this version; readers refuse a version they do not know.
    #[schemars(extend("const" = ORDER_CREATED_SCHEMA_VERSION))]
    pub schema_version: u32,
    /// `OrderCreated:<orderId>`: stable across redeliveries; the deduplication key.
    #[schemars(extend("pattern" = crate::domain::id_pattern("OrderCreated:")))]
    pub event_id: String,
    /// When the order was stored.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub occurred_at: OffsetDateTime,
    /// The request's correlation id.
    pub correlation_id: CorrelationId,
    /// The order.
    pub order_id: OrderId,
    /// When intake accepted it.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub accepted_at: OffsetDateTime,
    /// Number of lines.
    #[schemars(range(min = 1, max = crate::domain::MAX_ITEMS))]
    pub line_count: usize,
    /// Total units over all lines.
    #[schemars(range(min = 1))]
    pub unit_count: u64,
    /// The lines.
    #[schemars(length(min = 1, max = crate::domain::MAX_ITEMS))]
    pub items: Vec<OrderCreatedItem>,
    /// Currency of the prices, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Currency")]
    pub currency: Option<Currency>,
    /// Order total in minor units, when every line has a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64")]
    pub total: Option<u64>,
}

impl OrderCreated {
    /// Builds the v1 event for a stored order.
    pub fn new(
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
            event_id: format!("{ORDER_CREATED_EVENT_TYPE}:{order_id}"),
            occurred_at,
            correlation_id,
            order_id,
            accepted_at,
            line_count: order.items().len(),
            unit_count: order.unit_count(),
            items,
            currency,
            total,
        }
    }

    /// The JSON form sent to queue and HTTP subscribers.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The readable text sent to e-mail subscribers: what was ordered (each
    /// line with its quantity and unit price when given, the total with its
    /// currency), when it was accepted, and the `orders-ops` command that shows
    /// the customer's details to someone with access to the table. It carries
    /// no name, address or e-mail itself: SNS e-mail is unencrypted and lands
    /// in mailboxes the stack does not control. Plain printable ASCII (ids
    /// and correlation ids are ASCII by construction), lines under 78
    /// characters for ordinary orders, columns aligned for a fixed-width
    /// plain-text client; the golden files in `tests/golden/` pin the layout.
    pub fn email_text(&self) -> String {
        use std::fmt::Write as _;
        let money = |minor: u64| match &self.currency {
            Some(currency) => crate::domain::Money::from_minor(minor).display_with(currency),
            // A price without a currency cannot pass validation; say what the
            // number is rather than inventing a unit.
            None => format!("{minor} (minor units)"),
        };
        let accepted = self
            .accepted_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let plural = |n: u64, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        let mut text = String::new();
        // `write!` into a String cannot fail.
        let _ = write!(
            text,
            "New order {}\n\nAccepted:       {accepted}\nCorrelation id: {}\n\nItems ({}, {}):\n",
            self.order_id,
            self.correlation_id,
            plural(self.line_count as u64, "line", "lines"),
            plural(self.unit_count, "unit", "units"),
        );
        // Columns: item id, quantity, then (when priced) unit price and line
        // total, each right-aligned so the amounts line up.
        let rows: Vec<[String; 4]> = self
            .items
            .iter()
            .map(|item| {
                let quantity = item.quantity.get();
                let (price, line_total) =
                    item.unit_price.map_or((String::new(), String::new()), |p| {
                        (money(p), money(p.saturating_mul(u64::from(quantity))))
                    });
                [
                    item.item_id.as_str().to_owned(),
                    quantity.to_string(),
                    price,
                    line_total,
                ]
            })
            .collect();
        let width = |col: usize| rows.iter().map(|r| r[col].len()).max().unwrap_or(0);
        let (w_id, w_qty, w_price, w_total) = (width(0), width(1), width(2), width(3));
        for [id, quantity, price, line_total] in &rows {
            let _ = write!(text, "  {id:<w_id$}  x {quantity:>w_qty$}");
            if !price.is_empty() {
                let _ = write!(text, "  at {price:>w_price$} = {line_total:>w_total$}");
            }
            text.push('\n');
        }
        match self.total {
            Some(total) => {
                let _ = write!(text, "\nTotal: {}\n", money(total));
            }
            None if self.items.iter().any(|i| i.unit_price.is_some()) => {
                text.push_str("\nTotal: not known (some lines have no unit price)\n");
            }
            None => text.push_str("\nTotal: not known (no unit prices were given)\n"),
        }
        let _ = write!(
            text,
            "\nThe customer's name, address and e-mail are not in this message.\n\
             With access to the orders table, show them with:\n\n    \
             orders-ops order show {} --show-personal-data\n",
            self.order_id
        );
        text
    }

    /// The e-mail subject line.
    pub fn email_subject(&self) -> String {
        // SNS subjects are limited to 100 characters; order ids are at most 64.
        format!("New order {}", self.order_id)
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

/// Reads only the type and version of an event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventProbe {
    event_type: String,
    schema_version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderRequest;
    use crate::test_support::legacy_order;
    use serde_json::json;

    fn message() -> OrderMessage {
        let req = OrderRequest::from_json(&legacy_order("23214")).unwrap();
        OrderMessage::new(
            req.order_id.unwrap(),
            CorrelationId::parse("corr-1").unwrap(),
            time::macros::datetime!(2026-11-24 10:00 UTC),
            req.order,
        )
    }

    #[test]
    fn order_message_round_trips_and_has_the_documented_shape() {
        let m = message();
        let body = m.to_body();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["schemaVersion"], 1);
        assert_eq!(v["orderId"], "23214");
        assert_eq!(v["correlationId"], "corr-1");
        assert_eq!(v["acceptedAt"], "2026-11-24T10:00:00Z");
        assert_eq!(v["order"]["items"][0]["quantity"], 22);
        assert_eq!(OrderMessage::from_body(&body).unwrap(), m);
    }

    #[test]
    fn readers_ignore_unknown_fields() {
        let mut v: serde_json::Value = serde_json::from_str(&message().to_body()).unwrap();
        v["futureField"] = json!("x");
        v["order"]["giftWrap"] = json!(true);
        assert_eq!(OrderMessage::from_body(&v.to_string()).unwrap(), message());
    }

    #[test]
    fn unknown_versions_and_garbage_are_rejected_distinctly() {
        let mut v: serde_json::Value = serde_json::from_str(&message().to_body()).unwrap();
        v["schemaVersion"] = json!(2);
        assert!(matches!(
            OrderMessage::from_body(&v.to_string()),
            Err(ContractError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            OrderMessage::from_body("not json"),
            Err(ContractError::Malformed(_))
        ));
        v["schemaVersion"] = json!(1);
        v["order"]["items"] = json!([]);
        assert!(matches!(
            OrderMessage::from_body(&v.to_string()),
            Err(ContractError::Malformed(_))
        ));
    }

    #[test]
    fn order_created_has_no_personal_data_and_a_readable_email() {
        let m = message();
        let e = OrderCreated::new(
            m.order_id.clone(),
            m.correlation_id.clone(),
            m.accepted_at,
            m.accepted_at,
            &m.order,
        );
        let json = e.to_json();
        assert!(!json.contains("Harry") && !json.contains("Nguyen"));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["eventType"], "OrderCreated");
        assert_eq!(v["schemaVersion"], 1);
        assert_eq!(v["eventId"], "OrderCreated:23214");
        assert_eq!(v["unitCount"], 22);
        let text = e.email_text();
        assert!(text.contains("23214") && text.contains("item456  x 22"));
        assert!(!text.contains('{'));
        let back: OrderCreated = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn given_client_correlation_ids_then_only_short_plain_ones_are_kept_and_readers_stay_lenient() {
        for good in ["abc-123", "A.b_c:9", &"x".repeat(64)] {
            assert!(CorrelationId::from_client(good).is_some(), "{good}");
        }
        for bad in ["", "a b", "<b>", "a=b", "café", &"x".repeat(65)] {
            assert!(CorrelationId::from_client(bad).is_none(), "{bad}");
        }
        // Ids already in messages and items (API Gateway's base64 ids) still read.
        let old: CorrelationId = serde_json::from_value(json!("JbN6kiBvIAMEYxw=")).unwrap();
        assert_eq!(old.as_str(), "JbN6kiBvIAMEYxw=");
    }

    #[test]
    fn given_a_message_with_an_out_of_range_price_then_it_is_poison_not_a_panic() {
        let mut body: serde_json::Value = serde_json::from_str(&message().to_body()).unwrap();
        body["order"]["currency"] = json!("EUR");
        body["order"]["items"][0]["unitPrice"] = json!(u64::MAX);
        assert!(matches!(
            OrderMessage::from_body(&body.to_string()),
            Err(ContractError::Malformed(_))
        ));
    }

    #[test]
    fn given_an_event_delivered_raw_or_in_the_sns_envelope_then_both_read_the_same() {
        let event = OrderCreated::new(
            message().order_id,
            CorrelationId::parse("corr-1").unwrap(),
            time::macros::datetime!(2026-11-24 10:00 UTC),
            time::macros::datetime!(2026-11-24 10:00:01 UTC),
            &message().order,
        );
        let raw = event.to_json();
        let envelope = json!({
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:eu-west-1:1:order-events",
            "Message": raw,
            "MessageAttributes": {"eventType": {"Type": "String", "Value": "OrderCreated"}},
        })
        .to_string();

        let from_raw = OrderCreated::from_sqs_body(&raw).unwrap();
        let from_envelope = OrderCreated::from_sqs_body(&envelope).unwrap();

        assert_eq!(from_raw, event);
        assert_eq!(from_envelope, event);
        assert_eq!(from_raw.dedup_key(), "OrderCreated:23214");
    }

    #[test]
    fn given_an_unknown_version_or_type_or_garbage_then_the_reader_refuses_it() {
        let mut v: serde_json::Value = serde_json::from_str(
            &OrderCreated::new(
                message().order_id,
                CorrelationId::parse("corr-1").unwrap(),
                time::macros::datetime!(2026-11-24 10:00 UTC),
                time::macros::datetime!(2026-11-24 10:00:01 UTC),
                &message().order,
            )
            .to_json(),
        )
        .unwrap();
        v["schemaVersion"] = json!(2);
        assert!(matches!(
            OrderCreated::from_sqs_body(&v.to_string()),
            Err(ContractError::UnsupportedVersion(2))
        ));
        v["schemaVersion"] = json!(1);
        v["eventType"] = json!("OrderShipped");
        assert!(matches!(
            OrderCreated::from_sqs_body(&v.to_string()),
            Err(ContractError::Malformed(_))
        ));
        assert!(OrderCreated::from_sqs_body("not json").is_err());
    }
}
