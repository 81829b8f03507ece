//! Replaying the notifier DLQ over the embedded backends.

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use adapters::memory::{Fault, MemoryPublisher};
use adapters::ports::DeadLetterReason;
use adapters::record::{KEY_ATTRIBUTE, StoredOrder};
use async_trait::async_trait;
use orders_domain::contract::{CorrelationId, OrderMessage};
use orders_domain::domain::OrderRequest;
use orders_domain::test_support::legacy_order;
use serde_dynamo::AttributeValue;
use time::OffsetDateTime;

use super::*;
use adapters::record::ItemMapping;
use orders_backends::backend::{QueueSpec, RecordPage, SendMessage, ShardPage};
use orders_backends::embedded::sqs::EmbeddedQueues;

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
    let request = OrderRequest::from_json(&legacy_order(order_id)).unwrap();
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
        let (index, position): (usize, usize) = (index.parse().unwrap(), position.parse().unwrap());
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
            next_iterator: (!info.closed || end < records.len()).then(|| format!("{index}:{end}")),
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
async fn given_paged_shards_a_closed_parent_and_an_open_child_then_every_record_of_each_is_read() {
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
        let deps = crate::replay::replay_deps(self.publisher.clone());
        replay_from_stream(&self.queues, stream, &self.dlq, &deps, Rate::DEFAULT)
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
        "replay deps never dead-letter it again"
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

#[tokio::test(start_paused = true)]
async fn given_two_messages_of_30_records_at_rate_20_then_each_virtual_second_publishes_20() {
    // Given two DLQ messages whose ranges hold 30 INSERTs each
    let r = Replay::new().await;
    let stream = FakeStream::new(vec![(
        shard("shardId-child", None, true),
        (1..=60).map(insert).collect(),
    )]);
    r.send(lambda_record(1, 30)).await;
    r.send(lambda_record(31, 60)).await;
    let deps = crate::replay::replay_deps(r.publisher.clone());
    let rate: Rate = "20".parse().unwrap();
    let start = tokio::time::Instant::now();

    // When replayed at 20 per second, watched at the end of each virtual second
    let (report, seen) = tokio::join!(
        replay_from_stream(&r.queues, &stream, &r.dlq, &deps, rate),
        async {
            let mut seen = Vec::new();
            for second in 1..=3 {
                tokio::time::sleep_until(
                    start + Duration::from_secs(second) - Duration::from_millis(1),
                )
                .await;
                seen.push(r.published().len());
            }
            seen
        }
    );

    // Then 20 went out in each second, across both messages, and both were
    // replayed whole
    assert_eq!(seen, [20, 40, 60]);
    let report = report.unwrap();
    assert_eq!(report.replayed.len(), 2, "{report:?}");
    assert_eq!(report.records, 60);
    assert_eq!(r.left(), 0);
}
