//! The notifier's DynamoDB Streams event source mapping.
//!
//! One poller per stream (the embedded stream has one shard), reading in order.
//! Records are filtered like the deployed filter criteria
//! (`NOTIFIER_FILTER_EVENT_NAMES`): the others are consumed without invoking.
//! Batches hold up to `NOTIFIER_BATCH_SIZE` records. On a reported item
//! failure the records before the failed sequence number are done (checkpoint)
//! and the retry starts at it; an error, a timeout or an unknown identifier
//! fails the whole batch. Each failed invocation counts one attempt against the
//! record at the checkpoint; with `NOTIFIER_BISECT_ON_ERROR` the retry takes the
//! first half of the failed records. After `NOTIFIER_MAX_RETRY_ATTEMPTS`
//! retries, the failed records go to the on-failure queue
//! (`RetryAttemptsExhausted`), as do records older than
//! `NOTIFIER_MAX_RECORD_AGE_SECS` (`RecordAgeExceeded`), with the metadata
//! Lambda sends (`requestContext`, `responseContext`, `DDBStreamBatchInfo`, …),
//! and the shard moves on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use lambda_runtime::LambdaEvent;
use shared::settings::{
    NOTIFIER_BATCH_SIZE, NOTIFIER_BISECT_ON_ERROR, NOTIFIER_FILTER_EVENT_NAMES,
    NOTIFIER_MAX_RETRY_ATTEMPTS,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use crate::backend::{QueueService, SendMessage, StreamReader};
use crate::stats::Counters;

/// How long an idle poller waits for new records before reading again
/// (Lambda polls a shard about four times a second).
const IDLE_WAIT: Duration = Duration::from_millis(250);

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
    /// The (scaled) maximum record age.
    pub max_record_age: Duration,
    /// Pause before a retry, multiplied by the attempt number.
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
        let mut attempts: u32 = 0;
        let mut segment = NOTIFIER_BATCH_SIZE;
        loop {
            if pending.len() < NOTIFIER_BATCH_SIZE {
                let read = self
                    .reader
                    .lock()
                    .await
                    .next_records(NOTIFIER_BATCH_SIZE - pending.len())
                    .await;
                match read {
                    Ok(records) => self.admit(records, &mut pending),
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
            self.expire_old(&mut pending, attempts).await;
            if pending.is_empty() {
                continue;
            }
            let n = segment.min(pending.len());
            let batch: Vec<EventRecord> = pending.iter().take(n).cloned().collect();
            let failed_from = match self.invoke(&batch).await {
                Invocation::Success => {
                    pending.drain(..n);
                    Counters::add(&self.counters.notified, n as u64);
                    attempts = 0;
                    segment = NOTIFIER_BATCH_SIZE;
                    continue;
                }
                Invocation::ItemFailure(index) => index,
                Invocation::FunctionError => 0,
            };
            Counters::add(&self.counters.notifier_failures, 1);
            if failed_from > 0 {
                // Checkpoint: the records before the failed one are done.
                pending.drain(..failed_from);
                Counters::add(&self.counters.notified, failed_from as u64);
                attempts = 0;
            }
            attempts += 1;
            let failed_len = n - failed_from;
            if attempts > NOTIFIER_MAX_RETRY_ATTEMPTS {
                let dead: Vec<EventRecord> = pending.drain(..failed_len).collect();
                self.send_to_on_failure(&dead, FailureCondition::RetryAttemptsExhausted, attempts)
                    .await;
                attempts = 0;
                segment = NOTIFIER_BATCH_SIZE;
                continue;
            }
            segment = if NOTIFIER_BISECT_ON_ERROR && failed_len > 1 {
                failed_len.div_ceil(2)
            } else {
                failed_len
            };
            tracing::info!(
                attempt = attempts,
                sequence_number = pending.front().map(sequence).unwrap_or_default(),
                next_batch = segment,
                "notifier batch failed: retrying from the checkpoint"
            );
            tokio::time::sleep(self.retry_backoff * attempts).await;
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

    /// Sends leading records older than the maximum age to the on-failure queue.
    async fn expire_old(&self, pending: &mut VecDeque<EventRecord>, attempts: u32) {
        let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let max_ms = i128::try_from(self.max_record_age.as_millis()).unwrap_or(i128::MAX);
        let old = pending
            .iter()
            .take_while(|r| {
                now_ms - i128::from(r.change.approximate_creation_date_time.timestamp_millis())
                    > max_ms
            })
            .count();
        if old > 0 {
            let dead: Vec<EventRecord> = pending.drain(..old).collect();
            self.send_to_on_failure(&dead, FailureCondition::RecordAgeExceeded, attempts)
                .await;
        }
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
            let order_id = match r.change.keys.get(shared::record::KEY_ATTRIBUTE) {
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
