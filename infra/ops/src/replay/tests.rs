//! Replaying the notifier DLQ over the embedded queues and a scripted
//! stream: the fake stream and the run's fixtures here; the filtered read in
//! [`stream`], the table fallback in [`fallback`].

mod fallback;
mod stream;

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use orders_adapters::memory::{Fault, MemoryPublisher};
use orders_adapters::ports::DeadLetterReason;
use orders_adapters::record::{KEY_ATTRIBUTE, StoredOrder};
use orders_domain::contract::{CorrelationId, OrderMessage};
use orders_domain::model::OrderRequest;
use orders_domain::test_support::legacy_order;
use serde_dynamo::AttributeValue;
use time::OffsetDateTime;

use super::*;
use crate::error::OpsResult;
use crate::replay::fallback::{CreatedWindow, Item, StoredOrders};
use orders_adapters::record::ItemMapping;
use orders_backends::backend::{
    BackendError, QueueSpec, RecordPage, SendMessage, ShardInfo, ShardPage,
};
use orders_backends::embedded::sqs::EmbeddedQueues;

const STREAM_ARN: &str =
    "arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/2026-01-01T00:00:00.000";

/// The stored order `order_id`, created at `created`.
fn stored(order_id: &str, created: OffsetDateTime) -> StoredOrder {
    let request = OrderRequest::from_json(&legacy_order(order_id)).unwrap();
    let message = OrderMessage::new(
        orders_domain::model::OwnerKey::anonymous(),
        request.order_id.unwrap(),
        CorrelationId::parse("c-1").unwrap(),
        created,
        request.order,
    );
    StoredOrder::from_message(&message, created)
}

fn record(seq: u64, order_id: &str, event_name: &str) -> EventRecord {
    let mut r = EventRecord::default();
    r.event_name = event_name.to_owned();
    r.event_source_arn = Some(STREAM_ARN.to_owned());
    r.change.sequence_number = Some(format!("{seq:021}"));
    r.change.keys = serde_dynamo::Item::from(std::collections::HashMap::from([(
        KEY_ATTRIBUTE.to_owned(),
        AttributeValue::S(format!("anonymous#{order_id}")),
    )]));
    r.change.new_image = stored(order_id, OffsetDateTime::now_utc())
        .to_item()
        .unwrap();
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
pub(super) struct FakeStream {
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

/// Stored orders in memory: by id always, by creation window when
/// `can_scan` (as a deployed table can and the embedded backends cannot).
pub(super) struct MemoryOrders {
    items: Mutex<Vec<Item>>,
    can_scan: bool,
    /// Scans asked for.
    scans: AtomicUsize,
}

impl MemoryOrders {
    fn new(can_scan: bool) -> Self {
        Self {
            items: Mutex::default(),
            can_scan,
            scans: AtomicUsize::new(0),
        }
    }

    /// Stores order `order_id`, created at `created`.
    fn store(&self, order_id: &str, created: OffsetDateTime) {
        let item: Item = stored(order_id, created).to_item().unwrap();
        self.items.lock().unwrap().push(item);
    }
}

#[async_trait]
impl StoredOrders for MemoryOrders {
    async fn get(&self, order_id: &str) -> OpsResult<Option<Item>> {
        Ok(self
            .items
            .lock()
            .unwrap()
            .iter()
            .find(|item| crate::renotify::order_id(item) == order_id)
            .cloned())
    }

    async fn created_within(&self, windows: &[CreatedWindow]) -> OpsResult<Option<Vec<Item>>> {
        self.scans.fetch_add(1, AtomicOrdering::SeqCst);
        if !self.can_scan {
            return Ok(None);
        }
        let items = self.items.lock().unwrap();
        Ok(Some(
            items
                .iter()
                .filter(|item| {
                    crate::renotify::created_at(item)
                        .is_some_and(|t| windows.iter().any(|w| w.contains(t)))
                })
                .cloned()
                .collect(),
        ))
    }
}

/// The target's command line in printed commands.
const OPS: &str = "orders-ops --stack orders";

struct Replay {
    queues: EmbeddedQueues,
    dlq: String,
    publisher: Arc<MemoryPublisher>,
    orders: MemoryOrders,
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
            orders: MemoryOrders::new(true),
        }
    }

    /// A replay whose table cannot be read by time.
    async fn without_scan() -> Self {
        Self {
            orders: MemoryOrders::new(false),
            ..Self::new().await
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
        self.run_at(stream, Rate::DEFAULT).await
    }

    async fn run_at(&self, stream: &FakeStream, rate: Rate) -> ReplayReport {
        let deps = crate::replay::replay_deps(self.publisher.clone());
        let fallback = Fallback {
            orders: &self.orders,
            table: "orders",
            ops_command: OPS,
            rate,
        };
        replay_from_stream(&self.queues, stream, &self.dlq, &deps, &fallback)
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
async fn given_a_range_without_a_window_whose_start_was_trimmed_when_replayed_then_nothing_is_published_and_the_day_before_it_is_the_command()
 {
    let r = Replay::new().await;
    // Records 0..=2: record 0 is gone, 1 and 2 are still in the parent.
    let id = r.send(lambda_record(0, 2)).await;
    let report = r.run(&split_stream()).await;
    assert_eq!(report.incomplete, std::slice::from_ref(&id));
    assert!(report.replayed.is_empty() && report.renotified.is_empty());
    assert!(
        r.published().is_empty(),
        "no part of a gapped range is published"
    );
    assert_eq!(r.left(), 1);
    // Then the report names the command: the day before SQS got the message.
    let sent =
        crate::replay::fallback::sent_at(&r.queues.peek(&r.dlq).unwrap()[0].attributes).unwrap();
    let window = CreatedWindow::before(sent);
    assert_eq!(
        report.manual,
        [ManualStep {
            message_id: id.clone(),
            reason: "no arrival window in the message: the orders of the day before it was \
                     written include them"
                .to_owned(),
            command: Some(format!("{OPS} renotify {}", window.flags())),
        }]
    );
    let lines = report.lines().join("\n");
    assert!(
        lines.contains(&format!("run: {OPS} renotify --since ")),
        "{lines}"
    );
    assert_eq!(
        r.orders.scans.load(AtomicOrdering::SeqCst),
        0,
        "no scan for a day"
    );
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
