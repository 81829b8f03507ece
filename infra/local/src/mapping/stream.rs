//! The notifier's DynamoDB Streams event source mapping.
//!
//! One poller per stream (the embedded stream has one shard), reading in order.
//! Records are filtered like the deployed filter criteria
//! (`NOTIFIER_FILTER_EVENT_NAMES`): the others are consumed without invoking.
//! Batches hold up to `NOTIFIER_BATCH_SIZE` records.
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
//!
//! Wherever the checkpoint moves (records done, given up on, or filtered
//! out), the reader is told ([`StreamReader::checkpoint`]); over an endpoint
//! it keeps the position there, so a restarted runner resumes after it
//! instead of announcing every order again. A checkpoint that cannot be
//! saved is logged and saved with the next one: a restart may publish a
//! batch again, never skip one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use adapters::settings::{
    NOTIFIER_BATCH_SIZE, NOTIFIER_BISECT_ON_ERROR, NOTIFIER_FILTER_EVENT_NAMES,
};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_runtime::LambdaEvent;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use crate::backend::{QueueService, SendMessage, StreamReader};
use crate::stats::Counters;

/// How long an idle poller waits for new records before reading again
/// (Lambda polls a shard about four times a second).
const IDLE_WAIT: Duration = Duration::from_millis(250);

/// The pause before a retry grows with the retry count up to this many
/// `retry_backoff`s: with unlimited retries (the deployed setting) a shard
/// may retry for a day, and a healed topic should still be noticed within
/// half a minute.
const MAX_BACKOFF_STEPS: u32 = 30;

/// Why records went to the on-failure destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCondition {
    /// Retries used up.
    RetryAttemptsExhausted,
    /// Older than the maximum record age.
    RecordAgeExceeded,
}

impl FailureCondition {
    fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// What one invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invocation {
    /// Every record succeeded.
    Success,
    /// Records before this index succeeded; the function returned normally.
    ItemFailure(usize),
    /// Error, timeout or unknown identifier: nothing succeeded.
    FunctionError,
}

/// What the mapping does after one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Decision {
    /// Leading records of the batch that are done (the checkpoint moves past them).
    done: usize,
    /// Records after those that go to the on-failure destination, retries
    /// exhausted.
    exhausted: usize,
    /// `approximateInvokeCount` for the on-failure record.
    invoke_count: u32,
    /// Wait `retry_backoff` times this before the next invocation (0: none).
    backoff: u32,
}

/// The retry state of the shard's checkpoint: which batches the next
/// invocations take and how much of the retry quota the record at the
/// checkpoint has used. Pure, so the documented semantics are unit-tested
/// without a stream.
#[derive(Debug, Default)]
struct Checkpoint {
    /// Sizes of the batches to invoke, in order, before a fresh batch is
    /// taken: the rest of a batch after an item failure, or the halves of a
    /// bisected one. They cover the leading pending records.
    retry_batches: VecDeque<usize>,
    /// Failed invocations counted against the quota since the checkpoint
    /// last moved.
    retries: u32,
    /// Invocations that held the record at the checkpoint.
    invocations: u32,
}

impl Checkpoint {
    /// Size of the next batch, given `available` pending records.
    fn next_len(&self, available: usize) -> usize {
        self.retry_batches
            .front()
            .copied()
            .unwrap_or(NOTIFIER_BATCH_SIZE)
            .min(available)
    }

    /// The checkpoint moved past `n` records without an invocation (records
    /// aged out): they leave the retry batches, and the quota starts again.
    fn skip(&mut self, mut n: usize) {
        if n == 0 {
            return;
        }
        while n > 0 {
            let Some(front) = self.retry_batches.front_mut() else {
                break;
            };
            let taken = n.min(*front);
            *front -= taken;
            n -= taken;
            if *front == 0 {
                self.retry_batches.pop_front();
            }
        }
        self.retries = 0;
        self.invocations = 0;
    }

    /// Counts one failure against the quota of the batch of `len` records
    /// (already the remainder from the checkpoint) and decides whether it is
    /// retried or given up on.
    fn retry_or_give_up(&mut self, len: usize, max_retries: Option<u32>, done: usize) -> Decision {
        self.retries = self.retries.saturating_add(1);
        if max_retries.is_some_and(|max| self.retries > max) {
            let invoke_count = self.invocations;
            self.retries = 0;
            self.invocations = 0;
            return Decision {
                done,
                exhausted: len,
                invoke_count,
                backoff: 0,
            };
        }
        self.retry_batches.push_front(len);
        Decision {
            done,
            backoff: self.retries.min(MAX_BACKOFF_STEPS),
            ..Decision::default()
        }
    }

    /// Applies the outcome of invoking the first `len` pending records (the
    /// batch [`Checkpoint::next_len`] chose).
    fn after(
        &mut self,
        len: usize,
        outcome: Invocation,
        max_retries: Option<u32>,
        bisect: bool,
    ) -> Decision {
        // The batch just invoked was the first retry batch, if there was one.
        self.retry_batches.pop_front();
        self.invocations = self.invocations.saturating_add(1);
        match outcome {
            Invocation::Success => {
                self.retries = 0;
                self.invocations = 0;
                Decision {
                    done: len,
                    ..Decision::default()
                }
            }
            Invocation::ItemFailure(index) => {
                let index = index.min(len);
                if index > 0 {
                    // A new record is at the checkpoint; this invocation held it once.
                    self.retries = 0;
                    self.invocations = 1;
                }
                // "Bisected at the returned sequence number": the whole rest
                // of the batch is retried, not half of it.
                self.retry_or_give_up(len - index, max_retries, index)
            }
            Invocation::FunctionError if bisect && len > 1 => {
                // Splitting does not consume the retry quota.
                let first = len.div_ceil(2);
                self.retry_batches.push_front(len - first);
                self.retry_batches.push_front(first);
                Decision {
                    backoff: 1,
                    ..Decision::default()
                }
            }
            Invocation::FunctionError => self.retry_or_give_up(len, max_retries, 0),
        }
    }
}

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

fn arrival(record: &EventRecord) -> String {
    let ms = record
        .change
        .approximate_creation_date_time
        .timestamp_millis();
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

impl StreamMapping {
    /// Polls until `stop` turns true and the records in hand are done.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pending: VecDeque<EventRecord> = VecDeque::new();
        let mut checkpoint = Checkpoint::default();
        // The last record read, and the position last handed to the reader.
        let mut last_read: Option<String> = None;
        let mut checkpointed: Option<String> = None;
        loop {
            if pending.len() < NOTIFIER_BATCH_SIZE {
                let read = self
                    .reader
                    .lock()
                    .await
                    .next_records(NOTIFIER_BATCH_SIZE - pending.len())
                    .await;
                match read {
                    Ok(records) => {
                        if let Some(last) = records.last() {
                            last_read = Some(sequence(last).to_owned());
                        }
                        self.admit(records, &mut pending);
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
                    return;
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
            let n = checkpoint.next_len(pending.len());
            let batch: Vec<EventRecord> = pending.iter().take(n).cloned().collect();
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
                .map(|r| sequence(r).to_owned());
            pending.drain(..decision.done);
            Counters::add(&self.counters.notified, decision.done as u64);
            if decision.exhausted > 0 {
                let dead: Vec<EventRecord> = pending.drain(..decision.exhausted).collect();
                self.send_to_on_failure(
                    &dead,
                    FailureCondition::RetryAttemptsExhausted,
                    decision.invoke_count,
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
                    sequence_number = pending.front().map(sequence).unwrap_or_default(),
                    next_batch = checkpoint.next_len(pending.len()),
                    "notifier batch failed: retrying from the checkpoint"
                );
                tokio::time::sleep(self.retry_backoff * decision.backoff).await;
            }
        }
    }

    /// Applies the filter criteria and counts what arrived.
    fn admit(&self, records: Vec<EventRecord>, pending: &mut VecDeque<EventRecord>) {
        for record in records {
            if record.event_name == "INSERT" {
                Counters::add(&self.counters.persisted, 1);
            }
            if NOTIFIER_FILTER_EVENT_NAMES.contains(&record.event_name.as_str()) {
                pending.push_back(record);
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
    /// queue; returns the sequence number of the last one sent.
    async fn expire_old(
        &self,
        pending: &mut VecDeque<EventRecord>,
        checkpoint: &mut Checkpoint,
    ) -> Option<String> {
        let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let max_ms = i128::try_from(self.max_record_age.as_millis()).unwrap_or(i128::MAX);
        let old = pending
            .iter()
            .take_while(|r| {
                now_ms - i128::from(r.change.approximate_creation_date_time.timestamp_millis())
                    > max_ms
            })
            .count();
        if old == 0 {
            return None;
        }
        let invoke_count = checkpoint.invocations;
        checkpoint.skip(old);
        let dead: Vec<EventRecord> = pending.drain(..old).collect();
        self.send_to_on_failure(&dead, FailureCondition::RecordAgeExceeded, invoke_count)
            .await;
        dead.last().map(|r| sequence(r).to_owned())
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
                tracing::error!(%request_id, "notifier invocation timed out");
                Invocation::FunctionError
            }
        }
    }

    /// The on-failure record Lambda sends for a stream batch.
    pub fn failure_record(
        &self,
        records: &[EventRecord],
        condition: FailureCondition,
        invoke_count: u32,
        shard_id: &str,
    ) -> serde_json::Value {
        let first = records.first();
        let last = records.last();
        let stream_arn = first
            .and_then(|r| r.event_source_arn.clone())
            .unwrap_or_default();
        let mut response_context = serde_json::json!({
            "statusCode": 200,
            "executedVersion": "$LATEST",
        });
        if condition == FailureCondition::RetryAttemptsExhausted {
            response_context["functionError"] = serde_json::json!("Unhandled");
        }
        serde_json::json!({
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": self.function_arn,
                "condition": condition.as_str(),
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": response_context,
            "version": "1.0",
            "timestamp": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first.map(sequence).unwrap_or_default(),
                "endSequenceNumber": last.map(sequence).unwrap_or_default(),
                "approximateArrivalOfFirstRecord": first.map(arrival).unwrap_or_default(),
                "approximateArrivalOfLastRecord": last.map(arrival).unwrap_or_default(),
                "batchSize": records.len(),
                "streamArn": stream_arn,
            },
        })
    }

    async fn send_to_on_failure(
        &self,
        records: &[EventRecord],
        condition: FailureCondition,
        invoke_count: u32,
    ) {
        let shard_id = self.reader.lock().await.shard_id();
        let body = self.failure_record(records, condition, invoke_count, &shard_id);
        Counters::add(&self.counters.notifier_dead_records, records.len() as u64);
        for r in records {
            let order_id = match r.change.keys.get(adapters::record::KEY_ATTRIBUTE) {
                Some(serde_dynamo::AttributeValue::S(id)) => id.as_str(),
                _ => "",
            };
            tracing::error!(
                order_id,
                sequence_number = sequence(r),
                condition = condition.as_str(),
                "notifier gave up: record sent to the on-failure queue"
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn batches(c: &Checkpoint) -> Vec<usize> {
        c.retry_batches.iter().copied().collect()
    }

    #[test]
    fn given_an_item_failure_then_the_records_before_are_done_and_the_whole_rest_is_retried() {
        let mut c = Checkpoint::default();
        assert_eq!(c.next_len(25), NOTIFIER_BATCH_SIZE);
        let d = c.after(10, Invocation::ItemFailure(3), Some(5), true);
        assert_eq!(d.done, 3);
        assert_eq!(d.exhausted, 0);
        assert_eq!(d.backoff, 1);
        assert_eq!(c.next_len(22), 7, "the remaining 7, not half of them");
        let d = c.after(7, Invocation::ItemFailure(0), Some(5), true);
        assert_eq!((d.done, d.backoff), (0, 2));
        assert_eq!(c.next_len(22), 7, "still not halved");
        let d = c.after(7, Invocation::Success, Some(5), true);
        assert_eq!(d.done, 7);
        assert_eq!(c.next_len(15), NOTIFIER_BATCH_SIZE, "back to fresh batches");
        assert_eq!(c.retries, 0);
    }

    #[test]
    fn given_the_retries_run_out_then_the_whole_remainder_is_given_up_on_in_one_go() {
        let mut c = Checkpoint::default();
        let d = c.after(4, Invocation::ItemFailure(1), Some(2), true);
        assert_eq!((d.done, d.exhausted), (1, 0));
        let d = c.after(3, Invocation::ItemFailure(0), Some(2), true);
        assert_eq!((d.done, d.exhausted), (0, 0));
        let d = c.after(3, Invocation::ItemFailure(0), Some(2), true);
        assert_eq!(
            (d.done, d.exhausted, d.invoke_count),
            (0, 3, 3),
            "1 + MaximumRetryAttempts invocations, then the 3 remaining records"
        );
        assert!(batches(&c).is_empty());
        assert_eq!(c.retries, 0, "the next record starts a fresh quota");
    }

    #[test]
    fn given_a_partial_success_then_the_quota_starts_again_for_the_new_checkpoint() {
        let mut c = Checkpoint::default();
        c.after(5, Invocation::ItemFailure(0), Some(1), true);
        let d = c.after(5, Invocation::ItemFailure(2), Some(1), true);
        assert_eq!(
            (d.done, d.exhausted),
            (2, 0),
            "the checkpoint moved: retry 1 of 1"
        );
        let d = c.after(3, Invocation::ItemFailure(0), Some(1), true);
        assert_eq!((d.done, d.exhausted), (0, 3));
    }

    #[test]
    fn given_a_function_error_then_the_batch_is_bisected_without_using_the_quota() {
        let mut c = Checkpoint::default();
        // Max 0 retries: any counted failure would give up at once.
        let d = c.after(5, Invocation::FunctionError, Some(0), true);
        assert_eq!(
            d,
            Decision {
                backoff: 1,
                ..Decision::default()
            }
        );
        assert_eq!(batches(&c), [3, 2]);
        let d = c.after(3, Invocation::FunctionError, Some(0), true);
        assert_eq!(d.exhausted, 0);
        assert_eq!(batches(&c), [2, 1, 2]);
        let d = c.after(2, Invocation::Success, Some(0), true);
        assert_eq!(d.done, 2);
        assert_eq!(batches(&c), [1, 2]);
        // One record cannot be split: that failure is a retry, and the last.
        let d = c.after(1, Invocation::FunctionError, Some(0), true);
        assert_eq!((d.done, d.exhausted), (0, 1));
        assert_eq!(batches(&c), [2], "the second half is still tried");
    }

    #[test]
    fn given_bisection_off_then_a_function_error_retries_the_whole_batch() {
        let mut c = Checkpoint::default();
        let d = c.after(4, Invocation::FunctionError, Some(1), false);
        assert_eq!((d.exhausted, d.backoff), (0, 1));
        assert_eq!(batches(&c), [4]);
        let d = c.after(4, Invocation::FunctionError, Some(1), false);
        assert_eq!(d.exhausted, 4);
    }

    #[test]
    fn given_unlimited_retries_then_nothing_is_ever_given_up_on() {
        let mut c = Checkpoint::default();
        for _ in 0..1000 {
            let d = c.after(3, Invocation::ItemFailure(0), None, true);
            assert_eq!(d.exhausted, 0);
            assert!(d.backoff <= MAX_BACKOFF_STEPS, "the pause stops growing");
        }
        assert_eq!(c.next_len(3), 3);
    }

    #[test]
    fn given_aged_out_records_then_they_leave_the_retry_batches() {
        let mut c = Checkpoint::default();
        c.after(6, Invocation::FunctionError, Some(3), true);
        assert_eq!(batches(&c), [3, 3]);
        c.skip(4);
        assert_eq!(batches(&c), [2]);
        assert_eq!(c.retries, 0);
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use adapters::ports::{EventPublisher, PortError};
    use adapters::record::StoredOrder;
    use async_trait::async_trait;
    use orders_domain::contract::{CorrelationId, OrderCreated, OrderMessage};
    use orders_domain::domain::OrderRequest;
    use serde_dynamo::AttributeValue;

    use super::*;
    use crate::backend::{BackendResult, QueueSpec, TableService};
    use crate::embedded::Embedded;
    use adapters::record::ItemMapping;

    /// The embedded stream, recording every checkpoint it is told.
    struct Recording {
        inner: Box<dyn StreamReader>,
        checkpoints: Arc<Mutex<Vec<String>>>,
    }

    #[async_trait]
    impl StreamReader for Recording {
        async fn next_records(&mut self, max: usize) -> BackendResult<Vec<EventRecord>> {
            self.inner.next_records(max).await
        }

        async fn checkpoint(&mut self, sequence_number: &str) -> BackendResult<()> {
            self.checkpoints
                .lock()
                .unwrap()
                .push(sequence_number.to_owned());
            Ok(())
        }
    }

    /// Fails the publish of one order transiently, `failures` times.
    struct FailingFor {
        order: &'static str,
        failures: AtomicU32,
    }

    #[async_trait]
    impl EventPublisher for FailingFor {
        async fn publish(&self, event: &OrderCreated) -> Result<(), PortError> {
            if event.order_id.as_str() == self.order
                && self
                    .failures
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Err(PortError::Transient("throttled".into()));
            }
            Ok(())
        }
    }

    fn item(order_id: &str) -> serde_dynamo::Item {
        let body = serde_json::json!({"orderID": order_id, "customerName": "Harry Kane",
            "items": [{"itemId": "item456", "quantity": 22}],
            "shippingAddress": "11 Nguyen Van Linh, Hanoi, Vietnam"});
        let request = OrderRequest::from_json(&body).unwrap();
        let now = OffsetDateTime::now_utc();
        let message = OrderMessage::new(
            request.order_id.unwrap(),
            CorrelationId::parse("c-test").unwrap(),
            now,
            request.order,
        );
        StoredOrder::from_message(&message, now).to_item().unwrap()
    }

    /// Writes INSERTs of a, b and c, then a MODIFY of a (filtered out), and
    /// runs the mapping over them with `publisher`; returns the checkpoints
    /// told, the stream's sequence numbers and the on-failure messages.
    async fn run(
        publisher: FailingFor,
        max_retry_attempts: Option<u32>,
    ) -> (Vec<String>, Vec<String>, usize) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let embedded = Embedded::new(std::env::temp_dir().join(format!("ckpt-{id}")), 1.0);
        let table = format!("ckpt{}-orders", &id[..8]);
        embedded.tables.create_table(&table).await.unwrap();
        for order_id in ["a", "b", "c"] {
            embedded.tables.put(&table, item(order_id)).await.unwrap();
        }
        let mut modified = item("a");
        modified.insert("note".to_owned(), AttributeValue::S("changed".to_owned()));
        embedded.tables.put(&table, modified).await.unwrap();
        let sequences: Vec<String> = embedded
            .tables
            .open_stream(&table)
            .await
            .unwrap()
            .next_records(10)
            .await
            .unwrap()
            .iter()
            .map(|r| sequence(r).to_owned())
            .collect();
        let queues = embedded.backends().queues;
        let on_failure_url = queues
            .create_queue(&QueueSpec {
                name: format!("ckpt{}-on-failure", &id[..8]),
                fifo: false,
                visibility_timeout: Duration::from_secs(30),
                redrive: None,
            })
            .await
            .unwrap();
        let checkpoints = Arc::new(Mutex::new(Vec::new()));
        let mapping = StreamMapping {
            reader: tokio::sync::Mutex::new(Box::new(Recording {
                inner: embedded.tables.open_stream(&table).await.unwrap(),
                checkpoints: checkpoints.clone(),
            })),
            deps: Arc::new(notifier::Deps::new(
                Arc::new(publisher),
                queues.dead_letter_queue(&on_failure_url),
            )),
            queues: queues.clone(),
            on_failure_url: on_failure_url.clone(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:test-notifier".into(),
            timeout: Duration::from_secs(10),
            max_record_age: Duration::from_secs(3600),
            max_retry_attempts,
            retry_backoff: Duration::from_millis(1),
            counters: Arc::default(),
            idle_at: Arc::default(),
            pending_count: Arc::default(),
        };
        // Stopped from the start: the mapping returns once the stream is worked off.
        let (_stop, stopped) = watch::channel(true);
        tokio::time::timeout(Duration::from_secs(30), mapping.run(stopped))
            .await
            .unwrap();
        let dead = embedded.queues.peek(&on_failure_url).unwrap().len();
        let told = checkpoints.lock().unwrap().clone();
        (told, sequences, dead)
    }

    #[tokio::test]
    async fn given_an_item_failure_then_the_records_before_it_are_checkpointed_then_the_rest() {
        let publisher = FailingFor {
            order: "b",
            failures: AtomicU32::new(1),
        };
        let (told, seq, dead) = run(publisher, None).await;
        // a is done first; once b and c are, so is the MODIFY read after them.
        assert_eq!(told, [seq[0].clone(), seq[3].clone()]);
        assert_eq!(dead, 0);
    }

    #[tokio::test]
    async fn given_records_given_up_on_then_the_checkpoint_moves_past_them() {
        let publisher = FailingFor {
            order: "b",
            failures: AtomicU32::new(u32::MAX),
        };
        let (told, seq, dead) = run(publisher, Some(0)).await;
        // b and c went to the on-failure queue: done, as far as the stream goes.
        assert_eq!(dead, 1);
        assert_eq!(told.last(), Some(&seq[3]));
    }
}
