//! Order message v2: what intake puts on the orders FIFO queue and the
//! worker reads. Version 2 added the order's owner.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ContractError, CorrelationId, ORDER_MESSAGE_SCHEMA_VERSION};
use crate::model::{ContentHash, Order, OrderId, OwnerKey};

/// Order message v2: the body of every message on the orders queue.
///
/// ```json
/// {"schemaVersion":2,"owner":"anonymous","orderId":"23214","correlationId":"c0ffee",
///  "acceptedAt":"2026-11-24T10:00:00Z",
///  "order":{"customerName":"…","shippingAddress":"…",
///           "items":[{"itemId":"item456","quantity":22}]}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderMessage {
    /// Always [`ORDER_MESSAGE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Who posted the order, as an opaque key: with the id, the order's identity.
    pub owner: OwnerKey,
    /// The order's id (client-chosen or minted by intake), unique per owner.
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
    /// Builds a v2 message.
    pub fn new(
        owner: OwnerKey,
        order_id: OrderId,
        correlation_id: CorrelationId,
        accepted_at: OffsetDateTime,
        order: Order,
    ) -> Self {
        Self {
            schema_version: ORDER_MESSAGE_SCHEMA_VERSION,
            owner,
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
        ContentHash::of(&self.owner, &self.order_id, &self.order)
    }
}
