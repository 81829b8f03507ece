//! The notifier: reads the orders table's DynamoDB stream and publishes one
//! `OrderCreated` event to the order-events SNS topic per newly stored order.
//!
//! `main.rs` only wires [`Config::from_env`] and [`Deps::from_config`] to
//! [`handle`]; tests and the local runner call [`handle`] with [`Deps::new`]
//! over any [`orders_adapters::ports::EventPublisher`]. How records are published,
//! retried and checkpointed is told in the handler's module; the outcomes
//! and their one mapping to the partial batch response in [`Outcome`] and
//! [`batch_response`].

mod ahead;
mod backoff;
mod config;
pub mod dead_letter;
mod handler;
mod outcome;

pub use config::{Config, Deps, ENV_VARS};
pub use handler::handle;
pub use outcome::{Outcome, batch_response};
