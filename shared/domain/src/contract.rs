//! Versioned message contracts other teams may consume.
//!
//! * [`OrderMessage`] (`schemaVersion: 2`): what intake puts on the orders FIFO
//!   queue and the worker reads.
//! * [`OrderCreated`] (`eventType: "OrderCreated"`, `schemaVersion: 2`): what the
//!   notifier publishes to the order-events SNS topic.
//!
//! Version 2 of both added the order's owner (an opaque key): an order's
//! identity is (owner, order id), so a reader that keyed on the id alone
//! would merge two callers' orders. That is a breaking change, hence the
//! bump; version 1 is read by no one.
//!
//! Compatibility rules: readers ignore unknown fields (so producers may add
//! optional fields within a version); a breaking change bumps `schemaVersion`,
//! and readers reject versions they do not know as poison rather than guessing.
//! Timestamps are RFC 3339 in UTC; money is integer minor units.
//!
//! One file per contract: [`CorrelationId`] (correlation.rs),
//! [`OrderMessage`] (order_message.rs), [`OrderCreated`] and the public
//! projection it carries (order_created.rs, with the reader of its SQS
//! deliveries, raw or in the SNS envelope).

mod correlation;
mod order_created;
mod order_message;

pub use correlation::CorrelationId;
pub use order_created::{OrderCreated, OrderCreatedItem, PublicOrder};
pub use order_message::OrderMessage;

/// The only order-message schema version this code reads and writes.
pub const ORDER_MESSAGE_SCHEMA_VERSION: u32 = 2;
/// The only OrderCreated schema version this code writes.
pub const ORDER_CREATED_SCHEMA_VERSION: u32 = 2;
/// The `eventType` of [`OrderCreated`], also sent as an SNS message attribute.
pub const ORDER_CREATED_EVENT_TYPE: &str = "OrderCreated";

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

#[cfg(test)]
mod tests;
