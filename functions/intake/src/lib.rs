//! The intake function of the order pipeline: API Gateway (REST or HTTP API)
//! `POST /orders` → SQS FIFO.
//!
//! It parses and validates the order at the edge, settles the order id (the
//! body's `orderID`, else the `Idempotency-Key` header, else a minted UUIDv7),
//! enqueues one [`orders_domain::contract::OrderMessage`] routed by
//! [`GroupStrategy`] and deduplicated by content hash, and answers `202
//! Accepted`. Every other outcome is an RFC 9457 problem answer.
//!
//! `main.rs` only wires [`Config::from_env`] and [`Deps::from_config`] to
//! [`handle`]; tests and the local runner call [`handle`] with [`Deps::new`]
//! over any [`orders_adapters::ports::OrderQueue`].

mod config;
mod error;
mod handler;
mod wire;

pub use config::{Config, Deps, ENV_VARS, GroupStrategy};
pub use handler::handle;
pub use orders_http::PROBLEM_CONTENT_TYPE;
pub use wire::{
    ACCEPTED_STATUS, CORRELATION_ID_HEADER, IDEMPOTENCY_KEY_HEADER, MAX_BODY_BYTES, order_location,
};
