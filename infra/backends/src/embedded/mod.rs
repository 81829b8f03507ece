//! The embedded emulators: SQS, DynamoDB with Streams, SNS and SES, in process.

pub mod dynamodb;
pub mod ses;
pub mod sns;
pub mod sqs;

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::Backends;

/// The embedded SES account's maximum send rate, per second: the stack's
/// default `SesMaxSendRate`.
pub const CUSTOMER_MAX_SEND_RATE: f64 = 14.0;

/// Region named in every embedded ARN.
pub const EMBEDDED_REGION: &str = "us-east-1";

/// The concrete embedded services, for callers (tests, the exit summary) that
/// need more than the [`Backends`] traits, such as peeking at a queue.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// SQS.
    pub queues: sqs::EmbeddedQueues,
    /// DynamoDB and its stream.
    pub tables: dynamodb::EmbeddedTables,
    /// SNS.
    pub topics: sns::EmbeddedTopics,
    /// SES, writing the customers' e-mails into the outbox's `customers`
    /// folder.
    pub mail: ses::EmbeddedSes,
}

impl Embedded {
    /// Fresh, empty services. `time_scale` scales the FIFO deduplication
    /// window (1.0 = SQS's 5 minutes); the admin's e-mails go to files in
    /// `outbox_dir`, the customers' to `outbox_dir/customers`, sent at most
    /// at [`CUSTOMER_MAX_SEND_RATE`] a second.
    pub fn new(outbox_dir: PathBuf, time_scale: f64) -> Self {
        let queues = sqs::EmbeddedQueues::new(time_scale);
        let tables = dynamodb::EmbeddedTables::new(EMBEDDED_REGION);
        let mail = ses::EmbeddedSes::new(outbox_dir.join("customers"), CUSTOMER_MAX_SEND_RATE);
        let topics = sns::EmbeddedTopics::new(queues.clone(), outbox_dir, EMBEDDED_REGION);
        Self {
            queues,
            tables,
            topics,
            mail,
        }
    }

    /// The same services as trait objects.
    pub fn backends(&self) -> Backends {
        Backends {
            queues: Arc::new(self.queues.clone()),
            tables: Arc::new(self.tables.clone()),
            topics: Arc::new(self.topics.clone()),
            mail: Arc::new(self.mail.clone()),
        }
    }
}

impl Backends {
    /// Embedded emulators in real time, writing e-mails into `outbox_dir`.
    pub fn embedded(outbox_dir: PathBuf) -> Backends {
        Embedded::new(outbox_dir, 1.0).backends()
    }
}
