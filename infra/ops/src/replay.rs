//! The notifier stage's redrive path: replays the stream records the notifier
//! DLQ points at.
//!
//! The notifier DLQ holds descriptions, not records
//! ([`NotifierDeadLetter`]): the stream mapping's on-failure records name a
//! range of sequence numbers (`DDBStreamBatchInfo`), and the notifier's own
//! messages name one record the same way. Moving those messages anywhere would
//! publish nothing, so replaying means reading the records of the range from
//! the stream again (it keeps them for 24 hours), keeping the `INSERT`s as the
//! deployed filter does, and handing them to the same notifier handler.
//!
//! A message is deleted only when its range was read *exactly*: its first and
//! its last record were both found in one shard's contiguous read from the
//! trim horizon (a shard is ordered and trimmed only at its start, so every
//! record between them was read too), and every `INSERT` among them was
//! published. A range whose start was trimmed (a gap) or whose end was not
//! read stays in the DLQ, reported as incomplete, for the manual path past the
//! stream's retention (see `infra/README.md`). Poison records (unreadable
//! images) stay too, in their own list: replaying cannot fix them.
//!
//! Publishing goes through [`notifier::handle`] with the deps of
//! [`replay_deps`], whose DLQ refuses: a record that would be
//! dead-lettered again is reported failed instead, and its message stays.
//! It is paced ([`Pacer`]): at most `--rate` records per second over the
//! whole run, in batches no larger than the rate.
//!
//! Reading the stream uses [`StreamShards`], one method per DynamoDB Streams
//! call: every page of `DescribeStream` (`ExclusiveStartShardId`), each shard
//! from `TRIM_HORIZON`, a closed shard until `GetRecords` answers no next
//! iterator, an open one until its reads come back empty.
//!
//! Works on any [`Backends`](orders_backends::Backends): the embedded emulators, moto, or
//! a real account (`orders-ops dlq redrive notifier`).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::time::Duration;

use adapters::settings::{NOTIFIER_BATCH_SIZE, NOTIFIER_FILTER_EVENT_NAMES};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_runtime::{Context, LambdaEvent};
use notifier::dead_letter::NotifierDeadLetter;

use orders_backends::backend::{
    BackendError, BackendResult, QueueService, ShardInfo, StreamShards, TableService,
};

use crate::pace::{Pacer, Rate};

/// Records asked for per `GetRecords` call (the API's maximum).
const RECORDS_PER_READ: usize = 1000;

/// Consecutive empty reads after which an open shard counts as read to its
/// end: an open shard has a next iterator forever, and may answer an empty
/// page before records that are already there.
const EMPTY_READS_AT_END: usize = 3;

/// Consecutive empty reads after which a closed shard that still answers a
/// next iterator is given up on (DynamoDB ends a closed shard with a null
/// iterator; this only stops an endpoint that never does). What was read is
/// kept: a range whose end was not read stays in the DLQ.
const EMPTY_READS_CLOSED_LIMIT: usize = 100;

/// What one replay run did, by DLQ message id.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    /// Messages whose records were all published again (and deleted from the DLQ).
    pub replayed: Vec<String>,
    /// Records handed to the notifier for the replayed messages.
    pub records: usize,
    /// Messages whose records still fail to publish (left in the DLQ).
    pub still_failing: Vec<String>,
    /// Messages whose range is not wholly in the stream: its first record was
    /// trimmed, or its last was not read (left in the DLQ; past the stream's
    /// retention, announce those orders from the table by hand).
    pub incomplete: Vec<String>,
    /// The notifier's own messages about poison records, which a replay
    /// cannot fix (left in the DLQ).
    pub poison: Vec<String>,
    /// Messages that are not notifier DLQ messages (left in the DLQ).
    pub unreadable: Vec<String>,
}

impl ReplayReport {
    /// The report as lines of text: the counts, then which messages stayed
    /// and why, so an operator can find them in the DLQ.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "replayed {} message(s), {} record(s); left in the DLQ: still failing {}, \
             not wholly in the stream {}, poison {}, unreadable {}",
            self.replayed.len(),
            self.records,
            self.still_failing.len(),
            self.incomplete.len(),
            self.poison.len(),
            self.unreadable.len()
        )];
        for (list, ids) in [
            ("still failing", &self.still_failing),
            ("not wholly in the stream", &self.incomplete),
            ("poison", &self.poison),
            ("unreadable", &self.unreadable),
        ] {
            lines.extend(ids.iter().map(|id| format!("  {list}: {id}")));
        }
        lines
    }
}

/// One shard's records, read from its trim horizon without a gap, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardRead {
    /// The shard.
    pub shard_id: String,
    /// Every record the shard still held, oldest first.
    pub records: Vec<EventRecord>,
}

/// Orders decimal sequence numbers of any length numerically.
fn compare_sequence(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn has_sequence(record: &EventRecord, sequence: &str) -> bool {
    record
        .change
        .sequence_number
        .as_deref()
        .is_some_and(|s| compare_sequence(s, sequence) == Ordering::Equal)
}

/// Reads every shard of a stream: every page of `DescribeStream`, each shard
/// from its trim horizon to its end.
pub async fn read_stream(shards: &dyn StreamShards) -> BackendResult<Vec<ShardRead>> {
    let mut reads = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = shards.describe_stream(start.as_deref()).await?;
        for shard in &page.shards {
            reads.push(read_shard(shards, shard).await?);
        }
        match page.last_evaluated_shard_id {
            // An endpoint repeating its own start would loop forever.
            Some(last) if start.as_deref() != Some(last.as_str()) => start = Some(last),
            _ => return Ok(reads),
        }
    }
}

/// Reads one shard from `TRIM_HORIZON`: a closed shard until no next
/// iterator, an open one until [`EMPTY_READS_AT_END`] empty reads in a row.
async fn read_shard(shards: &dyn StreamShards, shard: &ShardInfo) -> BackendResult<ShardRead> {
    let mut read = ShardRead {
        shard_id: shard.shard_id.clone(),
        records: Vec::new(),
    };
    let mut iterator = match shards.trim_horizon(&shard.shard_id).await {
        Ok(iterator) => iterator,
        Err(BackendError::NotFound(_)) => {
            // Listed but gone since (trimmed whole): nothing of it can be found.
            tracing::warn!(shard_id = %shard.shard_id, "shard no longer readable; its ranges stay in the DLQ");
            return Ok(read);
        }
        Err(err) => return Err(err),
    };
    let limit = if shard.closed {
        EMPTY_READS_CLOSED_LIMIT
    } else {
        EMPTY_READS_AT_END
    };
    let mut empty_reads = 0;
    loop {
        let page = shards.get_records(&iterator, RECORDS_PER_READ).await?;
        if page.records.is_empty() {
            empty_reads += 1;
        } else {
            empty_reads = 0;
            read.records.extend(page.records);
        }
        let Some(next) = page.next_iterator else {
            return Ok(read);
        };
        if empty_reads >= limit {
            if shard.closed {
                tracing::warn!(shard_id = %shard.shard_id, "closed shard never ended; ranges past what was read stay in the DLQ");
            }
            return Ok(read);
        }
        iterator = next;
    }
}

/// The records from `start` to `end` (inclusive) when both were found in one
/// shard's read, in that order; `None` when the start was trimmed, the end was
/// not read, or they are not in the same shard.
pub fn find_range<'a>(reads: &'a [ShardRead], start: &str, end: &str) -> Option<&'a [EventRecord]> {
    reads.iter().find_map(|read| {
        let first = read.records.iter().position(|r| has_sequence(r, start))?;
        let last = read.records.iter().position(|r| has_sequence(r, end))?;
        read.records.get(first..=last)
    })
}

/// Replays every message now visible in the notifier DLQ at `dlq_url` through
/// `deps` (built with [`replay_deps`]), reading records from
/// the stream of `table`, at the default rate ([`Rate::DEFAULT`]).
pub async fn replay_notifier_dlq(
    queues: &dyn QueueService,
    tables: &dyn TableService,
    table: &str,
    dlq_url: &str,
    deps: &notifier::Deps,
) -> BackendResult<ReplayReport> {
    replay_notifier_dlq_at(queues, tables, table, dlq_url, deps, Rate::DEFAULT).await
}

/// [`replay_notifier_dlq`] at most `rate` records per second.
pub async fn replay_notifier_dlq_at(
    queues: &dyn QueueService,
    tables: &dyn TableService,
    table: &str,
    dlq_url: &str,
    deps: &notifier::Deps,
    rate: Rate,
) -> BackendResult<ReplayReport> {
    let shards = tables.stream_shards(table).await?;
    replay_from_stream(queues, shards.as_ref(), dlq_url, deps, rate).await
}

/// [`replay_notifier_dlq_at`] over an opened stream.
pub async fn replay_from_stream(
    queues: &dyn QueueService,
    shards: &dyn StreamShards,
    dlq_url: &str,
    deps: &notifier::Deps,
    rate: Rate,
) -> BackendResult<ReplayReport> {
    let mut report = ReplayReport::default();
    // One pacer for the run: the rate holds across messages.
    let mut pacer = Pacer::new(rate);
    // Read once, when the first replayable message needs it.
    let mut stream: Option<Vec<ShardRead>> = None;
    // Messages left in the DLQ become visible again after its visibility
    // timeout; one seen twice means every message present was handled.
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let messages = queues.receive(dlq_url, 10, Duration::ZERO).await?;
        let fresh: Vec<_> = messages
            .into_iter()
            .filter(|m| seen.insert(m.message_id.clone()))
            .collect();
        if fresh.is_empty() {
            return Ok(report);
        }
        for message in fresh {
            let id = message.message_id;
            let Ok(letter) = serde_json::from_str::<NotifierDeadLetter>(&message.body) else {
                tracing::warn!(message_id = %id, "not a notifier DLQ message; left in the DLQ");
                report.unreadable.push(id);
                continue;
            };
            let (start, end) = (
                letter.batch.start_sequence_number.as_str(),
                letter.batch.end_sequence_number.as_str(),
            );
            if !letter.is_replayable() {
                tracing::warn!(message_id = %id, start, "poison record: a replay cannot fix it; left in the DLQ");
                report.poison.push(id);
                continue;
            }
            if stream.is_none() {
                stream = Some(read_stream(shards).await?);
            }
            let reads = stream.as_deref().unwrap_or_default();
            let Some(range) = find_range(reads, start, end) else {
                tracing::warn!(message_id = %id, start, end, "range not wholly in the stream; left in the DLQ");
                report.incomplete.push(id);
                continue;
            };
            let records: Vec<EventRecord> = range
                .iter()
                .filter(|r| NOTIFIER_FILTER_EVENT_NAMES.contains(&r.event_name.as_str()))
                .cloned()
                .collect();
            if publish_all(deps, &records, &mut pacer).await {
                queues.delete(dlq_url, &message.receipt_handle).await?;
                tracing::info!(message_id = %id, start, end, records = records.len(), "notifier DLQ message replayed and deleted");
                report.records += records.len();
                report.replayed.push(id);
            } else {
                tracing::warn!(message_id = %id, start, end, "replay still fails; left in the DLQ");
                report.still_failing.push(id);
            }
        }
    }
}

/// Hands the records to the notifier in mapping-sized batches (smaller when
/// the rate is), in order, each when `pacer` admits it; `true` when every
/// record was published.
async fn publish_all(deps: &notifier::Deps, records: &[EventRecord], pacer: &mut Pacer) -> bool {
    for batch in records.chunks(pacer.rate().batch_size(NOTIFIER_BATCH_SIZE)) {
        pacer.admit(batch.len()).await;
        let mut event = Event::default();
        event.records = batch.to_vec();
        match notifier::handle(deps, LambdaEvent::new(event, Context::default())).await {
            Ok(response) if response.batch_item_failures.is_empty() => {}
            _ => return false,
        }
    }
    true
}

/// The dead-letter port of a replay: it refuses every message, so a record
/// that would be dead-lettered again is reported failed instead and its DLQ
/// message stays where it is (a replay must never move a message to itself).
struct ReplayDeadLetters;

#[async_trait::async_trait]
impl adapters::ports::DeadLetterQueue for ReplayDeadLetters {
    async fn send(
        &self,
        _letter: &adapters::ports::DeadLetter,
    ) -> Result<(), adapters::ports::PortError> {
        Err(adapters::ports::PortError::Permanent(
            "replaying the notifier DLQ: the record stays in it".into(),
        ))
    }
}

/// The notifier's dependencies for a replay or a renotify: `publisher`, and
/// no dead-lettering (see [`ReplayDeadLetters`]).
pub fn replay_deps(
    publisher: std::sync::Arc<dyn adapters::ports::EventPublisher>,
) -> notifier::Deps {
    notifier::Deps::new(publisher, std::sync::Arc::new(ReplayDeadLetters))
}

#[cfg(test)]
mod tests;
