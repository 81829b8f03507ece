//! The services the local pipeline runs on, as traits with two implementations:
//! the embedded emulators (default, in process) and the AWS SDK (any
//! AWS-compatible endpoint: moto server, LocalStack or a real account).
//!
//! The contract suite in `tests/` runs one set of cases against both, so the
//! emulators keep AWS's semantics where the pipeline depends on them. These
//! traits are wider than the handlers' ports (`orders_adapters::ports`): the runner also
//! receives, deletes and redrives messages and reads the table's stream, as
//! Lambda's event source mappings do.
//!
//! One file per service: [`queues`], [`streams`], [`tables`], [`topics`],
//! [`mail`], and the [`error`] every call returns.

use std::sync::Arc;

mod error;
mod mail;
mod queues;
mod streams;
mod tables;
mod topics;

pub use error::*;
pub use mail::*;
pub use queues::*;
pub use streams::*;
pub use tables::*;
pub use topics::*;

/// The services, of one kind (all embedded or all AWS).
#[derive(Clone)]
pub struct Backends {
    /// SQS.
    pub queues: Arc<dyn QueueService>,
    /// DynamoDB and its stream.
    pub tables: Arc<dyn TableService>,
    /// SNS.
    pub topics: Arc<dyn TopicService>,
    /// SES (API v2).
    pub mail: Arc<dyn MailService>,
}
