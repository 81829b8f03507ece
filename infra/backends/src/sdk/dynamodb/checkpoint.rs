//! Stream checkpoints kept in a DynamoDB table of the endpoint.
//!
//! Over an endpoint the stream outlives the runner, so the notifier mapping's
//! reader ([`crate::backend::TableService::open_stream_resuming`]) keeps its
//! checkpoints in the endpoint too, the way the Kinesis Client Library does:
//! a DynamoDB table with one item per shard, keyed by the shard id, holding
//! the shard's most recent checkpoint, `SHARD_END` once the shard was read
//! to its end (the KCL's lease table,
//! <https://docs.aws.amazon.com/streams/latest/dev/kcl-dynamoDB.html>; the
//! KCL's patterns apply to DynamoDB Streams through its Kinesis adapter,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.KCLAdapter.html>).
//! The same table holds the stream's lease ([`super::lease`]), under its own
//! key. Our items: `shardId` (key), `sequenceNumber` (or `SHARD_END`),
//! `checkpointOrder` (see below), `arrivedAt` (when that record arrived, for
//! the window of a gap trimmed after it), `streamArn` (a table created again
//! has a new stream whose shard ids may repeat the old ones, and moto reuses
//! one shard id for every table) and `updatedAt`.
//!
//! - **Saving**: [`crate::backend::StreamReader::checkpoint`] is called once a batch (or the
//!   part of it before a reported failure, or records sent to the on-failure
//!   destination) is done. Each shard's last record done up to there is
//!   written, or its end once every record of it is done; a write that fails
//!   stays pending and is written with the next call, so a restart re-reads
//!   at most what was done since the last successful write (at least once),
//!   never skips a record.
//! - **Only forward**: each write is conditional on the saved checkpoint of
//!   that stream being before it (`checkpointOrder`: the sequence number's
//!   digit count, four digits, then its digits, so that comparing the
//!   strings compares the numbers; `SHARD_END` after every one of them), so
//!   a late or repeated write never moves a checkpoint backwards.
//! - **Resuming**: a shard with a checkpoint is read from
//!   `AFTER_SEQUENCE_NUMBER` ("start reading right after the position denoted
//!   by a specific sequence number"), a shard without one from
//!   `TRIM_HORIZON` ("the oldest record in the shard"), a shard at
//!   `SHARD_END` not at all
//!   (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html>).
//!   Only a shard's own `SHARD_END` says it is done: a checkpoint of a child
//!   says nothing of its parent.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend_error;
use super::lease::LEASE_KEY;
use crate::backend::{BackendResult, Checkpoint, CheckpointStore};

/// The checkpoint table's key: the shard id (the KCL's `leaseKey`).
pub const CHECKPOINT_KEY: &str = "shardId";
/// The sequence number of the shard's last record done, or
/// [`SHARD_END`].
pub const CHECKPOINT_SEQUENCE: &str = "sequenceNumber";
/// The checkpoint's place in the shard's order, compared by the
/// conditional write (see the module's documentation).
pub const CHECKPOINT_ORDER: &str = "checkpointOrder";
/// When the checkpointed record arrived in the stream (RFC 3339).
pub const CHECKPOINT_ARRIVED: &str = "arrivedAt";
/// The stream the shard belongs to.
pub const CHECKPOINT_STREAM: &str = "streamArn";
/// When the checkpoint was written (RFC 3339), for people looking at it.
pub const CHECKPOINT_UPDATED: &str = "updatedAt";
/// The checkpoint of a shard read to its end (the KCL's sentinel).
pub const SHARD_END: &str = "SHARD_END";

/// [`CheckpointStore`] over a DynamoDB table keyed by [`CHECKPOINT_KEY`].
#[derive(Debug, Clone)]
pub struct DynamoCheckpoints {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCheckpoints {
    /// The checkpoints kept in `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }
}

/// Where `checkpoint` stands in its shard, as a string whose order is the
/// checkpoints' order: the sequence number's digit count (leading zeros
/// left out, four digits) then its digits; [`SHARD_END`] sorts after all
/// of them (a letter after digits).
pub fn checkpoint_order(checkpoint: &Checkpoint) -> String {
    match checkpoint {
        Checkpoint::After {
            sequence_number, ..
        } => {
            let digits = sequence_number.trim_start_matches('0');
            format!("{:04}{digits}", digits.len())
        }
        Checkpoint::ShardEnd => SHARD_END.to_owned(),
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

#[async_trait]
impl CheckpointStore for DynamoCheckpoints {
    async fn load(&self, stream_arn: &str) -> BackendResult<HashMap<String, Checkpoint>> {
        let mut checkpoints = HashMap::new();
        let mut start = None;
        loop {
            // One item per shard: a scan is small, and consistent so a
            // checkpoint written just before a restart is seen.
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend_error(format!("table {}", self.table), e))?;
            for item in page.items() {
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(s)) => Some(s.as_str()),
                    _ => None,
                };
                if text(CHECKPOINT_STREAM) != Some(stream_arn) {
                    continue;
                }
                let (Some(shard), Some(sequence)) =
                    (text(CHECKPOINT_KEY), text(CHECKPOINT_SEQUENCE))
                else {
                    continue;
                };
                if shard == LEASE_KEY {
                    continue;
                }
                let checkpoint = if sequence == SHARD_END {
                    Checkpoint::ShardEnd
                } else {
                    Checkpoint::After {
                        sequence_number: sequence.to_owned(),
                        arrived_at: text(CHECKPOINT_ARRIVED)
                            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
                    }
                };
                checkpoints.insert(shard.to_owned(), checkpoint);
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(checkpoints),
            }
        }
    }

    async fn save(
        &self,
        stream_arn: &str,
        shard_id: &str,
        checkpoint: &Checkpoint,
    ) -> BackendResult<()> {
        let (sequence, arrived) = match checkpoint {
            Checkpoint::After {
                sequence_number,
                arrived_at,
            } => (sequence_number.as_str(), *arrived_at),
            Checkpoint::ShardEnd => (SHARD_END, None),
        };
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(CHECKPOINT_KEY, AttributeValue::S(shard_id.to_owned()))
            .item(CHECKPOINT_SEQUENCE, AttributeValue::S(sequence.to_owned()))
            .item(
                CHECKPOINT_ORDER,
                AttributeValue::S(checkpoint_order(checkpoint)),
            )
            .item(CHECKPOINT_STREAM, AttributeValue::S(stream_arn.to_owned()))
            .item(
                CHECKPOINT_UPDATED,
                AttributeValue::S(rfc3339(OffsetDateTime::now_utc())),
            )
            // Only forward, within one stream: a checkpoint of an older
            // stream with the same shard id is replaced.
            .condition_expression(
                "attribute_not_exists(#order) OR #order < :order OR #stream <> :stream",
            )
            .expression_attribute_names("#order", CHECKPOINT_ORDER)
            .expression_attribute_names("#stream", CHECKPOINT_STREAM)
            .expression_attribute_values(":order", AttributeValue::S(checkpoint_order(checkpoint)))
            .expression_attribute_values(":stream", AttributeValue::S(stream_arn.to_owned()));
        if let Some(at) = arrived {
            request = request.item(CHECKPOINT_ARRIVED, AttributeValue::S(rfc3339(at)));
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                tracing::debug!(
                    shard_id,
                    sequence_number = sequence,
                    "stream checkpoint at or after this one already saved: kept"
                );
                Ok(())
            }
            Err(e) => Err(backend_error(format!("table {}", self.table), e)),
        }
    }
}

/// When `record` arrived in the stream; `None` when it does not say (its
/// `ApproximateCreationDateTime` is the epoch default).
pub(super) fn arrival(record: &EventRecord) -> Option<OffsetDateTime> {
    let ms = record
        .change
        .approximate_creation_date_time
        .timestamp_millis();
    orders_adapters::record::stream_arrival(ms)
}

/// One thing a reader returned, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Returned {
    /// A record (its checkpoint once done).
    Record(Checkpoint),
    /// The shard's end: done once every record returned before it is.
    End,
}

/// What a checkpointing reader returned and has not yet been told is done,
/// the checkpoints not yet saved, and the shards whose end is done.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// (shard id, what) of every record and shard end returned and not yet
    /// done, in the order returned.
    returned: VecDeque<(String, Returned)>,
    /// Per shard, the furthest checkpoint done, not yet saved.
    unsaved: BTreeMap<String, Checkpoint>,
    /// Shards read to their end whose every record is done: their children
    /// may be read.
    ended: HashSet<String>,
}

impl Progress {
    /// `records` of `shard_id` were returned.
    pub(super) fn returned(&mut self, shard_id: &str, records: &[EventRecord]) {
        for record in records {
            if let Some(sequence) = record.change.sequence_number.as_deref() {
                let checkpoint = Checkpoint::After {
                    sequence_number: sequence.to_owned(),
                    arrived_at: arrival(record),
                };
                self.returned
                    .push_back((shard_id.to_owned(), Returned::Record(checkpoint)));
            }
        }
    }

    /// `shard_id` was read to its end (or nothing more of it can be read):
    /// done, and checkpointed `SHARD_END`, once every record returned before
    /// now is done.
    pub(super) fn end_of_shard(&mut self, shard_id: &str) {
        self.returned
            .push_back((shard_id.to_owned(), Returned::End));
        self.drain_ends();
    }

    /// `shard_id` is known to be done (its `SHARD_END` was saved before, or
    /// nothing keeps checkpoints); nothing is saved for it.
    pub(super) fn mark_ended(&mut self, shard_id: &str) {
        self.ended.insert(shard_id.to_owned());
    }

    /// Whether `shard_id` was read to its end and every record of it is done.
    pub(super) fn is_ended(&self, shard_id: &str) -> bool {
        self.ended.contains(shard_id)
    }

    /// The records returned up to and including `sequence_number` are done
    /// (and the shard ends returned right after them); a sequence number not
    /// (or no longer) pending changes nothing.
    pub(super) fn done_through(&mut self, sequence_number: &str) {
        let Some(index) = self.returned.iter().position(|(_, r)| {
            matches!(r, Returned::Record(Checkpoint::After { sequence_number: s, .. }) if s == sequence_number)
        }) else {
            return;
        };
        let done: Vec<_> = self.returned.drain(..=index).collect();
        for (shard, what) in done {
            self.done(shard, what);
        }
        self.drain_ends();
    }

    /// Shard ends at the front have nothing left before them: done.
    fn drain_ends(&mut self) {
        while let Some((_, Returned::End)) = self.returned.front() {
            if let Some((shard, what)) = self.returned.pop_front() {
                self.done(shard, what);
            }
        }
    }

    fn done(&mut self, shard: String, what: Returned) {
        match what {
            Returned::Record(checkpoint) => {
                self.unsaved.insert(shard, checkpoint);
            }
            Returned::End => {
                self.ended.insert(shard.clone());
                self.unsaved.insert(shard, Checkpoint::ShardEnd);
            }
        }
    }

    /// Saves every unsaved checkpoint; the ones that fail stay unsaved for
    /// the next call, and the first failure is returned.
    pub(super) async fn save(
        &mut self,
        store: &dyn CheckpointStore,
        stream_arn: &str,
    ) -> BackendResult<()> {
        let mut failure = None;
        let unsaved = std::mem::take(&mut self.unsaved);
        for (shard, checkpoint) in unsaved {
            if let Err(err) = store.save(stream_arn, &shard, &checkpoint).await {
                failure.get_or_insert(err);
                // A newer one done since stays ahead of this retry.
                self.unsaved.entry(shard).or_insert(checkpoint);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests;
