//! The notifier: reads the orders table's DynamoDB stream and publishes one
//! `OrderCreated` event to the order-events SNS topic per newly stored order.
//!
//! # Per-record outcomes
//!
//! | outcome    | cause                                                   | reported failed? |
//! |------------|---------------------------------------------------------|------------------|
//! | `notified` | an `INSERT` whose event was published                   | no               |
//! | `skipped`  | `MODIFY`, `REMOVE` (or any other event name): no event  | no               |
//! | `failed`   | publishing failed (transient or permanent)              | yes              |
//! | `poison`   | an `INSERT` whose `NewImage` is not a readable order    | yes              |
//!
//! # Checkpointing
//!
//! A stream shard is ordered, and Lambda's partial batch response for streams
//! is a checkpoint: it retries from the *lowest* reported sequence number
//! onwards. So records are processed one at a time, in order, and at the first
//! failure the handler reports that record's `SequenceNumber` and stops; the
//! records after it are left for the retry. The handler never returns `Err` for
//! a record problem, which would retry the whole batch and republish the
//! records before the failure. A poison record is reported, never dropped:
//! after the event source mapping's retries it goes to the on-failure
//! destination with its position in the shard. Mapping outcomes to the
//! response happens in one place, [`batch_response`].
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

use shared::telemetry::ErrorChain;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::LambdaEvent;
use serde_dynamo::AttributeValue;
use shared::config::{ConfigError, ORDER_EVENTS_TOPIC_ARN};
use shared::contract::OrderCreated;
use shared::ports::EventPublisher;
use shared::record::{KEY_ATTRIBUTE, StoredOrder};

/// Environment variables the notifier reads at cold start.
pub const ENV_VARS: &[&str] = &[ORDER_EVENTS_TOPIC_ARN];

/// The `stage` field of every log line this function writes.
const STAGE: &str = "notifier";

/// The stream event name of a newly written item.
const INSERT: &str = "INSERT";

/// What the handler needs, built once per cold start and lent to every invocation.
#[derive(Clone)]
pub struct Deps {
    publisher: Arc<dyn EventPublisher>,
}

impl Deps {
    /// Wraps an event publisher (in tests and the local runner, an in-memory or
    /// emulated one).
    pub fn new(publisher: Arc<dyn EventPublisher>) -> Self {
        Self { publisher }
    }

    /// Builds the SNS-backed publisher from `ORDER_EVENTS_TOPIC_ARN` and the SDK
    /// configuration. Fails fast when the variable is missing, so a
    /// misconfigured function fails at cold start instead of per record.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let topic_arn = shared::config::required(ORDER_EVENTS_TOPIC_ARN)?;
        let client = aws_sdk_sns::Client::new(sdk);
        Ok(Self::new(Arc::new(shared::aws::SnsEventPublisher::new(
            client, topic_arn,
        ))))
    }
}

/// What happened to one stream record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The order's `OrderCreated` event was published.
    Notified,
    /// Not an `INSERT`: acknowledged without publishing.
    Skipped,
    /// Publishing failed; the record is retried from the checkpoint.
    Failed,
    /// An `INSERT` whose new image cannot be read as an order.
    Poison,
}

impl Outcome {
    /// The value of the `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notified => "notified",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Poison => "poison",
        }
    }

    /// Whether the record must be reported as the checkpoint.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Poison)
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
/// order, and checkpoints at the first failure. Never fails the whole
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
        let outcome = process_record(deps.publisher.as_ref(), record).await;
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

/// Publishes (or skips) and logs one record.
async fn process_record(publisher: &dyn EventPublisher, record: &EventRecord) -> Outcome {
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
            // serde_dynamo's message can quote the offending value (a name, an
            // address), so only the top-level error is logged, not its source.
            tracing::error!(
                stage = STAGE,
                outcome = Outcome::Poison.as_str(),
                sequence_number,
                event_name,
                order_id = key_order_id(record),
                correlation_id = image_correlation_id(record),
                error = %err,
                "poison record: INSERT image is not a readable order"
            );
            return Outcome::Poison;
        }
    };
    let event = OrderCreated::new(
        stored.order_id,
        stored.correlation_id,
        stored.accepted_at,
        stored.created_at,
        &stored.order,
    );
    match publisher.publish(&event).await {
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
        Err(err) => {
            let chain = ErrorChain(&err).to_string();
            if err.is_transient() {
                tracing::warn!(
                    stage = STAGE,
                    outcome = Outcome::Failed.as_str(),
                    sequence_number,
                    order_id = %event.order_id,
                    correlation_id = %event.correlation_id,
                    error = %chain,
                    transient = true,
                    "publish failed; retrying from this record"
                );
            } else {
                tracing::error!(
                    stage = STAGE,
                    outcome = Outcome::Failed.as_str(),
                    sequence_number,
                    order_id = %event.order_id,
                    correlation_id = %event.correlation_id,
                    error = %chain,
                    transient = false,
                    "publish refused; retrying from this record until the record \
                     goes to the on-failure destination"
                );
            }
            Outcome::Failed
        }
    }
}

/// The order id from the record's key, for logging records that are not read
/// as orders. Ids are not personal data.
fn key_order_id(record: &EventRecord) -> Option<&str> {
    string_attribute(&record.change.keys, KEY_ATTRIBUTE)
}

/// The correlation id from whichever image the record carries.
fn image_correlation_id(record: &EventRecord) -> Option<&str> {
    string_attribute(&record.change.new_image, "correlationId")
        .or_else(|| string_attribute(&record.change.old_image, "correlationId"))
}

fn string_attribute<'a>(item: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
