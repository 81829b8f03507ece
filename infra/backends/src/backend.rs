//! The services the local pipeline runs on, as traits with two implementations:
//! the embedded emulators (default, in process) and the AWS SDK (any
//! AWS-compatible endpoint: moto server, LocalStack or a real account).
//!
//! The contract suite in `tests/` runs one set of cases against both, so the
//! emulators keep AWS's semantics where the pipeline depends on them. These
//! traits are wider than the handlers' ports (`orders_adapters::ports`): the runner also
//! receives, deletes and redrives messages and reads the table's stream, as
//! Lambda's event source mappings do.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use orders_adapters::ports::{
    BoxError, DeadLetterQueue, EventPublisher, OrderQueue, OrderReader, OrderStore, VisibilityDelay,
};
use time::OffsetDateTime;

/// A backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The named queue, table, topic or receipt does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The call was refused or could not be made.
    #[error("backend call failed")]
    Call(#[source] BoxError),
    /// The stream no longer keeps the records asked for: they were older
    /// than its 24-hour retention (`TrimmedDataAccessException`,
    /// <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html>).
    #[error("{0}: records trimmed from the stream")]
    Trimmed(String),
    /// A shard iterator was used more than 15 minutes after it was taken
    /// (`ExpiredIteratorException`); a fresh one reads on from the same
    /// position.
    #[error("{0}: shard iterator expired")]
    IteratorExpired(String),
    /// Another runner holds the lease on the stream this one asked to read.
    #[error(transparent)]
    LeaseHeld(LeaseHeld),
    /// This runner's lease on the stream was taken over after it went
    /// unrenewed: it must stop reading (another runner reads the stream now).
    #[error("runner {owner} lost its lease on the stream to another runner")]
    LeaseLost {
        /// This runner's owner id.
        owner: String,
    },
}

/// Who holds a stream's lease, as a runner refused it sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stream's lease is held by {owner} until {expires_at} unless renewed")]
pub struct LeaseHeld {
    /// The holder's owner id.
    pub owner: String,
    /// When the lease expires unless its holder renews it (RFC 3339, the
    /// holder's clock).
    pub expires_at: String,
}

/// Who asks for a stream's lease, and how long the lease lasts without a
/// renewal (see [`TableService::open_stream_resuming`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSpec {
    /// A unique id of the runner (the KCL's `workerIdentifier`); it is
    /// named to a second runner that is refused.
    pub owner: String,
    /// How long the lease holds without a renewal (the KCL's
    /// `failoverTimeMillis`); the holder renews it every third of it.
    pub duration: Duration,
}

impl LeaseSpec {
    /// The KCL's default `failoverTimeMillis`: "the number of milliseconds
    /// that must pass before you can consider a lease owner to have failed",
    /// 10,000 (<https://docs.aws.amazon.com/streams/latest/dev/kcl-configuration.html>).
    pub const KCL_FAILOVER_TIME: Duration = Duration::from_secs(10);
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

    /// The gaps the stream trimmed before this reader could read them,
    /// found since the last call, in the order found; each comes before the
    /// records returned after it. A caller reports each one (the notifier
    /// mapping sends an on-failure record) before it checkpoints past the
    /// records read with it. The default finds none: a stream that dies
    /// with the process trims nothing.
    fn take_trimmed_gaps(&mut self) -> Vec<TrimmedGap> {
        Vec::new()
    }

    /// Stops reading and gives up what the reader holds (its lease on the
    /// stream), so another runner may take over at once instead of after the
    /// lease expires. The default holds nothing.
    async fn close(&mut self) -> BackendResult<()> {
        Ok(())
    }
}

/// Records of a shard that the stream trimmed (past its 24-hour retention)
/// before the reader read them: those after `after_sequence_number` and
/// before `before_sequence_number`, neither of which is part of the gap.
/// It may be empty (nothing was written between the two), but no reader can
/// tell: sequence numbers are ordered, not consecutive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrimmedGap {
    /// The stream.
    pub stream_arn: String,
    /// The shard.
    pub shard_id: String,
    /// The last record read (or checkpointed) before the gap.
    pub after_sequence_number: String,
    /// When that record arrived in the stream, if known.
    pub after_arrival: Option<OffsetDateTime>,
    /// The first record the stream still kept after the gap; `None` when it
    /// kept nothing of the shard after it.
    pub before_sequence_number: Option<String>,
    /// When that record arrived, or when the gap was found if there is none
    /// (every record of the gap arrived before then).
    pub before_arrival: OffsetDateTime,
}

/// A shard's checkpoint: how far its records are done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// Every record of the shard up to and including this one is done.
    After {
        /// The record's sequence number.
        sequence_number: String,
        /// When it arrived in the stream, if known (the lower bound of the
        /// arrival window of a gap trimmed after it).
        arrived_at: Option<OffsetDateTime>,
    },
    /// The shard was read to its end and every record of it is done (the
    /// KCL's `SHARD_END`): its children may be read.
    ShardEnd,
}

/// Where a stream reader keeps its checkpoints between runs: per shard, the
/// last record done or the shard's end, as the Kinesis Client Library's
/// lease table does. One store serves the readers of one table's stream.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The checkpoints saved for `stream_arn`, by shard id. Those of another
    /// stream (a table deleted and created again under the same name has a
    /// new stream) are left out.
    async fn load(&self, stream_arn: &str) -> BackendResult<HashMap<String, Checkpoint>>;
    /// Saves `checkpoint` for `shard_id`. A checkpoint only moves forward:
    /// one at or before the saved one (by sequence number; a shard's end is
    /// after all of them) leaves it as it is, and is no error.
    async fn save(
        &self,
        stream_arn: &str,
        shard_id: &str,
        checkpoint: &Checkpoint,
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
    /// `GetRecords`: up to `limit` records from `iterator`;
    /// [`BackendError::Trimmed`] when records it points at were trimmed,
    /// [`BackendError::IteratorExpired`] when it is too old.
    async fn get_records(&self, iterator: &str, limit: usize) -> BackendResult<RecordPage>;
    /// `GetShardIterator` at `AFTER_SEQUENCE_NUMBER`: right after that
    /// record; [`BackendError::Trimmed`] when the stream no longer keeps it.
    /// The default refuses: a reader that only reads whole shards (the DLQ
    /// replay) never resumes inside one.
    async fn after_sequence_number(
        &self,
        shard_id: &str,
        sequence_number: &str,
    ) -> BackendResult<String> {
        let _ = sequence_number;
        Err(BackendError::Call(
            format!("shard {shard_id}: AFTER_SEQUENCE_NUMBER is not supported by this stream")
                .into(),
        ))
    }
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
    /// ([`StreamReader::checkpoint`]), once it holds the stream's lease in
    /// that table for `lease`'s owner: a second runner is refused
    /// ([`BackendError::LeaseHeld`]) while the first renews it, and takes it
    /// over once it went unrenewed for its duration. The default is
    /// [`TableService::open_stream`]: a stream that dies with the process
    /// starts empty with it, and no other process can read it.
    async fn open_stream_resuming(
        &self,
        table: &str,
        checkpoint_table: &str,
        lease: &LeaseSpec,
    ) -> BackendResult<Box<dyn StreamReader>> {
        let _ = (checkpoint_table, lease);
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
