//! The confirmation function of the order pipeline: the customer's order
//! confirmation, once per order, within the account's SES sending rate.
//!
//! Its own SQS standard queue is subscribed to the order-events topic (raw
//! delivery, filtered on `eventType`); its event source mapping runs at most
//! [`settings::MAX_CONCURRENCY`] invocations at once, each pacing its sends
//! to a share of the account's maximum send rate ([`settings::send_interval`]).
//! For each OrderCreated whose stored order has a `customerEmail` it sends
//! one e-mail through SES API v2 `SendEmail` ([`mailer`]), guarded by a claim
//! and a sent mark on the order's own item ([`store`]) so a re-post, a
//! redrive or a renotify sends nothing new. What SES refuses for good is
//! marked `FAILED` with a reason code and counted ([`metrics`]); what it
//! throttles backs off on the queue. See [`handler`] for the steps.
//!
//! `main.rs` only wires [`Config::from_env`](orders_adapters::config::FromVars::from_env)
//! and [`Deps::from_config`] to [`handle`]; tests and the local runner call
//! [`handle`] with [`Deps::new`] over any ports.

mod config;
pub mod handler;
pub mod mailer;
pub mod message;
pub mod metrics;
mod outcome;

pub mod settings;
pub mod store;

// Test support lives under tests/, so no file outside it holds test code.
#[cfg(test)]
#[path = "tests/fixtures.rs"]
mod fixtures;

pub use config::{
    CONFIRMATION_QUEUE_URL, Config, Deps, ENV_VARS, METRIC_NAMESPACE, ORDERS_API_URL,
    SES_CONFIGURATION_SET, SES_FROM_ADDRESS, SES_MAX_SEND_RATE,
};
pub use handler::handle;
pub use mailer::{CustomerMailer, SesCustomerMailer};
pub use outcome::{FailReason, Outcome};
pub use store::ConfirmationStore;
