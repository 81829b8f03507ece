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
//! [`notifier::Deps::for_replay`], whose DLQ refuses: a record that would be
//! dead-lettered again is reported failed instead, and its message stays.
//!
//! Reading the stream uses [`StreamShards`], one method per DynamoDB Streams
//! call: every page of `DescribeStream` (`ExclusiveStartShardId`), each shard
//! from `TRIM_HORIZON`, a closed shard until `GetRecords` answers no next
//! iterator, an open one until its reads come back empty.
//!
//! Works on any [`Backends`](crate::Backends): the embedded emulators, moto, or
//! a real account (`orders-local replay-notifier-dlq`).

use std::cmp::Ordering;
use std::collections::HashSet;
use std::time::Duration;

use adapters::settings::{NOTIFIER_BATCH_SIZE, NOTIFIER_FILTER_EVENT_NAMES};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_runtime::{Context, LambdaEvent};
use notifier::dead_letter::NotifierDeadLetter;

use crate::backend::{
    BackendError, BackendResult, QueueService, ShardInfo, StreamShards, TableService,
};

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
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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
/// `deps` (built with [`notifier::Deps::for_replay`]), reading records from
/// the stream of `table`.
pub async fn replay_notifier_dlq(
    queues: &dyn QueueService,
    tables: &dyn TableService,
    table: &str,
    dlq_url: &str,
    deps: &notifier::Deps,
) -> BackendResult<ReplayReport> {
    let shards = tables.stream_shards(table).await?;
    replay_from_stream(queues, shards.as_ref(), dlq_url, deps).await
}

/// [`replay_notifier_dlq`] over an opened stream.
pub async fn replay_from_stream(
    queues: &dyn QueueService,
    shards: &dyn StreamShards,
    dlq_url: &str,
    deps: &notifier::Deps,
) -> BackendResult<ReplayReport> {
    let mut report = ReplayReport::default();
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
            if publish_all(deps, &records).await {
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

/// Hands the records to the notifier in mapping-sized batches, in order;
/// `true` when every record was published.
async fn publish_all(deps: &notifier::Deps, records: &[EventRecord]) -> bool {
    for batch in records.chunks(NOTIFIER_BATCH_SIZE) {
        let mut event = Event::default();
        event.records = batch.to_vec();
        match notifier::handle(deps, LambdaEvent::new(event, Context::default())).await {
            Ok(response) if response.batch_item_failures.is_empty() => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::{Arc, Mutex};

    use adapters::memory::{Fault, MemoryPublisher};
    use adapters::ports::DeadLetterReason;
    use adapters::record::{KEY_ATTRIBUTE, StoredOrder};
    use async_trait::async_trait;
    use orders_domain::contract::{CorrelationId, OrderMessage};
    use orders_domain::domain::OrderRequest;
    use serde_dynamo::AttributeValue;
    use time::OffsetDateTime;

    use super::*;
    use crate::backend::{QueueSpec, RecordPage, SendMessage, ShardPage};
    use crate::embedded::sqs::EmbeddedQueues;
    use adapters::record::ItemMapping;

    const STREAM_ARN: &str =
        "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000";

    fn record(seq: u64, order_id: &str, event_name: &str) -> EventRecord {
        let mut r = EventRecord::default();
        r.event_name = event_name.to_owned();
        r.event_source_arn = Some(STREAM_ARN.to_owned());
        r.change.sequence_number = Some(format!("{seq:021}"));
        r.change.keys = serde_dynamo::Item::from(std::collections::HashMap::from([(
            KEY_ATTRIBUTE.to_owned(),
            AttributeValue::S(order_id.to_owned()),
        )]));
        let request = OrderRequest::from_json(&serde_json::json!({
            "orderID": order_id, "customerName": "Harry Kane",
            "items": [{"itemId": "item456", "quantity": 22}],
            "shippingAddress": "11 Nguyen Van Linh, Hanoi, Vietnam"}))
        .unwrap();
        let now = OffsetDateTime::now_utc();
        let message = OrderMessage::new(
            request.order_id.unwrap(),
            CorrelationId::parse("c-1").unwrap(),
            now,
            request.order,
        );
        r.change.new_image = StoredOrder::from_message(&message, now).to_item().unwrap();
        r
    }

    fn insert(seq: u64) -> EventRecord {
        record(seq, &format!("o-{seq}"), "INSERT")
    }

    fn seqs(records: &[EventRecord]) -> Vec<u64> {
        records
            .iter()
            .map(|r| {
                r.change
                    .sequence_number
                    .as_deref()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    /// A stream served call by call: shards paged `shards_per_page` at a
    /// time, records `records_per_page` at a time; `records` are what each
    /// shard still holds (anything before them was trimmed). Open shards
    /// answer an empty page on every other read, as an open shard may.
    struct FakeStream {
        shards: Vec<(ShardInfo, Vec<EventRecord>)>,
        shards_per_page: usize,
        records_per_page: usize,
        describe_starts: Mutex<Vec<Option<String>>>,
        reads: AtomicUsize,
    }

    impl FakeStream {
        fn new(shards: Vec<(ShardInfo, Vec<EventRecord>)>) -> Self {
            Self {
                shards,
                shards_per_page: 1,
                records_per_page: 2,
                describe_starts: Mutex::default(),
                reads: AtomicUsize::new(0),
            }
        }
    }

    fn shard(id: &str, parent: Option<&str>, closed: bool) -> ShardInfo {
        ShardInfo {
            shard_id: id.to_owned(),
            parent_shard_id: parent.map(str::to_owned),
            closed,
        }
    }

    #[async_trait]
    impl StreamShards for FakeStream {
        async fn describe_stream(&self, start: Option<&str>) -> BackendResult<ShardPage> {
            self.describe_starts
                .lock()
                .unwrap()
                .push(start.map(str::to_owned));
            let from = match start {
                Some(id) => {
                    self.shards
                        .iter()
                        .position(|(s, _)| s.shard_id == id)
                        .unwrap()
                        + 1
                }
                None => 0,
            };
            let to = (from + self.shards_per_page).min(self.shards.len());
            let shards: Vec<ShardInfo> = self.shards[from..to]
                .iter()
                .map(|(s, _)| s.clone())
                .collect();
            Ok(ShardPage {
                last_evaluated_shard_id: (to < self.shards.len())
                    .then(|| shards.last().unwrap().shard_id.clone()),
                shards,
            })
        }

        async fn trim_horizon(&self, shard_id: &str) -> BackendResult<String> {
            let index = self
                .shards
                .iter()
                .position(|(s, _)| s.shard_id == shard_id)
                .ok_or_else(|| BackendError::NotFound(shard_id.to_owned()))?;
            Ok(format!("{index}:0"))
        }

        async fn get_records(&self, iterator: &str, limit: usize) -> BackendResult<RecordPage> {
            let (index, position) = iterator.split_once(':').unwrap();
            let (index, position): (usize, usize) =
                (index.parse().unwrap(), position.parse().unwrap());
            let (info, records) = &self.shards[index];
            if !info.closed && self.reads.fetch_add(1, AtomicOrdering::SeqCst) % 2 == 0 {
                return Ok(RecordPage {
                    records: Vec::new(),
                    next_iterator: Some(iterator.to_owned()),
                });
            }
            let end = (position + limit.min(self.records_per_page)).min(records.len());
            Ok(RecordPage {
                records: records[position..end].to_vec(),
                next_iterator: (!info.closed || end < records.len())
                    .then(|| format!("{index}:{end}")),
            })
        }
    }

    /// A closed parent (records 1–5) and its open child (records 6–9, with
    /// a MODIFY at 7); record 0 of the parent was trimmed.
    fn split_stream() -> FakeStream {
        let mut child: Vec<EventRecord> = (6..=9).map(insert).collect();
        child[1] = record(7, "o-6", "MODIFY");
        FakeStream::new(vec![
            (
                shard("shardId-parent", None, true),
                (1..=5).map(insert).collect(),
            ),
            (shard("shardId-child", Some("shardId-parent"), false), child),
        ])
    }

    fn seq(n: u64) -> String {
        format!("{n:021}")
    }

    #[tokio::test]
    async fn given_paged_shards_a_closed_parent_and_an_open_child_then_every_record_of_each_is_read()
     {
        let fake = split_stream();
        let reads = read_stream(&fake).await.unwrap();
        assert_eq!(reads.len(), 2);
        assert_eq!(reads[0].shard_id, "shardId-parent");
        assert_eq!(seqs(&reads[0].records), [1, 2, 3, 4, 5]);
        assert_eq!(reads[1].shard_id, "shardId-child");
        assert_eq!(
            seqs(&reads[1].records),
            [6, 7, 8, 9],
            "the open shard's empty pages did not end its read early"
        );
        assert_eq!(
            *fake.describe_starts.lock().unwrap(),
            [None, Some("shardId-parent".to_owned())],
            "DescribeStream was paged with ExclusiveStartShardId"
        );
    }

    #[test]
    fn sequence_numbers_compare_numerically_whatever_their_length() {
        assert_eq!(compare_sequence("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence("100", "0100"), Ordering::Equal);
        assert_eq!(
            compare_sequence("400000000000000000002", "300000000000000000009"),
            Ordering::Greater
        );
    }

    #[tokio::test]
    async fn given_a_range_then_it_is_found_only_when_both_ends_are_in_one_shards_read() {
        let reads = read_stream(&split_stream()).await.unwrap();
        let found = find_range(&reads, &seq(6), &seq(8)).unwrap();
        assert_eq!(seqs(found), [6, 7, 8], "every record between the ends");
        assert_eq!(seqs(find_range(&reads, "2", "0003").unwrap()), [2, 3]);
        assert!(
            find_range(&reads, &seq(0), &seq(2)).is_none(),
            "start trimmed: a gap"
        );
        assert!(
            find_range(&reads, &seq(8), &seq(10)).is_none(),
            "end not read"
        );
        assert!(
            find_range(&reads, &seq(4), &seq(6)).is_none(),
            "across shards"
        );
    }

    struct Replay {
        queues: EmbeddedQueues,
        dlq: String,
        publisher: Arc<MemoryPublisher>,
    }

    impl Replay {
        async fn new() -> Self {
            let queues = EmbeddedQueues::new(1.0);
            let dlq = queues
                .create_queue(&QueueSpec {
                    name: "notifier-dlq".into(),
                    fifo: false,
                    visibility_timeout: Duration::from_secs(30),
                    redrive: None,
                })
                .await
                .unwrap();
            Self {
                queues,
                dlq,
                publisher: Arc::default(),
            }
        }

        async fn send(&self, body: String) -> String {
            self.queues
                .send(
                    &self.dlq,
                    &SendMessage {
                        body,
                        ..SendMessage::default()
                    },
                )
                .await
                .unwrap()
        }

        async fn run(&self, stream: &FakeStream) -> ReplayReport {
            let deps = notifier::Deps::for_replay(self.publisher.clone());
            replay_from_stream(&self.queues, stream, &self.dlq, &deps)
                .await
                .unwrap()
        }

        fn left(&self) -> usize {
            self.queues.peek(&self.dlq).unwrap().len()
        }

        fn published(&self) -> Vec<String> {
            self.publisher
                .published()
                .iter()
                .map(|e| e.order_id.as_str().to_owned())
                .collect()
        }
    }

    /// Lambda's on-failure record for the range `start..=end`.
    fn lambda_record(start: u64, end: u64) -> String {
        serde_json::json!({
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 4},
            "version": "1.0",
            "DDBStreamBatchInfo": {
                "shardId": "shardId-child",
                "startSequenceNumber": seq(start),
                "endSequenceNumber": seq(end),
                "batchSize": end - start + 1,
                "streamArn": STREAM_ARN,
            }
        })
        .to_string()
    }

    #[tokio::test]
    async fn given_a_range_whose_start_was_trimmed_when_replayed_then_nothing_is_published_and_it_stays()
     {
        let r = Replay::new().await;
        // Records 0..=2: record 0 is gone, 1 and 2 are still in the parent.
        let id = r.send(lambda_record(0, 2)).await;
        let report = r.run(&split_stream()).await;
        assert_eq!(report.incomplete, [id]);
        assert!(report.replayed.is_empty());
        assert!(
            r.published().is_empty(),
            "no part of a gapped range is published"
        );
        assert_eq!(r.left(), 1);
    }

    #[tokio::test]
    async fn given_a_range_whose_end_was_not_read_when_replayed_then_it_stays() {
        let r = Replay::new().await;
        let id = r.send(lambda_record(8, 10)).await;
        let report = r.run(&split_stream()).await;
        assert_eq!(report.incomplete, [id]);
        assert!(r.published().is_empty());
        assert_eq!(r.left(), 1);
    }

    #[tokio::test]
    async fn given_a_whole_range_in_the_open_child_when_replayed_then_its_inserts_are_published_and_it_is_deleted()
     {
        let r = Replay::new().await;
        let id = r.send(lambda_record(6, 9)).await;
        let report = r.run(&split_stream()).await;
        assert_eq!(report.replayed, [id], "{report:?}");
        assert_eq!(report.records, 3, "the MODIFY is filtered out");
        assert_eq!(r.published(), ["o-6", "o-8", "o-9"]);
        assert_eq!(r.left(), 0);
    }

    #[tokio::test]
    async fn given_poison_unreadable_and_still_failing_messages_when_replayed_then_each_stays_in_its_list()
     {
        let r = Replay::new().await;
        let poison = r
            .send(notifier::dead_letter::body(
                &insert(3),
                DeadLetterReason::Poison,
                "unreadable image",
            ))
            .await;
        let refused = r
            .send(notifier::dead_letter::body(
                &insert(4),
                DeadLetterReason::PublishRefused,
                "the topic refused the event",
            ))
            .await;
        let unreadable = r.send("{not a notifier message".to_owned()).await;
        r.publisher.fail_order("o-4", Fault::Permanent);
        let report = r.run(&split_stream()).await;
        assert_eq!(report.poison, [poison]);
        assert_eq!(
            report.still_failing,
            std::slice::from_ref(&refused),
            "for_replay deps never dead-letter it again"
        );
        assert_eq!(report.unreadable, [unreadable]);
        assert!(report.replayed.is_empty());
        assert_eq!(r.left(), 3);

        // Given the topic takes it again, when replayed after the visibility
        // timeout, then the refused record is published and its message deleted.
        r.publisher.heal();
        for m in r.queues.peek(&r.dlq).unwrap() {
            r.queues
                .change_visibility(&r.dlq, &m.receipt_handle, Duration::ZERO)
                .await
                .ok();
        }
        let report = r.run(&split_stream()).await;
        assert_eq!(report.replayed, [refused]);
        assert_eq!(r.published(), ["o-4"]);
        assert_eq!(r.left(), 2, "poison and unreadable stay");
    }
}
