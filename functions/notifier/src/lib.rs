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
//! retry. A record that will fail the same way on every attempt (an
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
//! `sequence_number`, and `order_id`/`correlation_id` when known. Images are
//! never logged: they hold the customer's name and address.

use adapters::record::ItemMapping;
use adapters::telemetry::ErrorChain;
use std::sync::Arc;

use adapters::config::{ConfigError, NOTIFIER_DLQ_URL, ORDER_EVENTS_TOPIC_ARN};
use adapters::ports::{
    CORRELATION_ID_ATTRIBUTE, DEAD_LETTER_ORDER_ID_ATTRIBUTE,
    DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE, DeadLetter, DeadLetterQueue, DeadLetterReason,
    EventPublisher,
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
        }
    }

    /// Whether the record must be reported as the checkpoint.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed)
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
/// order, dead-letters the records that can never be published, and
/// checkpoints at the first failure a retry may fix. Never fails the whole
/// invocation for a record problem.
#[tracing::instrument(skip_all, fields(stage = STAGE, request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let records = event.payload.records;
    let mut outcomes: Vec<(Option<&str>, Outcome)> = Vec::with_capacity(records.len());
    // Strictly sequential: the shard's order is the order of the events.
    for (index, record) in records.iter().enumerate() {
        let outcome = process_record(deps, record).await;
        outcomes.push((record.change.sequence_number.as_deref(), outcome));
        if outcome.is_failure() {
            let remaining = records.len() - index - 1;
            if remaining > 0 {
                tracing::info!(
                    stage = STAGE,
                    remaining,
                    "later records of this batch left for the retry from the checkpoint"
                );
            }
            break;
        }
    }
    Ok(batch_response(outcomes))
}

/// Publishes (or skips, or dead-letters) and logs one record.
async fn process_record(deps: &Deps, record: &EventRecord) -> Outcome {
    let sequence_number = record.change.sequence_number.as_deref().unwrap_or_default();
    let event_name = record.event_name.as_str();
    if event_name != INSERT {
        tracing::info!(
            stage = STAGE,
            outcome = Outcome::Skipped.as_str(),
            sequence_number,
            event_name,
            order_id = key_order_id(record),
            correlation_id = image_correlation_id(record),
            "not an INSERT: acknowledged without publishing"
        );
        return Outcome::Skipped;
    }
    let stored = match StoredOrder::from_item(record.change.new_image.clone()) {
        Ok(stored) => stored,
        Err(err) => {
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
                sequence_number,
                event_name,
                order_id = key_order_id(record),
                correlation_id = image_correlation_id(record),
                dead_lettered,
                error = %err,
                "poison record: INSERT image is not a readable order"
            );
            return outcome;
        }
    };
    let event = OrderCreated::new(
        stored.order_id,
        stored.correlation_id,
        stored.accepted_at,
        stored.created_at,
        &stored.order,
    );
    match deps.publisher.publish(&event).await {
        Ok(()) => {
            tracing::info!(
                stage = STAGE,
                outcome = Outcome::Notified.as_str(),
                sequence_number,
                order_id = %event.order_id,
                correlation_id = %event.correlation_id,
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
