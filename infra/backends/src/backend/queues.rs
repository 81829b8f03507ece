//! Queues: SQS standard and FIFO, as the runner uses them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orders_adapters::ports::{DeadLetterQueue, OrderQueue, VisibilityDelay};

use super::*;

/// Where a queue's messages go after too many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    /// URL of the dead-letter queue (FIFO for a FIFO source).
    pub dlq_url: String,
    /// Receives after which a message moves to the DLQ.
    pub max_receive_count: u32,
}

/// What to create. A FIFO queue's name ends in `.fifo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Queue name.
    pub name: String,
    /// FIFO (strict order per group, deduplication) or standard.
    pub fifo: bool,
    /// How long a received message stays invisible.
    pub visibility_timeout: Duration,
    /// Optional redrive to a dead-letter queue.
    pub redrive: Option<Redrive>,
}

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendMessage {
    /// Body.
    pub body: String,
    /// FIFO `MessageGroupId` (required on FIFO queues).
    pub group_id: Option<String>,
    /// FIFO `MessageDeduplicationId` (required on FIFO queues without content-based dedup).
    pub dedup_id: Option<String>,
    /// String message attributes.
    pub message_attributes: HashMap<String, String>,
    /// The X-Ray trace header, sent as the `AWSTraceHeader` message *system*
    /// attribute: the only one `SendMessage` accepts in
    /// `MessageSystemAttributes`, so it is a field of its own rather than a map
    /// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html>).
    /// Received back among the system attributes, where Lambda finds it
    /// (<https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sqs.html>).
    pub trace_header: Option<String>,
}

/// A received message, with SQS's system attributes by their SQS names
/// (`ApproximateReceiveCount`, `SentTimestamp`, `ApproximateFirstReceiveTimestamp`,
/// `SenderId`, `AWSTraceHeader` when sent with one, and on FIFO queues
/// `MessageGroupId`, `MessageDeduplicationId`, `SequenceNumber`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The message id.
    pub message_id: String,
    /// Handle for delete / change visibility of this receive.
    pub receipt_handle: String,
    /// Body.
    pub body: String,
    /// System attributes.
    pub attributes: HashMap<String, String>,
    /// String message attributes.
    pub message_attributes: HashMap<String, String>,
}

impl ReceivedMessage {
    /// `ApproximateReceiveCount`, 0 when absent.
    pub fn receive_count(&self) -> u32 {
        self.attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
}

/// Approximate depth of a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// `ApproximateNumberOfMessages`.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`.
    pub in_flight: u64,
}

/// SQS: the queues of the pipeline.
#[async_trait]
pub trait QueueService: Send + Sync {
    /// Creates the queue if it does not exist (with these attributes) and returns its URL.
    async fn create_queue(&self, spec: &QueueSpec) -> BackendResult<String>;
    /// Sends one message; returns its message id.
    async fn send(&self, queue_url: &str, message: &SendMessage) -> BackendResult<String>;
    /// Receives up to `max` (1–10) messages, waiting up to `wait` for the first.
    async fn receive(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
    ) -> BackendResult<Vec<ReceivedMessage>>;
    /// Deletes a received message.
    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> BackendResult<()>;
    /// Changes a received message's remaining visibility timeout.
    async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> BackendResult<()>;
    /// Visible and in-flight message counts.
    async fn depth(&self, queue_url: &str) -> BackendResult<QueueDepth>;
    /// The intake port over this queue (routing and dedup as on SQS FIFO).
    fn order_queue(&self, queue_url: &str) -> Arc<dyn OrderQueue>;
    /// The worker's or notifier's dead-letter port over this queue.
    fn dead_letter_queue(&self, queue_url: &str) -> Arc<dyn DeadLetterQueue>;
    /// The worker's backoff port over this queue (`ChangeMessageVisibility`
    /// of the messages received from it).
    fn visibility_delay(&self, queue_url: &str) -> Arc<dyn VisibilityDelay>;
}
