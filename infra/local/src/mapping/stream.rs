//! The notifier's DynamoDB Streams event source mapping.
//!
//! One poller per stream, reading its shards in turn (the embedded stream has
//! one; over an endpoint the reader orders them by lineage, see
//! `orders_backends`' stream reader). Records are filtered like the deployed
//! filter criteria (`NOTIFIER_FILTER_EVENT_NAMES`): the others are consumed
//! without invoking. Batches hold up to `NOTIFIER_BATCH_SIZE` records, all of
//! one shard, as Lambda's do; records of one shard keep their order.
//!
//! What happens after a failed invocation follows AWS's documentation of a
//! mapping with `ReportBatchItemFailures` and `BisectBatchOnFunctionError` on:
//!
//! - **Item failure** (every reported identifier is a sequence number of the
//!   batch): "Lambda uses the record with the lowest sequence number as the
//!   checkpoint. Lambda then retries all records starting from that
//!   checkpoint", and with bisection on "the batch is bisected at the returned
//!   sequence number and Lambda retries only the remaining records"
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>).
//!   So the records before it are done and the retry is the whole rest of
//!   that batch: never halved, never merged with newer records.
//! - **Function error, timeout, or a response Lambda reads as a complete
//!   failure** (an empty, null or unknown `itemIdentifier`, same page): "If
//!   your invocation fails and `BisectBatchOnFunctionError` is turned on, the
//!   batch is bisected regardless of your `ReportBatchItemFailures` setting";
//!   the two halves are retried in order. "Splitting batches doesn't consume
//!   the retry quota"
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html>),
//!   so only a failure of a batch that cannot be split (one record, or
//!   bisection off) counts as a retry.
//! - **Retry quota** (`MaximumRetryAttempts`, [`StreamMapping::max_retry_attempts`]):
//!   item failures and unsplittable function errors count against the record
//!   at the checkpoint; when the checkpoint moves, the count starts again.
//!   `None` is the template's `-1`, "failed records are retried until the
//!   record expires"
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.html>).
//!   When the retries run out, Lambda "discards the records and continues
//!   processing batches from the stream" (services-dynamodb-errors): the
//!   whole batch being retried goes to the on-failure destination
//!   unpublished, in one on-failure record (`RetryAttemptsExhausted`).
//! - **Record age** (`MaximumRecordAgeInSeconds`, [`StreamMapping::max_record_age`]):
//!   leading records older than it go to the on-failure destination
//!   (`RecordAgeExceeded`) instead of being invoked again.
//!
//! On-failure records carry the metadata Lambda sends (`requestContext`,
//! `responseContext`, `DDBStreamBatchInfo`, …), and the shard moves on.
//! Records the stream trimmed before they were read (the runner was down
//! longer than the stream keeps them) are reported the same way, one
//! on-failure record per gap ([`StreamReader::take_trimmed_gaps`],
//! [`on_failure`]), before anything read after the gap is checkpointed.
//!
//! Wherever the checkpoint moves (records done, given up on, or filtered
//! out), the reader is told ([`StreamReader::checkpoint`]); over an endpoint
//! it keeps the position there, so a restarted runner resumes after it
//! instead of announcing every order again. A checkpoint that cannot be
//! saved is logged and saved with the next one: a restart may publish a
//! batch again, never skip one.
//!
//! Over an endpoint the reader holds the stream's lease: when another runner
//! takes it over, the mapping stops; when the runner stops, it closes the
//! reader, which gives the lease up for the next runner.

mod on_failure;
mod retry;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_runtime::LambdaEvent;
use orders_adapters::settings::{
    NOTIFIER_BATCH_SIZE, NOTIFIER_BISECT_ON_ERROR, NOTIFIER_FILTER_EVENT_NAMES,
};
use orders_backends::backend::{BackendError, QueueService, SendMessage, StreamReader, TrimmedGap};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::stats::Counters;
pub use on_failure::FailureCondition;
use retry::{Checkpoint, Invocation};

/// How long an idle poller waits for new records before reading again
/// (Lambda polls a shard about four times a second).
const IDLE_WAIT: Duration = Duration::from_millis(250);

/// The pause before a retry grows with the retry count up to this many
/// `retry_backoff`s: with unlimited retries (the deployed setting) a shard
/// may retry for a day, and a healed topic should still be noticed within
/// half a minute.
const MAX_BACKOFF_STEPS: u32 = 30;

/// Where the notifier mapping reports.
pub struct StreamMapping {
    /// The stream (behind a lock only so the mapping is `Sync`; one task uses it).
    pub reader: tokio::sync::Mutex<Box<dyn StreamReader>>,
    /// The notifier's dependencies.
    pub deps: Arc<notifier::Deps>,
    /// The queue service (for the on-failure destination).
    pub queues: Arc<dyn QueueService>,
    /// The on-failure destination (a standard queue).
    pub on_failure_url: String,
    /// The emulated function's ARN.
    pub function_arn: String,
    /// The notifier's (scaled) timeout.
    pub timeout: Duration,
    /// The (scaled) maximum record age (`MaximumRecordAgeInSeconds`).
    pub max_record_age: Duration,
    /// Retries of a failing batch before its records go to the on-failure
    /// destination (`MaximumRetryAttempts`); `None` retries until the records
    /// reach the maximum age (the template's `-1`).
    pub max_retry_attempts: Option<u32>,
    /// Pause before a retry, multiplied by the retry number (at most
    /// `MAX_BACKOFF_STEPS` times).
    pub retry_backoff: Duration,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// When the poller last found nothing to do (for the drain on shutdown).
    pub idle_at: Arc<Mutex<Option<tokio::time::Instant>>>,
    /// Records read but not yet done, for the exit summary.
    pub pending_count: Arc<std::sync::atomic::AtomicU64>,
}

fn sequence(record: &EventRecord) -> &str {
    record.change.sequence_number.as_deref().unwrap_or_default()
}

/// A record read and not yet done, with the shard it came from.
type Pending = VecDeque<(String, EventRecord)>;

/// Why polling stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    /// The runner is stopping.
    Asked,
    /// Another runner took the stream's lease over.
    LeaseLost,
}

impl StreamMapping {
    /// Polls until `stop` turns true and the records in hand are done, then
    /// closes the reader (giving its lease up); stops at once, leaving the
    /// reader as it is, when another runner took the lease over.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        if self.poll(stop).await == Stopped::Asked
            && let Err(err) = self.reader.lock().await.close().await
        {
            tracing::warn!(
                error = &err as &dyn std::error::Error,
                "closing the stream reader failed: the next runner waits for its lease to expire"
            );
        }
    }

    async fn poll(&self, mut stop: watch::Receiver<bool>) -> Stopped {
        let mut pending: Pending = VecDeque::new();
        let mut checkpoint = Checkpoint::default();
        // The last record read, and the position last handed to the reader.
        let mut last_read: Option<String> = None;
        let mut checkpointed: Option<String> = None;
        loop {
            if pending.len() < NOTIFIER_BATCH_SIZE {
                let (read, shard, gaps) = {
                    let mut reader = self.reader.lock().await;
                    let read = reader
                        .next_records(NOTIFIER_BATCH_SIZE - pending.len())
                        .await;
                    (read, reader.shard_id(), reader.take_trimmed_gaps())
                };
                // Reported before anything read after them is checkpointed.
                for gap in &gaps {
                    self.send_gap_to_on_failure(gap).await;
                }
                match read {
                    Ok(records) => {
                        if let Some(last) = records.last() {
                            last_read = Some(sequence(last).to_owned());
                        }
                        self.admit(&shard, records, &mut pending);
                    }
                    Err(err @ BackendError::LeaseLost { .. }) => {
                        tracing::error!(
                            error = &err as &dyn std::error::Error,
                            pending = pending.len(),
                            "notifier mapping stops: another runner reads the stream now"
                        );
                        return Stopped::LeaseLost;
                    }
                    Err(err) => {
                        tracing::error!(
                            error = &err as &dyn std::error::Error,
                            "notifier mapping: reading the stream failed"
                        );
                    }
                }
            }
            self.pending_count
                .store(pending.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if pending.is_empty() {
                // Everything read is done, filtered-out records included.
                self.move_checkpoint(last_read.as_deref(), &mut checkpointed)
                    .await;
                *self.idle_at.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(tokio::time::Instant::now());
                if *stop.borrow_and_update() {
                    return Stopped::Asked;
                }
                let mut reader = self.reader.lock().await;
                tokio::select! {
                    _ = stop.changed() => {}
                    () = reader.wait_for_records(IDLE_WAIT) => {}
                }
                continue;
            }
            let expired = self.expire_old(&mut pending, &mut checkpoint).await;
            self.move_checkpoint(expired.as_deref(), &mut checkpointed)
                .await;
            if pending.is_empty() {
                continue;
            }
            // A batch holds records of one shard, as Lambda's do.
            let shard = pending.front().map(|(s, _)| s.clone()).unwrap_or_default();
            let run = pending.iter().take_while(|(s, _)| *s == shard).count();
            let n = checkpoint.next_len(run);
            let batch: Vec<EventRecord> = pending.iter().take(n).map(|(_, r)| r.clone()).collect();
            let outcome = self.invoke(&batch).await;
            if outcome != Invocation::Success {
                Counters::add(&self.counters.notifier_failures, 1);
            }
            let decision = checkpoint.after(
                n,
                outcome,
                self.max_retry_attempts,
                NOTIFIER_BISECT_ON_ERROR,
            );
            let mut through = decision
                .done
                .checked_sub(1)
                .and_then(|i| pending.get(i))
                .map(|(_, r)| sequence(r).to_owned());
            pending.drain(..decision.done);
            Counters::add(&self.counters.notified, decision.done as u64);
            if decision.exhausted > 0 {
                let dead: Vec<EventRecord> = pending
                    .drain(..decision.exhausted)
                    .map(|(_, r)| r)
                    .collect();
                self.send_to_on_failure(
                    &dead,
                    FailureCondition::RetryAttemptsExhausted,
                    decision.invoke_count,
                    &shard,
                )
                .await;
                through = dead.last().map(|r| sequence(r).to_owned());
            }
            if through.is_some() && pending.is_empty() {
                // Filtered-out records read after the batch are done too.
                through.clone_from(&last_read);
            }
            self.move_checkpoint(through.as_deref(), &mut checkpointed)
                .await;
            if decision.backoff > 0 {
                tracing::info!(
                    retry = checkpoint.retries,
                    sequence_number = pending
                        .front()
                        .map(|(_, r)| sequence(r))
                        .unwrap_or_default(),
                    next_batch = checkpoint.next_len(pending.len()),
                    "notifier batch failed: retrying from the checkpoint"
                );
                tokio::time::sleep(self.retry_backoff * decision.backoff).await;
            }
        }
    }

    /// Applies the filter criteria to records of `shard` and counts what
    /// arrived.
    fn admit(&self, shard: &str, records: Vec<EventRecord>, pending: &mut Pending) {
        for record in records {
            if record.event_name == "INSERT" {
                Counters::add(&self.counters.persisted, 1);
            }
            if NOTIFIER_FILTER_EVENT_NAMES.contains(&record.event_name.as_str()) {
                pending.push_back((shard.to_owned(), record));
            } else {
                Counters::add(&self.counters.filtered_out, 1);
            }
        }
    }

    /// Tells the reader that every record read up to `through` is done,
    /// unless that is where it already is. A failure to save is logged, not
    /// fatal: the reader saves the position with the next call.
    async fn move_checkpoint(&self, through: Option<&str>, checkpointed: &mut Option<String>) {
        let Some(through) = through else {
            return;
        };
        if checkpointed.as_deref() == Some(through) {
            return;
        }
        *checkpointed = Some(through.to_owned());
        if let Err(err) = self.reader.lock().await.checkpoint(through).await {
            tracing::warn!(
                error = &err as &dyn std::error::Error,
                sequence_number = through,
                "saving the stream checkpoint failed: saved with the next one"
            );
        }
    }

    /// Sends leading records older than the maximum age to the on-failure
    /// queue, one on-failure record per shard; returns the sequence number
    /// of the last one sent.
    async fn expire_old(
        &self,
        pending: &mut Pending,
        checkpoint: &mut Checkpoint,
    ) -> Option<String> {
        let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let max_ms = i128::try_from(self.max_record_age.as_millis()).unwrap_or(i128::MAX);
        let is_old = |r: &EventRecord| {
            now_ms - i128::from(r.change.approximate_creation_date_time.timestamp_millis()) > max_ms
        };
        let mut last = None;
        while let Some(shard) = pending.front().map(|(s, _)| s.clone()) {
            let old = pending
                .iter()
                .take_while(|(s, r)| *s == shard && is_old(r))
                .count();
            if old == 0 {
                break;
            }
            let invoke_count = checkpoint.invocations;
            checkpoint.skip(old);
            let dead: Vec<EventRecord> = pending.drain(..old).map(|(_, r)| r).collect();
            self.send_to_on_failure(
                &dead,
                FailureCondition::RecordAgeExceeded,
                invoke_count,
                &shard,
            )
            .await;
            last = dead.last().map(|r| sequence(r).to_owned());
        }
        last
    }

    async fn invoke(&self, batch: &[EventRecord]) -> Invocation {
        Counters::add(&self.counters.notifier_invocations, 1);
        let context = super::invocation_context(&self.function_arn, self.timeout);
        let request_id = context.request_id.clone();
        let mut event = Event::default();
        event.records = batch.to_vec();
        let call = notifier::handle(&self.deps, LambdaEvent::new(event, context));
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(response)) => {
                let Some(first) = response.batch_item_failures.first() else {
                    return Invocation::Success;
                };
                let id = first.item_identifier.as_deref().unwrap_or_default();
                // Lambda checkpoints at the lowest reported sequence number.
                let lowest = response
                    .batch_item_failures
                    .iter()
                    .filter_map(|f| {
                        let id = f.item_identifier.as_deref()?;
                        batch.iter().position(|r| sequence(r) == id)
                    })
                    .min();
                match lowest {
                    Some(index)
                        if response.batch_item_failures.iter().all(|f| {
                            batch
                                .iter()
                                .any(|r| Some(sequence(r)) == f.item_identifier.as_deref())
                        }) =>
                    {
                        Invocation::ItemFailure(index)
                    }
                    _ => {
                        tracing::error!(%request_id, item_identifier = id, "notifier returned an unknown item identifier: whole batch failed");
                        Invocation::FunctionError
                    }
                }
            }
            Ok(Err(err)) => {
                tracing::error!(%request_id, error = &*err as &dyn std::error::Error, "notifier invocation failed");
                Invocation::FunctionError
            }
            Err(_) => {
                Counters::add(&self.counters.notifier_timeouts, 1);
                self.counters
                    .note_notifier_timeout(batch.iter().filter_map(record_order_id));
                tracing::error!(%request_id, "notifier invocation timed out");
                Invocation::FunctionError
            }
        }
    }

    /// The on-failure record Lambda sends for a batch of `shard_id`.
    pub fn failure_record(
        &self,
        records: &[EventRecord],
        condition: FailureCondition,
        invoke_count: u32,
        shard_id: &str,
    ) -> serde_json::Value {
        on_failure::batch_record(
            &self.function_arn,
            records,
            condition,
            invoke_count,
            shard_id,
        )
    }

    async fn send_to_on_failure(
        &self,
        records: &[EventRecord],
        condition: FailureCondition,
        invoke_count: u32,
        shard_id: &str,
    ) {
        let body = self.failure_record(records, condition, invoke_count, shard_id);
        Counters::add(&self.counters.notifier_dead_records, records.len() as u64);
        for r in records {
            tracing::error!(
                order_id = record_order_id(r).unwrap_or_default(),
                sequence_number = sequence(r),
                condition = condition.as_str(),
                "notifier gave up: record sent to the on-failure queue"
            );
        }
        self.send_on_failure(body).await;
    }

    /// Reports records the stream trimmed before they were read.
    async fn send_gap_to_on_failure(&self, gap: &TrimmedGap) {
        tracing::error!(
            shard_id = %gap.shard_id,
            after_sequence_number = %gap.after_sequence_number,
            before_sequence_number = gap.before_sequence_number.as_deref().unwrap_or_default(),
            "stream records trimmed before the notifier read them: gap sent to the on-failure queue"
        );
        self.send_on_failure(on_failure::gap_record(&self.function_arn, gap))
            .await;
    }

    async fn send_on_failure(&self, body: serde_json::Value) {
        let message = SendMessage {
            body: body.to_string(),
            ..SendMessage::default()
        };
        if let Err(err) = self.queues.send(&self.on_failure_url, &message).await {
            // Lambda too drops the batch when the destination fails; say so loudly.
            tracing::error!(
                error = &err as &dyn std::error::Error,
                "sending to the on-failure queue failed: records lost"
            );
        }
    }
}

/// The order id in a stream record's key.
fn record_order_id(record: &EventRecord) -> Option<&str> {
    match record
        .change
        .keys
        .get(orders_adapters::record::KEY_ATTRIBUTE)
    {
        Some(serde_dynamo::AttributeValue::S(key)) => {
            orders_adapters::record::split_order_key(key).map(|(_, id)| id)
        }
        _ => None,
    }
}

#[cfg(test)]
mod checkpoint_tests;
#[cfg(test)]
mod shard_tests;
