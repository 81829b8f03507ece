//! The table's stream: readers, checkpoints, shards and the lease.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use time::OffsetDateTime;

use super::*;

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
