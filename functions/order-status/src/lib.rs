//! The status function of the order pipeline: API Gateway (HTTP API or REST)
//! `GET /orders/{orderId}` → one strongly consistent read of the orders
//! table.
//!
//! A client that got `202 Accepted` follows its `Location` here and learns
//! what became of the order: `200` with the stored order's ids, status,
//! timestamps and items (never the customer's name, address or e-mail), or
//! `404` while it is not stored, with `Retry-After` while it may still be on
//! the queue ([`Absence`]). Every other outcome is an RFC 9457 problem answer
//! built by the same edge code as intake's ([`edge`]).
//!
//! `main.rs` only wires [`Config::from_env`] and [`Deps::from_config`] to
//! [`handle`]; tests and the local runner call [`handle`] with [`Deps::new`]
//! over any [`orders_adapters::ports::OrderReader`].

mod absence;
mod config;
mod error;
mod handler;
mod view;

pub use absence::{Absence, NOT_FOUND_RETRY_AFTER_SECS};
pub use config::{Config, Deps, ENV_VARS};
pub use error::{READ_RETRY_AFTER_SECS, StatusError};
pub use handler::{ORDER_ID_PARAMETER, handle};
pub use view::OrderView;
