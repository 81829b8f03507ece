//! The services the local pipeline runs on, as traits with two implementations:
//! the embedded emulators (default, in process) and the AWS SDK (any
//! AWS-compatible endpoint: moto server, LocalStack or a real account).
//!
//! The contract suite in `tests/` runs one set of cases against both, so the
//! emulators keep AWS's semantics where the pipeline depends on them. These
//! traits are wider than the handlers' ports (`adapters::ports`): the runner also
//! receives, deletes and redrives messages and reads the table's stream, as
//! Lambda's event source mappings do.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use adapters::ports::{
    BoxError, DeadLetterQueue, EventPublisher, OrderQueue, OrderReader, OrderStore, VisibilityDelay,
};
use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;

/// A backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The named queue, table, topic or receipt does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The call was refused or could not be made.
    #[error("backend call failed")]
    Call(#[source] BoxError),
}

/// Result of a backend call.
pub type BackendResult<T> = Result<T, BackendError>;

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

/// Reads a table's stream forward, as Lambda's poller does.
#[async_trait]
pub trait StreamReader: Send {
    /// The next records (at most `max`) after the last ones returned, in
    /// order per item; empty when nothing new has arrived.
    async fn next_records(&mut self, max: usize) -> BackendResult<Vec<EventRecord>>;

    /// Waits until records may be available or `timeout` passes, so a poller
    /// does not spin. The default sleeps for the whole timeout, which is what
    /// polling `GetRecords` amounts to; the embedded stream wakes on a write.
    async fn wait_for_records(&mut self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }

    /// The shard the last returned records came from, for the on-failure
    /// record's `DDBStreamBatchInfo.shardId`.
    fn shard_id(&self) -> String {
        "shardId-00000000000000000000-00000000".to_owned()
    }

    /// Marks every record this reader returned, up to and including the one
    /// with `sequence_number`, as done, and keeps that position where the
    /// backend keeps checkpoints, so a reader opened later
    /// ([`TableService::open_stream_resuming`]) starts after it.
    ///
    /// An error means the position was not saved; the reader keeps it and
    /// saves it again with the next call, so a caller logs the error and
    /// goes on (at worst a restart reads those records again: at least
    /// once, never skipped). The default keeps nothing: a stream that dies
    /// with the process (the embedded one) has nothing to resume.
    async fn checkpoint(&mut self, sequence_number: &str) -> BackendResult<()> {
        let _ = sequence_number;
        Ok(())
    }
}

/// Where a stream reader keeps its checkpoints between runs: per shard, the
/// sequence number of the last record done, as the Kinesis Client Library's
/// lease table does. One store serves the readers of one table's stream.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The checkpoints saved for `stream_arn`, shard id → sequence number.
    /// Those of another stream (a table deleted and created again under the
    /// same name has a new stream) are left out.
    async fn load(&self, stream_arn: &str) -> BackendResult<HashMap<String, String>>;
    /// Saves that every record of `shard_id` up to and including
    /// `sequence_number` is done.
    async fn save(
        &self,
        stream_arn: &str,
        shard_id: &str,
        sequence_number: &str,
    ) -> BackendResult<()>;
}

/// One shard of a stream, as `DescribeStream` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard id.
    pub shard_id: String,
    /// The shard this one split from, if any.
    pub parent_shard_id: Option<String>,
    /// Whether the shard is closed (its `SequenceNumberRange` has an
    /// `EndingSequenceNumber`): nothing is added to it any more, and reading
    /// it ends when `GetRecords` answers no next iterator.
    pub closed: bool,
}

/// One page of `DescribeStream`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardPage {
    /// The shards on this page.
    pub shards: Vec<ShardInfo>,
    /// `LastEvaluatedShardId`: more shards follow; pass it as the exclusive
    /// start of the next page.
    pub last_evaluated_shard_id: Option<String>,
}

/// One `GetRecords` answer.
#[derive(Debug, Clone, Default)]
pub struct RecordPage {
    /// The records, in shard order.
    pub records: Vec<EventRecord>,
    /// `NextShardIterator`; `None` once a closed shard is read to its end.
    pub next_iterator: Option<String>,
}

/// The DynamoDB Streams calls, one method per API call, for a reader that
/// must know exactly what it read (the notifier DLQ replay): which shards
/// exist, and each one's records from its trim horizon. The reading logic
/// (pagination, closed and open shards) is written once over this trait, so
/// it is tested on a fake with split shards and trimmed records.
#[async_trait]
pub trait StreamShards: Send + Sync {
    /// `DescribeStream`, one page, starting after `exclusive_start_shard_id`.
    async fn describe_stream(
        &self,
        exclusive_start_shard_id: Option<&str>,
    ) -> BackendResult<ShardPage>;
    /// `GetShardIterator` at `TRIM_HORIZON`: the oldest record still kept.
    async fn trim_horizon(&self, shard_id: &str) -> BackendResult<String>;
    /// `GetRecords`: up to `limit` records from `iterator`.
    async fn get_records(&self, iterator: &str, limit: usize) -> BackendResult<RecordPage>;
}

/// DynamoDB: the orders table (partition key `orderId`) and its stream
/// (`NEW_AND_OLD_IMAGES`).
#[async_trait]
pub trait TableService: Send + Sync {
    /// Creates the table with its stream if it does not exist.
    async fn create_table(&self, table: &str) -> BackendResult<()>;
    /// The worker's port over this table.
    fn order_store(&self, table: &str) -> Arc<dyn OrderStore>;
    /// The status function's port over this table (strongly consistent reads).
    fn order_reader(&self, table: &str) -> Arc<dyn OrderReader>;
    /// Reads an item by order id (strongly consistent).
    async fn get(&self, table: &str, order_id: &str) -> BackendResult<Option<serde_dynamo::Item>>;
    /// Writes an item unconditionally (an update shows as MODIFY on the stream).
    async fn put(&self, table: &str, item: serde_dynamo::Item) -> BackendResult<()>;
    /// Deletes an item (REMOVE on the stream).
    async fn delete(&self, table: &str, order_id: &str) -> BackendResult<()>;
    /// Opens a reader at the start of the stream (`TRIM_HORIZON`).
    async fn open_stream(&self, table: &str) -> BackendResult<Box<dyn StreamReader>>;
    /// Creates `name`, the table that keeps the checkpoints of a stream
    /// mapping (key `shardId`), if it does not exist. The default creates
    /// nothing, for a backend whose stream does not outlive the process.
    async fn create_checkpoint_table(&self, name: &str) -> BackendResult<()> {
        let _ = name;
        Ok(())
    }
    /// Opens a reader that resumes where the checkpoints kept in
    /// `checkpoint_table` say (each shard after its checkpoint, a shard
    /// without one at `TRIM_HORIZON`) and keeps new ones there
    /// ([`StreamReader::checkpoint`]). The default is
    /// [`TableService::open_stream`]: a stream that dies with the process
    /// starts empty with it.
    async fn open_stream_resuming(
        &self,
        table: &str,
        checkpoint_table: &str,
    ) -> BackendResult<Box<dyn StreamReader>> {
        let _ = checkpoint_table;
        self.open_stream(table).await
    }
    /// The table's latest stream, call by call (see [`StreamShards`]).
    async fn stream_shards(&self, table: &str) -> BackendResult<Box<dyn StreamShards>>;
}

/// A String-structure message to publish as it is (no `MessageStructure`):
/// every protocol receives `message` unchanged, e-mail with `subject`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextMessage {
    /// The message (plain text, or JSON for machines).
    pub message: String,
    /// `Subject`: the e-mail's subject line (and the envelope's `Subject`).
    pub subject: Option<String>,
    /// String message attributes, delivered and filtered on as SNS does
    /// (at most ten reach a raw-delivery queue).
    pub attributes: HashMap<String, String>,
}

/// Where a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionEndpoint {
    /// An SQS queue, by URL: SNS's JSON envelope, or with raw delivery the
    /// bare message.
    Queue {
        /// The queue's URL.
        url: String,
        /// `RawMessageDelivery`.
        raw_delivery: bool,
    },
    /// An e-mail address. Embedded: each notification becomes a file in the
    /// outbox. AWS: a real e-mail subscription (pending until the recipient
    /// confirms it).
    Email {
        /// The recipient.
        address: String,
    },
}

/// A subscription to make: where it delivers and what it lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// Where it delivers.
    pub endpoint: SubscriptionEndpoint,
    /// `FilterPolicy`: JSON, on message attributes; `None` lets everything
    /// through.
    pub filter_policy: Option<String>,
}

impl SubscriptionSpec {
    /// A queue subscription.
    pub fn queue(url: &str, filter_policy: Option<&str>, raw_delivery: bool) -> Self {
        Self {
            endpoint: SubscriptionEndpoint::Queue {
                url: url.to_owned(),
                raw_delivery,
            },
            filter_policy: filter_policy.map(str::to_owned),
        }
    }

    /// An e-mail subscription.
    pub fn email(address: &str, filter_policy: Option<&str>) -> Self {
        Self {
            endpoint: SubscriptionEndpoint::Email {
                address: address.to_owned(),
            },
            filter_policy: filter_policy.map(str::to_owned),
        }
    }

    /// The subscription attributes that say so, by their SNS names, as
    /// `Subscribe` and `SetSubscriptionAttributes` take them: `FilterPolicy`
    /// when there is one, `RawMessageDelivery` for a queue
    /// (<https://docs.aws.amazon.com/sns/latest/api/API_SetSubscriptionAttributes.html>).
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut attributes = Vec::new();
        if let Some(policy) = &self.filter_policy {
            attributes.push(("FilterPolicy", policy.clone()));
        }
        if let SubscriptionEndpoint::Queue { raw_delivery, .. } = self.endpoint {
            attributes.push(("RawMessageDelivery", raw_delivery.to_string()));
        }
        attributes
    }
}

/// SNS: the order-events topic and its subscriptions.
#[async_trait]
pub trait TopicService: Send + Sync {
    /// Creates the topic if it does not exist and returns its ARN.
    async fn create_topic(&self, name: &str) -> BackendResult<String>;
    /// Subscribes an endpoint (`Subscribe`). Returns the subscription ARN.
    async fn subscribe(&self, topic_arn: &str, spec: &SubscriptionSpec) -> BackendResult<String>;
    /// Subscribes a queue, with an optional filter policy (JSON, on message
    /// attributes) and raw message delivery on or off. Returns the subscription ARN.
    async fn subscribe_queue(
        &self,
        topic_arn: &str,
        queue_url: &str,
        filter_policy: Option<&str>,
        raw_delivery: bool,
    ) -> BackendResult<String> {
        let spec = SubscriptionSpec::queue(queue_url, filter_policy, raw_delivery);
        self.subscribe(topic_arn, &spec).await
    }
    /// The notifier's port over this topic.
    fn event_publisher(&self, topic_arn: &str) -> Arc<dyn EventPublisher>;

    /// Publishes one String-structure message (`Publish` with `Message`,
    /// optional `Subject` and attributes, no `MessageStructure`), such as a
    /// plain-text e-mail to an admin topic. Returns the message id.
    async fn publish_text(&self, topic_arn: &str, message: &TextMessage) -> BackendResult<String>;

    /// Gives a subscription its own dead-letter queue (`RedrivePolicy`):
    /// what SNS cannot deliver to the endpoint goes there instead of being
    /// dropped (<https://docs.aws.amazon.com/sns/latest/dg/sns-configure-dead-letter-queue.html>).
    /// AWS: the queue's policy is set to let the subscription's topic send.
    async fn set_dead_letter_queue(
        &self,
        subscription_arn: &str,
        dlq_url: &str,
    ) -> BackendResult<()>;

    /// Subscribes an e-mail address, with an optional filter policy (see
    /// [`SubscriptionEndpoint::Email`]). Returns the subscription ARN.
    async fn subscribe_email(
        &self,
        topic_arn: &str,
        address: &str,
        filter_policy: Option<&str>,
    ) -> BackendResult<String> {
        let spec = SubscriptionSpec::email(address, filter_policy);
        self.subscribe(topic_arn, &spec).await
    }

    /// Waits until every notification published so far has been delivered
    /// where this backend delivers after the publish returns (embedded: the
    /// outbox files). AWS: nothing to wait for here, delivery is SNS's.
    async fn delivered(&self) {}

    /// Notifications published but not yet delivered by this process (see
    /// [`TopicService::delivered`]); they are lost if it exits now.
    fn undelivered(&self) -> u64 {
        0
    }

    /// The ARNs of the e-mail subscriptions SNS has suspended (sent more
    /// than ten messages in one second: `PendingConfirmation`, nothing
    /// delivered any more), for the runner to report. Embedded only; on AWS
    /// SNS keeps that state and the default reports none.
    fn suspended_subscriptions(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The three services, of one kind (all embedded or all AWS).
#[derive(Clone)]
pub struct Backends {
    /// SQS.
    pub queues: Arc<dyn QueueService>,
    /// DynamoDB and its stream.
    pub tables: Arc<dyn TableService>,
    /// SNS.
    pub topics: Arc<dyn TopicService>,
}
