//! Stream checkpoints kept in a DynamoDB table of the endpoint.
//!
//! Over an endpoint the stream outlives the runner, so the notifier mapping's
//! reader ([`crate::backend::TableService::open_stream_resuming`]) keeps its checkpoints in
//! the endpoint too, the way the Kinesis Client Library does: a DynamoDB
//! table with one item per shard, keyed by the shard id, holding the shard's
//! most recent checkpoint sequence number, and a parent shard is processed
//! to its end before its children are started (the KCL's lease table,
//! <https://docs.aws.amazon.com/streams/latest/dev/kcl-dynamoDB.html>; the
//! KCL's patterns apply to DynamoDB Streams through its Kinesis adapter,
//! <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.KCLAdapter.html>).
//! Our items: `shardId` (key), `sequenceNumber`, `streamArn` (a table created
//! again has a new stream whose shard ids may repeat the old ones, and moto
//! reuses one shard id for every table) and `updatedAt`.
//!
//! - **Saving**: [`crate::backend::StreamReader::checkpoint`] is called once a batch (or the
//!   part of it before a reported failure, or records sent to the on-failure
//!   destination) is done. Each shard's last record done up to there is
//!   written; a write that fails stays pending and is written with the next
//!   call, so a restart re-reads at most what was done since the last
//!   successful write (at least once), never skips a record.
//! - **Resuming**: a shard with a checkpoint is read from
//!   `AFTER_SEQUENCE_NUMBER` ("start reading right after the position denoted
//!   by a specific sequence number"), a shard without one from
//!   `TRIM_HORIZON` ("the oldest record in the shard"), and a closed shard
//!   whose descendant has a checkpoint not at all: it was read to its end
//!   before that descendant was started
//!   (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetShardIterator.html>).
//!   A checkpoint older than the stream's 24-hour retention answers
//!   `TrimmedDataAccessException`; that shard then starts at its trim horizon.
//!
//! One runner per table is assumed (as one event source mapping per
//! function and stream): checkpoints carry no lease owner.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backend_error;
use crate::backend::{BackendResult, CheckpointStore, ShardInfo};

/// The checkpoint table's key: the shard id (the KCL's `leaseKey`).
pub const CHECKPOINT_KEY: &str = "shardId";
/// The sequence number of the shard's last record done.
pub const CHECKPOINT_SEQUENCE: &str = "sequenceNumber";
/// The stream the shard belongs to.
pub const CHECKPOINT_STREAM: &str = "streamArn";
/// When the checkpoint was written (RFC 3339), for people looking at it.
pub const CHECKPOINT_UPDATED: &str = "updatedAt";

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

#[async_trait]
impl CheckpointStore for DynamoCheckpoints {
    async fn load(&self, stream_arn: &str) -> BackendResult<HashMap<String, String>> {
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
                if let (Some(shard), Some(sequence)) =
                    (text(CHECKPOINT_KEY), text(CHECKPOINT_SEQUENCE))
                {
                    checkpoints.insert(shard.to_owned(), sequence.to_owned());
                }
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
        sequence_number: &str,
    ) -> BackendResult<()> {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        self.client
            .put_item()
            .table_name(&self.table)
            .item(CHECKPOINT_KEY, AttributeValue::S(shard_id.to_owned()))
            .item(
                CHECKPOINT_SEQUENCE,
                AttributeValue::S(sequence_number.to_owned()),
            )
            .item(CHECKPOINT_STREAM, AttributeValue::S(stream_arn.to_owned()))
            .item(CHECKPOINT_UPDATED, AttributeValue::S(now))
            .send()
            .await
            .map_err(|e| backend_error(format!("table {}", self.table), e))?;
        Ok(())
    }
}

/// Where reading a shard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Start {
    /// At the oldest record kept: the shard has no checkpoint.
    TrimHorizon,
    /// Right after its checkpoint.
    After(String),
    /// Nowhere: a closed shard with a checkpointed descendant was read to its
    /// end before that descendant was started.
    Done,
}

/// Where to start each of `shards` (in their order), given the saved
/// `checkpoints` (shard id → sequence number).
pub(super) fn start_positions(
    shards: &[ShardInfo],
    checkpoints: &HashMap<String, String>,
) -> Vec<(String, Start)> {
    let parents: HashMap<&str, &str> = shards
        .iter()
        .filter_map(|s| Some((s.shard_id.as_str(), s.parent_shard_id.as_deref()?)))
        .collect();
    // Every ancestor of a checkpointed shard is finished.
    let mut finished: HashSet<&str> = HashSet::new();
    for shard in checkpoints.keys() {
        let mut at = shard.as_str();
        // Bounded by the number of shards, whatever the lineage says.
        for _ in 0..shards.len() {
            let Some(&parent) = parents.get(at) else {
                break;
            };
            if !finished.insert(parent) {
                break;
            }
            at = parent;
        }
    }
    shards
        .iter()
        .map(|s| {
            let start = if s.closed && finished.contains(s.shard_id.as_str()) {
                Start::Done
            } else if let Some(sequence) = checkpoints.get(&s.shard_id) {
                Start::After(sequence.clone())
            } else {
                Start::TrimHorizon
            };
            (s.shard_id.clone(), start)
        })
        .collect()
}

/// What a checkpointing reader returned and has not yet been told is done,
/// and the checkpoints not yet saved.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// (shard id, sequence number) of every record returned and not yet
    /// done, in the order returned.
    returned: VecDeque<(String, String)>,
    /// Per shard, the last record done, not yet saved.
    unsaved: BTreeMap<String, String>,
}

impl Progress {
    /// `records` of `shard_id` were returned.
    pub(super) fn returned(&mut self, shard_id: &str, records: &[EventRecord]) {
        for record in records {
            if let Some(sequence) = record.change.sequence_number.as_deref() {
                self.returned
                    .push_back((shard_id.to_owned(), sequence.to_owned()));
            }
        }
    }

    /// The records returned up to and including `sequence_number` are done;
    /// a sequence number not (or no longer) pending changes nothing.
    pub(super) fn done_through(&mut self, sequence_number: &str) {
        let Some(index) = self
            .returned
            .iter()
            .position(|(_, sequence)| sequence == sequence_number)
        else {
            return;
        };
        for (shard, sequence) in self.returned.drain(..=index) {
            self.unsaved.insert(shard, sequence);
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
        for (shard, sequence) in unsaved {
            if let Err(err) = store.save(stream_arn, &shard, &sequence).await {
                failure.get_or_insert(err);
                self.unsaved.insert(shard, sequence);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests;
