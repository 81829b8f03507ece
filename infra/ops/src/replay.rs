//! The notifier stage's redrive path: replays the stream records the notifier
//! DLQ points at, or re-announces their orders from the table once the
//! stream no longer holds them.
//!
//! The notifier DLQ holds descriptions, not records
//! ([`NotifierDeadLetter`]): the stream mapping's on-failure records name a
//! range of sequence numbers (`DDBStreamBatchInfo`), and the notifier's own
//! messages name one record the same way. Moving those messages anywhere would
//! publish nothing, so replaying means reading the records of the range from
//! the stream again, keeping the `INSERT`s as the deployed filter does, and
//! handing them to the same notifier handler.
//!
//! A run first receives every message present, then reads the stream once,
//! keeping only the records inside their ranges ([`stream`]: memory bounded
//! by the ranges, not by the stream's 24 hours of images). A message is
//! deleted when its range was read *exactly* (its first and its last record
//! found in one shard's contiguous read from the trim horizon) and every
//! `INSERT` among them was published.
//!
//! A range the stream no longer wholly holds (its start trimmed, its shard
//! gone) is re-announced from the table instead ([`fallback`]): the
//! notifier's own message by its order id; Lambda's by the orders created in
//! its arrival window, found in one scan for the whole run, the path of
//! `orders-ops renotify --since/--until`. Its message is deleted once every
//! order found was published, and only when at least as many were found as
//! the range held. Where that cannot be done (no arrival window in the
//! message, a target that cannot scan the table, fewer orders found), the
//! message stays and the report names the exact `orders-ops renotify`
//! command that re-announces its orders. Poison records (unreadable images)
//! stay too, in their own list: replaying cannot fix them.
//!
//! Publishing goes through [`notifier::handle`] with the deps of
//! [`replay_deps`], whose DLQ refuses: a record that would be dead-lettered
//! again is reported failed instead, and its message stays. It is paced
//! ([`Pacer`]): at most `--rate` events per second over the whole run,
//! replayed and re-announced alike, in batches no larger than the rate.
//!
//! Works on any [`Backends`](orders_backends::Backends): the embedded emulators, moto, or
//! a real account (`orders-ops dlq redrive notifier`).

pub mod fallback;
pub mod stream;

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_runtime::{Context, LambdaEvent};
use notifier::dead_letter::NotifierDeadLetter;
use orders_adapters::settings::{NOTIFIER_BATCH_SIZE, NOTIFIER_FILTER_EVENT_NAMES};
use orders_backends::backend::{BackendResult, QueueService, StreamShards, TableService};
use time::OffsetDateTime;

use crate::pace::{Pacer, Rate};
use fallback::{BackendOrders, Fallback, renotify_gone, sent_at};
use stream::{PendingRanges, StreamRead, find_range, read_stream};

/// What one replay run did, by DLQ message id.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    /// Messages whose records were all published again from the stream (and
    /// deleted from the DLQ).
    pub replayed: Vec<String>,
    /// Records handed to the notifier for the replayed messages.
    pub records: usize,
    /// Messages whose range the stream no longer held, whose orders were all
    /// re-announced from the table (and deleted from the DLQ).
    pub renotified: Vec<String>,
    /// Orders re-announced from the table for them.
    pub renotified_orders: usize,
    /// Messages whose records or orders still fail to publish (left in the DLQ).
    pub still_failing: Vec<String>,
    /// Messages whose range is not wholly in the stream and whose orders
    /// could not be re-announced from here (left in the DLQ; see `manual`).
    pub incomplete: Vec<String>,
    /// For each message left `incomplete`: why, and the command that
    /// re-announces its orders.
    pub manual: Vec<ManualStep>,
    /// The notifier's own messages about poison records, which a replay
    /// cannot fix (left in the DLQ).
    pub poison: Vec<String>,
    /// Messages that are not notifier DLQ messages (left in the DLQ).
    pub unreadable: Vec<String>,
    /// Stored items found for a re-announce that are not readable orders
    /// (ids only; the notifier dead-letters them as poison).
    pub unreadable_orders: Vec<String>,
}

/// What an operator does about a message left `incomplete`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManualStep {
    /// The DLQ message.
    pub message_id: String,
    /// Why the replay left it.
    pub reason: String,
    /// The `orders-ops renotify` command that re-announces its orders, when
    /// one can be named.
    pub command: Option<String>,
}

impl ReplayReport {
    /// The report as lines of text: the counts, then which messages stayed
    /// and why, with the command to run for each one not wholly in the
    /// stream, so an operator can finish the job.
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
        if !self.renotified.is_empty() {
            lines.push(format!(
                "re-announced from the table (range no longer in the stream): {} message(s), {} order(s)",
                self.renotified.len(),
                self.renotified_orders
            ));
        }
        lines.extend(
            self.renotified
                .iter()
                .map(|id| format!("  renotified: {id}")),
        );
        for (list, ids) in [
            ("still failing", &self.still_failing),
            ("poison", &self.poison),
            ("unreadable", &self.unreadable),
        ] {
            lines.extend(ids.iter().map(|id| format!("  {list}: {id}")));
        }
        for step in &self.manual {
            lines.push(format!(
                "  not wholly in the stream: {}: {}",
                step.message_id, step.reason
            ));
            if let Some(command) = &step.command {
                lines.push(format!(
                    "    run: {command}   (then delete the DLQ message)"
                ));
            }
        }
        lines.extend(
            self.unreadable_orders
                .iter()
                .map(|id| format!("  stored item not a readable order: {id}")),
        );
        lines
    }

    /// Leaves message `id` in the DLQ as not wholly in the stream.
    fn leave(&mut self, id: String, reason: String, command: Option<String>) {
        tracing::warn!(message_id = %id, reason = %reason, "range not wholly in the stream; left in the DLQ");
        self.manual.push(ManualStep {
            message_id: id.clone(),
            reason,
            command,
        });
        self.incomplete.push(id);
    }
}

/// Replays every message now visible in the notifier DLQ at `dlq_url` through
/// `deps` (built with [`replay_deps`]), reading records from the stream of
/// `table`, at the default rate ([`Rate::DEFAULT`]); a range no longer in
/// the stream is re-announced by order id, and otherwise reported with its
/// `orders-ops renotify` command (a [`TableService`] cannot scan).
pub async fn replay_notifier_dlq(
    queues: &dyn QueueService,
    tables: &dyn TableService,
    table: &str,
    dlq_url: &str,
    deps: &notifier::Deps,
) -> BackendResult<ReplayReport> {
    let orders = BackendOrders { tables, table };
    let fallback = Fallback {
        orders: &orders,
        table,
        ops_command: "orders-ops",
        rate: Rate::DEFAULT,
    };
    replay_notifier_dlq_at(queues, tables, dlq_url, deps, &fallback).await
}

/// [`replay_notifier_dlq`] at most `fallback.rate` events per second,
/// re-announcing from `fallback.orders`.
pub async fn replay_notifier_dlq_at(
    queues: &dyn QueueService,
    tables: &dyn TableService,
    dlq_url: &str,
    deps: &notifier::Deps,
    fallback: &Fallback<'_>,
) -> BackendResult<ReplayReport> {
    let shards = tables.stream_shards(fallback.table).await?;
    replay_from_stream(queues, shards.as_ref(), dlq_url, deps, fallback).await
}

/// A DLQ message whose range a replay looks for.
struct Pending {
    /// The message id.
    id: String,
    /// The newest receipt handle, which a delete must use.
    receipt_handle: String,
    /// When SQS received it.
    sent_at: Option<OffsetDateTime>,
    /// Its body.
    letter: NotifierDeadLetter,
}

/// [`replay_notifier_dlq_at`] over an opened stream.
pub async fn replay_from_stream(
    queues: &dyn QueueService,
    shards: &dyn StreamShards,
    dlq_url: &str,
    deps: &notifier::Deps,
    fallback: &Fallback<'_>,
) -> BackendResult<ReplayReport> {
    let mut report = ReplayReport::default();
    let pending = receive_all(queues, dlq_url, &mut report).await?;
    let ranges = PendingRanges::new(pending.iter().map(|p| {
        (
            p.letter.batch.start_sequence_number.as_str(),
            p.letter.batch.end_sequence_number.as_str(),
        )
    }));
    let read = if ranges.is_empty() {
        StreamRead::default()
    } else {
        read_stream(shards, &ranges).await?
    };
    tracing::info!(
        messages = pending.len(),
        records_read = read.records_read,
        peak_held = read.peak_held,
        "stream read for the notifier DLQ replay"
    );

    // One pacer for the run: the rate holds across messages and paths.
    let mut pacer = Pacer::new(fallback.rate);
    let mut gone = Vec::new();
    for p in pending {
        let (start, end) = (
            p.letter.batch.start_sequence_number.as_str(),
            p.letter.batch.end_sequence_number.as_str(),
        );
        let Some(range) = find_range(&read.shards, start, end) else {
            gone.push(p);
            continue;
        };
        let records: Vec<EventRecord> = range
            .iter()
            .filter(|r| NOTIFIER_FILTER_EVENT_NAMES.contains(&r.event_name.as_str()))
            .cloned()
            .collect();
        if publish_all(deps, &records, &mut pacer).await {
            queues.delete(dlq_url, &p.receipt_handle).await?;
            tracing::info!(message_id = %p.id, start, end, records = records.len(), "notifier DLQ message replayed and deleted");
            report.records += records.len();
            report.replayed.push(p.id);
        } else {
            tracing::warn!(message_id = %p.id, start, end, "replay still fails; left in the DLQ");
            report.still_failing.push(p.id);
        }
    }
    drop(read);
    renotify_gone(
        queues,
        dlq_url,
        deps,
        fallback,
        gone,
        &mut pacer,
        &mut report,
    )
    .await?;
    Ok(report)
}

/// Receives every message now visible in the DLQ: the replayable ones are
/// returned, the others go to their list in `report`. Messages left in the
/// DLQ become visible again after its visibility timeout; one seen twice
/// means every message present was received (its newest receipt handle is
/// kept, the one a delete must use).
async fn receive_all(
    queues: &dyn QueueService,
    dlq_url: &str,
    report: &mut ReplayReport,
) -> BackendResult<Vec<Pending>> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let messages = queues.receive(dlq_url, 10, Duration::ZERO).await?;
        let mut fresh = 0;
        for message in messages {
            let id = message.message_id;
            if !seen.insert(id.clone()) {
                if let Some(p) = pending.iter_mut().find(|p| p.id == id) {
                    p.receipt_handle = message.receipt_handle;
                }
                continue;
            }
            fresh += 1;
            let Ok(letter) = serde_json::from_str::<NotifierDeadLetter>(&message.body) else {
                tracing::warn!(message_id = %id, "not a notifier DLQ message; left in the DLQ");
                report.unreadable.push(id);
                continue;
            };
            if !letter.is_replayable() {
                tracing::warn!(message_id = %id, start = %letter.batch.start_sequence_number, "poison record: a replay cannot fix it; left in the DLQ");
                report.poison.push(id);
                continue;
            }
            pending.push(Pending {
                id,
                receipt_handle: message.receipt_handle,
                sent_at: sent_at(&message.attributes),
                letter,
            });
        }
        if fresh == 0 {
            return Ok(pending);
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
impl orders_adapters::ports::DeadLetterQueue for ReplayDeadLetters {
    async fn send(
        &self,
        _letter: &orders_adapters::ports::DeadLetter,
    ) -> Result<(), orders_adapters::ports::PortError> {
        Err(orders_adapters::ports::PortError::Permanent(
            "replaying the notifier DLQ: the record stays in it".into(),
        ))
    }
}

/// The notifier's dependencies for a replay or a renotify: `publisher`, and
/// no dead-lettering (see [`ReplayDeadLetters`]).
pub fn replay_deps(
    publisher: std::sync::Arc<dyn orders_adapters::ports::EventPublisher>,
) -> notifier::Deps {
    notifier::Deps::new(publisher, std::sync::Arc::new(ReplayDeadLetters))
}

#[cfg(test)]
mod tests;
