//! The admin-digest function of the order pipeline: the admin's e-mail,
//! within SNS's e-mail quota at any order rate.
//!
//! Its own SQS standard queue is subscribed to the order-events topic (raw
//! delivery, filtered on `eventType`); its event source mapping gathers up
//! to `ADMIN_DIGEST_BATCH_SIZE` events for up to
//! `ADMIN_DIGEST_BATCHING_WINDOW_SECS` and runs at most
//! `ADMIN_DIGEST_MAX_CONCURRENCY` invocations at once (`orders_adapters::settings`).
//! Each batch becomes one e-mail to the admin topic, which holds the
//! admin's e-mail subscription: the order's detail when the batch holds one
//! new order, otherwise a digest ([`email`]). Repeats are dropped by
//! `eventId` with the consumer kit's idempotency store, so each order is in
//! exactly one e-mail. Sends are paced ([`orders_adapters::pacing`]) to one per second per
//! invocation: the admin gets at most two e-mails a second however many
//! orders arrive, where SNS suspends an e-mail subscription above ten
//! (<https://docs.aws.amazon.com/sns/latest/dg/sns-email-notifications.html>).
//!
//! `main.rs` only wires [`Config::from_env`] and [`Deps::from_config`] to
//! [`handle`]; tests and the local runner call [`handle`] with [`Deps::new`]
//! over any [`AdminMailbox`] and
//! [`order_consumer::idempotency::ProcessedEvents`].

mod config;
pub mod email;
mod handler;
mod mailbox;
mod outcome;

// Test support lives under tests/, so no file outside it holds test code.
#[cfg(test)]
#[path = "tests/fixtures.rs"]
mod fixtures;

pub use config::{Config, Deps, ENV_VARS};
pub use handler::handle;
pub use mailbox::{AdminMailbox, SnsAdminMailbox};
pub use outcome::{FailReason, Outcome};
