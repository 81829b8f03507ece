//! The notifier: reads the orders table's DynamoDB stream and publishes one
//! `OrderCreated` event to the order-events SNS topic per newly stored order.
//!
//! # Per-record outcomes
//!
//! | outcome    | cause                                                   | reported failed? |
//! |------------|---------------------------------------------------------|------------------|
//! | `notified` | an `INSERT` whose event was published                   | no               |
//! | `skipped`  | `MODIFY`, `REMOVE` (or any other event name): no event  | no               |
//! | `refused`  | the topic refused the event for good (permissions, key) | no, once in the notifier DLQ |
//! | `poison`   | an `INSERT` whose `NewImage` is not a readable order    | no, once in the notifier DLQ |
//! | `failed`   | publishing failed in a way a retry may fix              | yes: the checkpoint |
//! | `pending`  | after the checkpoint in the batch: retried with it      | yes              |
//!
//! # Publishing in batches
//!
//! Consecutive `INSERT`s are published with SNS `PublishBatch`, up to ten
//! entries (and 256 KiB) per call, so a batch of ten new orders costs one
//! round trip instead of ten
//! (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>).
//! Each entry succeeds or fails on its own, and the call answers `200` even
//! when some failed, so every entry's result is read. Entries are numbered
//! in stream order; the first one that failed in a way a retry may fix is
//! the checkpoint. Entries of the same call after it may already be
//! published: they are reported with it and published again on the retry
//! (same `eventId`, dropped by consumers), which is the price of one round
//! trip per ten records. A refused entry after the checkpoint is not
//! dead-lettered now: the retry meets it again and dead-letters it then,
//! once. An unreadable record ends the current call first, so side effects
//! stay in stream order.
//!
//! # Checkpointing
//!
//! A stream shard is ordered, and Lambda's partial batch response for streams
//! is a checkpoint: it retries from the *lowest* reported sequence number
//! onwards, and with `BisectBatchOnFunctionError` on it splits the batch *at*
//! that sequence number and retries only the remaining records
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>).
//! When the retries run out, the whole remainder goes to the on-failure
//! destination unpublished. So only a failure a retry may fix (throttling, a
//! timeout, an SNS fault) becomes the checkpoint: the handler reports that
//! record's `SequenceNumber` and stops, leaving the later records for the
//! retry (every later record of the batch is reported too, as `pending`, so
//! the response itself says which records were not settled). A record that
//! will fail the same way on every attempt (an
//! unreadable image, a publish the topic refuses for good) must not hold the
//! good records behind it hostage: the handler sends a description of it
//! (table, key, sequence number, stream, reason; never the image) to the
//! notifier DLQ (`NOTIFIER_DLQ_URL`) and goes on. Only when that send fails is
//! the record reported, and it then takes the retry path. The handler never
//! returns `Err` for a record problem, which would retry the whole batch and
//! republish the records before the failure. Mapping outcomes to the response
//! happens in one place, [`batch_response`].
//!
//! Publishing is at least once (a retry may republish an order whose publish
//! succeeded before a crash); `OrderCreated.eventId` is stable per order so
//! consumers can drop the duplicate.
//!
//! # Logs
//!
//! One line per processed record with `stage="notifier"`, `outcome`,
//! `sequence_number`, and `order_id`/`correlation_id` when known; once the
//! topic answered, `age_ms` (the order's age since `acceptedAt`: the stack's
//! accepted → notified latency metric). Images are
//! never logged: they hold the customer's name and address.

use adapters::record::ItemMapping;
use adapters::telemetry::ErrorChain;
use std::sync::Arc;

use adapters::config::{ConfigError, NOTIFIER_DLQ_URL, ORDER_EVENTS_TOPIC_ARN};
use adapters::ports::{
    CORRELATION_ID_ATTRIBUTE, DEAD_LETTER_ORDER_ID_ATTRIBUTE,
    DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE, DeadLetter, DeadLetterQueue, DeadLetterReason,
    EventPublisher, MAX_PUBLISH_BATCH_ENTRIES,
};
use adapters::record::{KEY_ATTRIBUTE, StoredOrder};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::LambdaEvent;
use orders_domain::contract::OrderCreated;
use serde_dynamo::AttributeValue;

pub mod dead_letter;

/// Environment variables the notifier reads at cold start.
pub const ENV_VARS: &[&str] = &[ORDER_EVENTS_TOPIC_ARN, NOTIFIER_DLQ_URL];

/// The `stage` field of every log line this function writes.
const STAGE: &str = "notifier";

/// The stream event name of a newly written item.
const INSERT: &str = "INSERT";

/// What the handler needs, built once per cold start and lent to every invocation.
#[derive(Clone)]
pub struct Deps {
    publisher: Arc<dyn EventPublisher>,
    dead_letters: Arc<dyn DeadLetterQueue>,
}

impl Deps {
    /// Wraps an event publisher and the notifier DLQ (in tests and the local
    /// runner, in-memory or emulated ones).
    pub fn new(publisher: Arc<dyn EventPublisher>, dead_letters: Arc<dyn DeadLetterQueue>) -> Self {
        Self {
            publisher,
            dead_letters,
        }
    }

    /// Builds the SNS publisher and the SQS dead-letter queue from
    /// `ORDER_EVENTS_TOPIC_ARN`, `NOTIFIER_DLQ_URL` and the SDK configuration.
    /// Fails fast when a variable is missing, so a misconfigured function
    /// fails at cold start instead of per record.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let topic_arn = adapters::config::required(ORDER_EVENTS_TOPIC_ARN)?;
        let dlq_url = adapters::config::required(NOTIFIER_DLQ_URL)?;
        let publisher =
            adapters::aws::SnsEventPublisher::new(aws_sdk_sns::Client::new(sdk), topic_arn);
        let dead_letters =
            adapters::aws::SqsDeadLetterQueue::new(aws_sdk_sqs::Client::new(sdk), dlq_url);
        Ok(Self::new(Arc::new(publisher), Arc::new(dead_letters)))
    }
}

/// The dead-letter port of a replay: it refuses every message, so a record
/// that would be dead-lettered again is reported failed instead and its DLQ
/// message stays where it is (a replay must never move a message to itself).
struct ReplayDeadLetters;

#[async_trait::async_trait]
impl DeadLetterQueue for ReplayDeadLetters {
    async fn send(&self, _letter: &DeadLetter) -> Result<(), adapters::ports::PortError> {
        Err(adapters::ports::PortError::Permanent(
            "replaying the notifier DLQ: the record stays in it".into(),
        ))
    }
}

impl Deps {
    /// The dependencies of a notifier DLQ replay: `publisher`, and no
    /// dead-lettering (see [`ReplayDeadLetters`]).
    pub fn for_replay(publisher: Arc<dyn EventPublisher>) -> Self {
        Self::new(publisher, Arc::new(ReplayDeadLetters))
    }
}

/// What happened to one stream record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The order's `OrderCreated` event was published.
    Notified,
    /// Not an `INSERT`: acknowledged without publishing.
    Skipped,
    /// Publishing failed in a way a retry may fix, or a dead letter could not
    /// be sent; the record is retried from the checkpoint.
    Failed,
    /// The topic refused the event for good; the record is in the notifier DLQ.
    Refused,
    /// An `INSERT` whose new image cannot be read as an order; the record is
    /// in the notifier DLQ.
    Poison,
    /// After the checkpoint in the batch: not settled (perhaps published in
    /// the same call), retried from the checkpoint.
    Pending,
}

impl Outcome {
    /// The value of the `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notified => "notified",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::Poison => "poison",
            Self::Pending => "pending",
        }
    }

    /// Whether the record must be reported: the checkpoint and every record
    /// after it.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Pending)
    }
}

/// Maps the outcomes of the processed records, keyed by sequence number, to
/// the partial batch response. The only place that decides what is retried.
///
/// A failing record without a sequence number is reported with a null
/// identifier, which Lambda treats as a failure of the whole batch: safer than
/// checkpointing past it.
pub fn batch_response<'a>(
    outcomes: impl IntoIterator<Item = (Option<&'a str>, Outcome)>,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for (sequence_number, outcome) in outcomes {
        if outcome.is_failure() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence_number.map(str::to_owned);
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Handles one stream batch: publishes `OrderCreated` for each `INSERT`, in
/// stream order and in `PublishBatch` calls of up to ten, dead-letters the
/// records that can never be published, and checkpoints at the first failure
/// a retry may fix. Never fails the whole invocation for a record problem.
#[tracing::instrument(skip_all, fields(stage = STAGE, request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let records = event.payload.records;
    let outcomes = process_batch(deps, &records).await;
    Ok(batch_response(records.iter().zip(outcomes).map(
        |(record, outcome)| (record.change.sequence_number.as_deref(), outcome),
    )))
}

/// One outcome per record, in stream order: everything before the first
/// `Failed` is settled, everything after it `Pending`.
async fn process_batch(deps: &Deps, records: &[EventRecord]) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(records.len());
    // Consecutive INSERTs waiting for one PublishBatch call: (position, event).
    let mut pending: Vec<(usize, OrderCreated)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        match read_record(record) {
            Read::Skip => {
                log_skipped(record);
                outcomes.push(Outcome::Skipped);
            }
            Read::Publish(event) => {
                pending.push((index, *event));
                outcomes.push(Outcome::Pending);
                if pending.len() == MAX_PUBLISH_BATCH_ENTRIES
                    && publish_pending(deps, records, &mut pending, &mut outcomes).await
                {
                    return checkpointed(outcomes, records.len());
                }
            }
            Read::Poison(err) => {
                // Earlier INSERTs first, so a failure there stays the checkpoint.
                if publish_pending(deps, records, &mut pending, &mut outcomes).await {
                    return checkpointed(outcomes, records.len());
                }
                let outcome = dead_letter_poison(deps, record, &err).await;
                outcomes.push(outcome);
                if outcome.is_failure() {
                    return checkpointed(outcomes, records.len());
                }
            }
        }
    }
    if publish_pending(deps, records, &mut pending, &mut outcomes).await {
        return checkpointed(outcomes, records.len());
    }
    outcomes
}

/// Fills the outcomes of the records after the checkpoint with `Pending`.
fn checkpointed(mut outcomes: Vec<Outcome>, records: usize) -> Vec<Outcome> {
    let checkpoint = outcomes.iter().position(|o| *o == Outcome::Failed);
    if let Some(checkpoint) = checkpoint {
        for outcome in outcomes.iter_mut().skip(checkpoint + 1) {
            *outcome = Outcome::Pending;
        }
        let remaining = records - checkpoint - 1;
        if remaining > 0 {
            tracing::info!(
                stage = STAGE,
                remaining,
                "later records of this batch left for the retry from the checkpoint"
            );
        }
    }
    outcomes.resize(records, Outcome::Pending);
    outcomes
}

/// What a stream record asks of the notifier.
enum Read {
    /// Not an `INSERT`: nothing to publish.
    Skip,
    /// An `INSERT` whose image is an order: publish this event.
    Publish(Box<OrderCreated>),
    /// An `INSERT` whose image is not a readable order.
    Poison(adapters::record::RecordError),
}

fn read_record(record: &EventRecord) -> Read {
    if record.event_name != INSERT {
        return Read::Skip;
    }
    match StoredOrder::from_item(record.change.new_image.clone()) {
        Ok(stored) => Read::Publish(Box::new(OrderCreated::new(
            stored.order_id,
            stored.correlation_id,
            stored.accepted_at,
            stored.created_at,
            &stored.order,
        ))),
        Err(err) => Read::Poison(err),
    }
}

fn log_skipped(record: &EventRecord) {
    tracing::info!(
        stage = STAGE,
        outcome = Outcome::Skipped.as_str(),
        sequence_number = record.change.sequence_number.as_deref().unwrap_or_default(),
        event_name = record.event_name.as_str(),
        order_id = key_order_id(record),
        correlation_id = image_correlation_id(record),
        "not an INSERT: acknowledged without publishing"
    );
}

/// Dead-letters an unreadable `INSERT`; `Poison` once the DLQ holds it,
/// else `Failed` (the checkpoint).
async fn dead_letter_poison(
    deps: &Deps,
    record: &EventRecord,
    err: &adapters::record::RecordError,
) -> Outcome {
    let dead_lettered =
        send_dead_letter(deps, record, DeadLetterReason::Poison, &err.to_string()).await;
    let outcome = if dead_lettered {
        Outcome::Poison
    } else {
        Outcome::Failed
    };
    // serde_dynamo's message can quote the offending value (a name, an
    // address), so only the top-level error is logged, not its source.
    tracing::error!(
        stage = STAGE,
        outcome = outcome.as_str(),
        reason = DeadLetterReason::Poison.as_str(),
        sequence_number = record.change.sequence_number.as_deref().unwrap_or_default(),
        event_name = record.event_name.as_str(),
        order_id = key_order_id(record),
        correlation_id = image_correlation_id(record),
        dead_lettered,
        error = %err,
        "poison record: INSERT image is not a readable order"
    );
    outcome
}

/// Publishes the waiting events in one batch and settles their outcomes in
/// stream order. Returns whether a checkpoint was set (the caller stops).
async fn publish_pending(
    deps: &Deps,
    records: &[EventRecord],
    pending: &mut Vec<(usize, OrderCreated)>,
    outcomes: &mut [Outcome],
) -> bool {
    if pending.is_empty() {
        return false;
    }
    let waiting = std::mem::take(pending);
    let events: Vec<OrderCreated> = waiting.iter().map(|(_, e)| e.clone()).collect();
    let mut results = deps.publisher.publish_batch(&events).await.into_iter();
    let mut checkpoint = false;
    for (index, event) in &waiting {
        // A publisher owes one result per event; a missing one may or may not
        // have been published, so it is retried.
        let result = results.next().unwrap_or_else(|| {
            Err(adapters::ports::PortError::Transient(
                "the publisher returned no result for this event".into(),
            ))
        });
        let Some(record) = records.get(*index) else {
            continue;
        };
        outcomes[*index] = if checkpoint {
            Outcome::Pending
        } else {
            settle(deps, record, event, result).await
        };
        checkpoint |= outcomes[*index].is_failure();
    }
    checkpoint
}

/// The outcome of one published (or not) event before the checkpoint.
async fn settle(
    deps: &Deps,
    record: &EventRecord,
    event: &OrderCreated,
    result: adapters::ports::EntryResult,
) -> Outcome {
    let sequence_number = record.change.sequence_number.as_deref().unwrap_or_default();
    // The order's age once SNS answered: the accepted -> notified latency.
    let age_ms = adapters::telemetry::age_ms(event.accepted_at, time::OffsetDateTime::now_utc());
    match result {
        Ok(()) => {
            tracing::info!(
                stage = STAGE,
                outcome = Outcome::Notified.as_str(),
                sequence_number,
                order_id = %event.order_id,
                correlation_id = %event.correlation_id,
                age_ms,
                event_id = event.event_id.as_str(),
                "OrderCreated published"
            );
            Outcome::Notified
        }
        Err(err) if err.is_transient() => {
            tracing::warn!(
                stage = STAGE,
                outcome = Outcome::Failed.as_str(),
                sequence_number,
                order_id = %event.order_id,
                correlation_id = %event.correlation_id,
                age_ms,
                error = %ErrorChain(&err),
                transient = true,
                "publish failed; retrying from this record"
            );
            Outcome::Failed
        }
        Err(err) => {
            let dead_lettered = send_dead_letter(
                deps,
                record,
                DeadLetterReason::PublishRefused,
                "the topic refused the event",
            )
            .await;
            let outcome = if dead_lettered {
                Outcome::Refused
            } else {
                Outcome::Failed
            };
            tracing::error!(
                stage = STAGE,
                outcome = outcome.as_str(),
                reason = DeadLetterReason::PublishRefused.as_str(),
                sequence_number,
                order_id = %event.order_id,
                correlation_id = %event.correlation_id,
                age_ms,
                error = %ErrorChain(&err),
                transient = false,
                dead_lettered,
                "publish refused; record sent to the notifier DLQ for replay once fixed"
            );
            outcome
        }
    }
}

/// Sends the description of a record to the notifier DLQ; `true` when the
/// queue holds it.
async fn send_dead_letter(
    deps: &Deps,
    record: &EventRecord,
    reason: DeadLetterReason,
    detail: &str,
) -> bool {
    let sequence_number = record.change.sequence_number.as_deref();
    let body = dead_letter::body(record, reason, detail);
    let letter = DeadLetter::new(body, reason, STAGE)
        .with_attribute(DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE, sequence_number)
        .with_attribute(DEAD_LETTER_ORDER_ID_ATTRIBUTE, key_order_id(record))
        .with_attribute(CORRELATION_ID_ATTRIBUTE, image_correlation_id(record));
    match deps.dead_letters.send(&letter).await {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(
                stage = STAGE,
                sequence_number,
                error = %ErrorChain(&err),
                "notifier DLQ unavailable; record becomes the checkpoint instead"
            );
            false
        }
    }
}

/// The order id from the record's key, for logging records that are not read
/// as orders. Ids are not personal data.
pub(crate) fn key_order_id(record: &EventRecord) -> Option<&str> {
    string_attribute(&record.change.keys, KEY_ATTRIBUTE)
}

/// The correlation id from whichever image the record carries.
fn image_correlation_id(record: &EventRecord) -> Option<&str> {
    string_attribute(&record.change.new_image, CORRELATION_ID_ATTRIBUTE)
        .or_else(|| string_attribute(&record.change.old_image, CORRELATION_ID_ATTRIBUTE))
}

fn string_attribute<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
