//! The notifier: reads the orders table's DynamoDB stream and publishes one
//! `OrderCreated` event to the order-events SNS topic per newly stored order.
//!
//! `main.rs` only wires [`Config::from_env`] and [`Deps::from_config`] to
//! [`handle`]; tests and the local runner call [`handle`] with [`Deps::new`]
//! over any [`adapters::ports::EventPublisher`]. How records are published,
//! retried and checkpointed is told in the handler's module; the outcomes
//! and their one mapping to the partial batch response in [`Outcome`] and
//! [`batch_response`].

mod ahead;
mod backoff;
mod config;
pub mod dead_letter;
mod handler;
mod outcome;

use std::sync::Arc;

use adapters::ports::{DeadLetter, DeadLetterQueue, EventPublisher, PortError};

pub use ahead::AcceptedAhead;
pub use config::{Config, Deps, ENV_VARS};
pub use handler::handle;
pub use outcome::{Outcome, batch_response};

/// The dead-letter port of a replay: it refuses every message, so a record
/// that would be dead-lettered again is reported failed instead and its DLQ
/// message stays where it is (a replay must never move a message to itself).
struct ReplayDeadLetters;

#[async_trait::async_trait]
impl DeadLetterQueue for ReplayDeadLetters {
    async fn send(&self, _letter: &DeadLetter) -> Result<(), PortError> {
        Err(PortError::Permanent(
            "replaying the notifier DLQ: the record stays in it".into(),
        ))
    }
}

impl Deps {
    /// The dependencies of a notifier DLQ replay: `publisher`, and no
    /// dead-lettering (see [`ReplayDeadLetters`]).
    pub fn for_replay(publisher: Arc<dyn EventPublisher>) -> Self {
        Self::new(publisher, Arc::new(ReplayDeadLetters))
    }
}
