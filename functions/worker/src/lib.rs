//! The worker: reads order messages from the orders SQS FIFO queue and stores
//! each order in DynamoDB exactly once.
//!
//! `main.rs` only wires [`Config::from_env`] and [`Deps::from_config`] to
//! [`handle`]; tests and the local runner call [`handle`] with [`Deps::new`]
//! over any [`orders_adapters::ports::OrderStore`]. How records are stored,
//! dead-lettered and held back is told in the handler's module; which records
//! must keep their order in [`message_groups`]; the outcomes and their one
//! mapping to the partial batch response in [`Outcome`] and
//! [`batch_response`]; how long a failed record waits before it comes back
//! in [`backoff`].

pub mod backoff;
mod config;
mod handler;
mod outcome;

pub use config::{Config, Deps, ENV_VARS};
pub use handler::{handle, message_groups};
pub use outcome::{Outcome, batch_response};
