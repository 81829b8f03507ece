//! The worker: reads order messages from the orders SQS FIFO queue and stores
//! each order in DynamoDB exactly once.
//!
//! # Per-record outcomes
//!
//! | outcome      | cause                                               | reported failed? |
//! |--------------|-----------------------------------------------------|------------------|
//! | `persisted`  | new order, written                                  | no               |
//! | `duplicate`  | same id and same content already stored (redelivery)| no               |
//! | `conflict`   | same id, *different* content already stored         | yes              |
//! | `poison`     | body malformed or of an unsupported `schemaVersion` | yes              |
//! | `transient`  | the store throttled or was unavailable              | yes              |
//! | `permanent`  | the store refused the write (permissions, validation)| yes             |
//! | `skipped`    | not processed because an earlier record failed      | yes              |
//!
//! # Conflicts go to the DLQ
//!
//! A conflict (the same order id arriving with different content) is never
//! resolved by overwriting: the first stored version wins. The conflicting
//! record is reported as a batch item failure, so SQS redelivers it until its
//! receive count reaches [`MAX_RECEIVE_COUNT`] and then moves it to the worker
//! DLQ, where an operator can inspect it next to the stored item. It is logged
//! at error level with `outcome="conflict"` and the `order_id` so an alarm can
//! fire on the first delivery rather than only when the DLQ fills. Poison
//! messages take the same path for the same reason: nothing is ever dropped.
//!
//! # FIFO-safe partial batch failure
//!
//! Records are processed one at a time, in batch order. At the first failure
//! that record *and every later record* are reported in `batchItemFailures`
//! without being processed: a later message of the same message group must not
//! be stored before an earlier one, and reporting only the failed record would
//! let SQS delete the later ones out of order. The mapping from outcomes to the
//! response lives in one place, [`batch_response`].
//!
//! # Logs
//!
//! One line per record with `stage="worker"`, `outcome`, `message_id` and, once
//! the body has been read, `order_id` and `correlation_id`. Bodies, names,
//! addresses and e-mails are never logged; decode errors are logged by category
//! and position only, because serde's messages can quote the offending value.

use shared::telemetry::ErrorChain;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use shared::config::{ConfigError, ORDERS_TABLE_NAME};
use shared::contract::{ContractError, CorrelationId, OrderMessage};
use shared::domain::OrderId;
use shared::ports::{OrderStore, PortError, PutOutcome};
use shared::record::StoredOrder;
use shared::settings::MAX_RECEIVE_COUNT;
use time::OffsetDateTime;

/// Environment variables the worker reads at cold start.
pub const ENV_VARS: &[&str] = &[ORDERS_TABLE_NAME];

/// The `stage` field of every log line this function writes.
const STAGE: &str = "worker";

/// What the handler needs, built once per cold start and lent to every invocation.
#[derive(Clone)]
pub struct Deps {
    store: Arc<dyn OrderStore>,
}

impl Deps {
    /// Wraps an order store (in tests and the local runner, an in-memory or
    /// emulated one).
    pub fn new(store: Arc<dyn OrderStore>) -> Self {
        Self { store }
    }

    /// Builds the DynamoDB-backed store from `ORDERS_TABLE_NAME` and the SDK
    /// configuration. Fails fast when the variable is missing, so a
    /// misconfigured function fails at cold start instead of per record.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let table = shared::config::required(ORDERS_TABLE_NAME)?;
        let client = aws_sdk_dynamodb::Client::new(sdk);
        Ok(Self::new(Arc::new(shared::aws::DynamoOrderStore::new(
            client, table,
        ))))
    }
}

/// What happened to one record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new order was stored.
    Persisted,
    /// The same order was already stored; nothing was written.
    Duplicate,
    /// Another order with this id but different content is stored; nothing was written.
    Conflict,
    /// The body cannot be read (malformed or unsupported `schemaVersion`).
    Poison,
    /// The store failed in a way a retry may fix.
    Transient,
    /// The store failed in a way a retry will not fix.
    Permanent,
    /// Not processed, because an earlier record of the batch failed.
    Skipped,
}

impl Outcome {
    /// The value of the `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Persisted => "persisted",
            Self::Duplicate => "duplicate",
            Self::Conflict => "conflict",
            Self::Poison => "poison",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Skipped => "skipped",
        }
    }

    /// Whether the record must go back to the queue (reported in `batchItemFailures`).
    pub fn is_failure(self) -> bool {
        !matches!(self, Self::Persisted | Self::Duplicate)
    }
}

/// Maps the outcome of every record of a batch, keyed by message id, to the
/// partial batch response. The only place that decides what SQS retries.
///
/// A record without a message id is reported with an empty identifier, which
/// Lambda treats as a failure of the whole batch: safer than dropping it.
pub fn batch_response<'a>(
    outcomes: impl IntoIterator<Item = (&'a str, Outcome)>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in outcomes {
        if outcome.is_failure() {
            response.add_failure(message_id);
        }
    }
    response
}

/// Handles one SQS batch: stores each order in order and reports the first
/// failing record and every record after it. Never fails the whole invocation
/// for a record problem.
#[tracing::instrument(skip_all, fields(stage = STAGE, request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let records = event.payload.records;
    let mut outcomes: Vec<(&str, Outcome)> = Vec::with_capacity(records.len());
    let mut failed = false;
    // Strictly sequential: FIFO order within a message group is the contract.
    for record in &records {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let outcome = if failed {
            tracing::info!(
                stage = STAGE,
                outcome = Outcome::Skipped.as_str(),
                message_id,
                "not processed: an earlier record of this batch failed"
            );
            Outcome::Skipped
        } else {
            process_record(deps.store.as_ref(), record, message_id).await
        };
        if outcome.is_failure() {
            failed = true;
            warn_if_moving_to_dlq(record, message_id, outcome);
        }
        outcomes.push((message_id, outcome));
    }
    Ok(batch_response(outcomes))
}

/// Reads, stores and logs one record.
async fn process_record(store: &dyn OrderStore, record: &SqsMessage, message_id: &str) -> Outcome {
    let message = match OrderMessage::from_body(record.body.as_deref().unwrap_or_default()) {
        Ok(message) => message,
        Err(err) => {
            log_poison(message_id, &err);
            return Outcome::Poison;
        }
    };
    let order_id = &message.order_id;
    let correlation_id = &message.correlation_id;
    let stored = StoredOrder::from_message(&message, OffsetDateTime::now_utc());
    match store.put_if_absent(&stored).await {
        Ok(PutOutcome::Created) => {
            log_ok(Outcome::Persisted, message_id, order_id, correlation_id);
            Outcome::Persisted
        }
        Ok(PutOutcome::Duplicate) => {
            log_ok(Outcome::Duplicate, message_id, order_id, correlation_id);
            Outcome::Duplicate
        }
        Ok(PutOutcome::Conflict { existing }) => {
            tracing::error!(
                stage = STAGE,
                outcome = Outcome::Conflict.as_str(),
                message_id,
                order_id = %order_id,
                correlation_id = %correlation_id,
                stored_hash = existing.as_str(),
                incoming_hash = stored.content_hash.as_str(),
                "order id already stored with different content; not overwritten, \
                 record reported failed and will reach the DLQ"
            );
            Outcome::Conflict
        }
        Err(err) => {
            let outcome = match err {
                PortError::Transient(_) => Outcome::Transient,
                PortError::Permanent(_) => Outcome::Permanent,
            };
            let chain = ErrorChain(&err).to_string();
            if err.is_transient() {
                tracing::warn!(
                    stage = STAGE,
                    outcome = outcome.as_str(),
                    message_id,
                    order_id = %order_id,
                    correlation_id = %correlation_id,
                    error = %chain,
                    "store unavailable; record will be retried"
                );
            } else {
                tracing::error!(
                    stage = STAGE,
                    outcome = outcome.as_str(),
                    message_id,
                    order_id = %order_id,
                    correlation_id = %correlation_id,
                    error = %chain,
                    "store refused the order"
                );
            }
            outcome
        }
    }
}

fn log_ok(outcome: Outcome, message_id: &str, order_id: &OrderId, correlation_id: &CorrelationId) {
    tracing::info!(
        stage = STAGE,
        outcome = outcome.as_str(),
        message_id,
        order_id = %order_id,
        correlation_id = %correlation_id,
        "order stored"
    );
}

fn log_poison(message_id: &str, err: &ContractError) {
    match err {
        // serde_json's message can quote the offending value (a name, an
        // address), so only its category and position are logged.
        ContractError::Malformed(source) => tracing::error!(
            stage = STAGE,
            outcome = Outcome::Poison.as_str(),
            message_id,
            error = %err,
            error_category = ?source.classify(),
            error_line = source.line(),
            error_column = source.column(),
            "poison message: body is not a valid order message"
        ),
        ContractError::UnsupportedVersion(version) => tracing::error!(
            stage = STAGE,
            outcome = Outcome::Poison.as_str(),
            message_id,
            error = %err,
            schema_version = version,
            "poison message: unsupported schemaVersion"
        ),
    }
}

/// A failing record returns to the queue; at the redrive threshold SQS moves it
/// to the DLQ instead, which an operator should hear about from the log.
fn warn_if_moving_to_dlq(record: &SqsMessage, message_id: &str, outcome: Outcome) {
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse::<u32>().ok());
    if let Some(receive_count) = receive_count.filter(|count| *count >= MAX_RECEIVE_COUNT) {
        tracing::warn!(
            stage = STAGE,
            outcome = outcome.as_str(),
            message_id,
            receive_count,
            max_receive_count = MAX_RECEIVE_COUNT,
            "record failed at the redrive threshold; SQS moves it to the worker DLQ"
        );
    }
}

#[cfg(test)]
mod tests;
