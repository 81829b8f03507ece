//! The SQS batch handler: stores each order once, one message group's
//! records in order and different groups concurrently, and dead-letters what
//! can never succeed.
//!
//! # Permanent failures go to the DLQ at once
//!
//! A conflict (the same order id arriving with different content) is never
//! resolved by overwriting: the first stored version wins. A conflict and a
//! poison message fail the same way on every delivery, so retrying them only
//! holds back the customer's later orders (their message group) for
//! `MAX_RECEIVE_COUNT` visibility timeouts. The worker sends such a message
//! straight to the worker DLQ (`WORKER_DLQ_URL`): the body unchanged (so a
//! redrive re-sends the same order), the same `MessageGroupId`, a
//! deduplication id from the source message id (a crash between the send and
//! the acknowledgement re-sends nothing), and attributes naming the reason,
//! the stage, the source message id, the order id and the correlation id. Only
//! then is the record acknowledged. When that send fails, the record is
//! reported failed and the queue's redrive policy stays the backstop: nothing
//! is dropped. A store that refuses the write (`permanent`) is usually a
//! deployment fault (permissions, a missing table or key) that heals once
//! fixed, so those records are retried and reach the DLQ by the redrive policy.
//!
//! # FIFO-safe partial batch failure
//!
//! The records of one `MessageGroupId` are processed one at a time, in batch
//! order; different groups of the batch are processed concurrently, since
//! SQS orders messages within a group only
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html>).
//! A batch of ten orders from ten customers therefore costs one store round
//! trip, not ten. A failure holds back the later records of *its own* group
//! only: they are reported in `batchItemFailures` without being processed,
//! because a later message of a group must not be stored before an earlier
//! one, and reporting only the failed record would let SQS delete the later
//! ones out of order. Lambda's FIFO guidance: once a message fails, report it
//! and every later message of the batch that must keep its order
//! (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting>).
//! Records of other groups carry on: a failure in one customer's group
//! neither delays another's nor burns their receives. A record without a
//! `MessageGroupId` (a standard queue) has no order to keep, runs on its own
//! and holds nothing back. The mapping from outcomes to the response lives
//! in one place, [`batch_response`]; which records are held back, in one
//! place too, [`message_groups`].
//!
//! # Backoff
//!
//! When a group's failure may pass (the table throttled or unavailable, the
//! worker DLQ unreachable), the failed record and the records held back
//! after it come back after a growing, jittered visibility timeout instead
//! of the queue's own, so that an order outlives more than an hour of table
//! trouble before the redrive policy moves it to the DLQ ([`crate::backoff`]). A
//! store that refuses the write keeps the queue's timeout: retrying sooner
//! gets a deployment fault to the DLQ and its alarm sooner.
//!
//! # Logs
//!
//! One line per record with `stage="worker"`, `outcome`, `message_id` and, once
//! the body has been read, `order_id`, `correlation_id` and `age_ms` (the
//! order's age since `acceptedAt` when the store answered: the stack's
//! accepted → persisted latency metric). Bodies, names,
//! addresses and e-mails are never logged; decode errors are logged by category
//! and position only, because serde's messages can quote the offending value.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use orders_adapters::ports::{
    CORRELATION_ID_ATTRIBUTE, DEAD_LETTER_ORDER_ID_ATTRIBUTE, DEAD_LETTER_OWNER_ATTRIBUTE,
    DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE, DeadLetter, DeadLetterReason, PortError, PutOutcome,
};
use orders_adapters::record::StoredOrder;
use orders_adapters::settings::MAX_RECEIVE_COUNT;
use orders_adapters::telemetry::ErrorChain;
use orders_domain::contract::{ContractError, OrderMessage};
use time::OffsetDateTime;

use crate::backoff;
use crate::config::Deps;
use crate::outcome::{Outcome, batch_response};

/// The SQS system attribute holding a FIFO message's group.
const MESSAGE_GROUP_ID: &str = "MessageGroupId";

/// The `stage` field of every log line this function writes.
pub(crate) const STAGE: &str = "worker";

/// Handles one SQS batch: stores each order, its message group's records
/// in order and different groups concurrently, dead-letters what can never
/// succeed, and reports a failing record with the later records of its
/// message group. Never fails the whole invocation for a record problem.
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let records = event.payload.records;
    let groups = message_groups(records.iter().map(message_group));
    // One future per group, polled together: I/O of different groups
    // overlaps, while a group's own records wait for each other.
    let per_group = groups
        .iter()
        .map(|indices| process_group(deps, &records, indices));
    let mut outcomes: Vec<Outcome> = vec![Outcome::Skipped; records.len()];
    for (indices, group_outcomes) in groups
        .iter()
        .zip(futures_util::future::join_all(per_group).await)
    {
        for (index, outcome) in indices.iter().zip(group_outcomes) {
            outcomes[*index] = outcome;
        }
    }
    Ok(batch_response(records.iter().zip(outcomes).map(
        |(record, outcome)| (record.message_id.as_deref().unwrap_or_default(), outcome),
    )))
}

/// The batch's records (by position) split into the sequences that must be
/// processed in order: one per `MessageGroupId`, in batch order, and one of
/// its own for each record without a group. Concatenated, the sequences hold
/// every position exactly once.
pub fn message_groups<'a>(groups: impl IntoIterator<Item = Option<&'a str>>) -> Vec<Vec<usize>> {
    let mut sequences: Vec<Vec<usize>> = Vec::new();
    let mut by_group: HashMap<&str, usize> = HashMap::new();
    for (index, group) in groups.into_iter().enumerate() {
        match group.and_then(|g| by_group.get(g).copied()) {
            Some(sequence) => sequences[sequence].push(index),
            None => {
                if let Some(group) = group {
                    by_group.insert(group, sequences.len());
                }
                sequences.push(vec![index]);
            }
        }
    }
    sequences
}

/// Processes one group's records in order; after the first failure the rest
/// are skipped (held back), since they must not be stored before it. When
/// that failure may pass, the failed record and the held-back ones are
/// backed off together.
async fn process_group(deps: &Deps, records: &[SqsMessage], indices: &[usize]) -> Vec<Outcome> {
    let group: Vec<&SqsMessage> = indices.iter().filter_map(|i| records.get(*i)).collect();
    let mut outcomes = Vec::with_capacity(group.len());
    let mut failed_at = None;
    for (position, record) in group.iter().enumerate() {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let outcome = if failed_at.is_some() {
            tracing::info!(
                stage = STAGE,
                outcome = Outcome::Skipped.as_str(),
                message_id,
                "not processed: an earlier record of its message group failed"
            );
            Outcome::Skipped
        } else {
            process_record(deps, record, message_id).await
        };
        if outcome.is_failure() {
            failed_at.get_or_insert(position);
            warn_if_moving_to_dlq(record, message_id, outcome);
        }
        outcomes.push(outcome);
    }
    if let Some(position) = failed_at
        && let Some(visibility) = deps.visibility.as_deref()
        && outcomes
            .get(position)
            .is_some_and(|outcome| outcome.backs_off())
    {
        backoff::back_off(visibility, &group[position..]).await;
    }
    outcomes
}

/// The record's FIFO message group, if it came from a FIFO queue.
fn message_group(record: &SqsMessage) -> Option<&str> {
    record.attributes.get(MESSAGE_GROUP_ID).map(String::as_str)
}

/// Reads, stores and logs one record.
async fn process_record(deps: &Deps, record: &SqsMessage, message_id: &str) -> Outcome {
    let body = record.body.as_deref().unwrap_or_default();
    let message = match OrderMessage::from_body(body) {
        Ok(message) => message,
        Err(err) => {
            let letter = dead_letter(record, message_id, DeadLetterReason::Poison, None);
            let dead_lettered = send_dead_letter(deps, &letter, message_id).await;
            log_poison(message_id, &err, dead_lettered);
            return Outcome::Poison { dead_lettered };
        }
    };
    let order_id = &message.order_id;
    let correlation_id = &message.correlation_id;
    let stored = StoredOrder::from_message(&message, OffsetDateTime::now_utc());
    let put = deps.store.put_if_absent(&stored).await;
    // The order's age once the store answered: accepted -> persisted latency.
    let age_ms = orders_adapters::telemetry::age_ms(message.accepted_at, OffsetDateTime::now_utc());
    match put {
        Ok(PutOutcome::Created) => {
            log_ok(Outcome::Persisted, record, message_id, &message, age_ms);
            Outcome::Persisted
        }
        Ok(PutOutcome::Duplicate) => {
            log_ok(Outcome::Duplicate, record, message_id, &message, age_ms);
            Outcome::Duplicate
        }
        Ok(PutOutcome::Conflict { existing }) => {
            let letter = dead_letter(
                record,
                message_id,
                DeadLetterReason::Conflict,
                Some(&message),
            );
            let dead_lettered = send_dead_letter(deps, &letter, message_id).await;
            let outcome = Outcome::Conflict { dead_lettered };
            tracing::error!(
                stage = STAGE,
                outcome = outcome.as_str(),
                message_id,
                order_id = %order_id,
                owner = %message.owner,
                correlation_id = %correlation_id,
                age_ms,
                stored_hash = existing.as_str(),
                incoming_hash = stored.content_hash.as_str(),
                dead_lettered,
                "order id already stored with different content; not overwritten"
            );
            outcome
        }
        Err(err) => {
            let outcome = match err {
                PortError::Transient(_) => Outcome::Transient,
                PortError::Permanent(_) => Outcome::Permanent,
            };
            let chain = ErrorChain(&err).to_string();
            // One line either way; its level and message say whether the
            // record will be retried.
            macro_rules! store_failure {
                ($level:ident, $message:literal) => {
                    tracing::$level!(
                        stage = STAGE,
                        outcome = outcome.as_str(),
                        message_id,
                        order_id = %order_id,
                        owner = %message.owner,
                        correlation_id = %correlation_id,
                        age_ms,
                        error = %chain,
                        $message
                    )
                };
            }
            if err.is_transient() {
                store_failure!(warn, "store unavailable; record will be retried");
            } else {
                store_failure!(error, "store refused the order");
            }
            outcome
        }
    }
}

/// The worker DLQ message for a record that can never succeed: its body
/// unchanged, its group, and a deduplication id from its message id.
fn dead_letter(
    record: &SqsMessage,
    message_id: &str,
    reason: DeadLetterReason,
    message: Option<&OrderMessage>,
) -> DeadLetter {
    let mut letter = DeadLetter::new(record.body.clone().unwrap_or_default(), reason, STAGE)
        .with_attribute(DEAD_LETTER_SOURCE_MESSAGE_ID_ATTRIBUTE, Some(message_id))
        .with_attribute(
            DEAD_LETTER_ORDER_ID_ATTRIBUTE,
            message.map(|m| m.order_id.as_str()),
        )
        .with_attribute(
            DEAD_LETTER_OWNER_ATTRIBUTE,
            message.map(|m| m.owner.as_str()),
        )
        .with_attribute(
            CORRELATION_ID_ATTRIBUTE,
            message
                .map(|m| m.correlation_id.as_str())
                .or_else(|| message_attribute(record, CORRELATION_ID_ATTRIBUTE)),
        );
    if let Some(group) = message_group(record) {
        letter = letter.with_fifo(group.to_owned(), message_id.to_owned());
    }
    letter
}

/// A string message attribute of the record (intake sets `correlationId`).
fn message_attribute<'a>(record: &'a SqsMessage, name: &str) -> Option<&'a str> {
    record
        .message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

/// Sends to the worker DLQ; `true` when it holds the message.
async fn send_dead_letter(deps: &Deps, letter: &DeadLetter, message_id: &str) -> bool {
    match deps.dead_letters.send(letter).await {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(
                stage = STAGE,
                message_id,
                error = %ErrorChain(&err),
                "worker DLQ unavailable; record reported failed and retried instead"
            );
            false
        }
    }
}

fn log_ok(
    outcome: Outcome,
    record: &SqsMessage,
    message_id: &str,
    message: &OrderMessage,
    age_ms: u64,
) {
    tracing::info!(
        stage = STAGE,
        outcome = outcome.as_str(),
        message_id,
        order_id = %message.order_id,
        owner = %message.owner,
        correlation_id = %message.correlation_id,
        age_ms,
        // Intake's X-Ray trace header, which SQS hands over as a system
        // attribute: finds the joined intake + worker trace from this line.
        // https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sqs.html
        trace_header = record
            .attributes
            .get(orders_adapters::ports::AWS_TRACE_HEADER_ATTRIBUTE)
            .map(String::as_str),
        "order stored"
    );
}

fn log_poison(message_id: &str, err: &ContractError, dead_lettered: bool) {
    let outcome = Outcome::Poison { dead_lettered }.as_str();
    match err {
        // serde_json's message can quote the offending value (a name, an
        // address), so only its category and position are logged.
        ContractError::Malformed(source) => tracing::error!(
            stage = STAGE,
            outcome,
            message_id,
            dead_lettered,
            error = %err,
            error_category = ?source.classify(),
            error_line = source.line(),
            error_column = source.column(),
            "poison message: body is not a valid order message"
        ),
        ContractError::UnsupportedVersion(version) => tracing::error!(
            stage = STAGE,
            outcome,
            message_id,
            dead_lettered,
            error = %err,
            schema_version = version,
            "poison message: unsupported schemaVersion"
        ),
    }
}

/// A failing record returns to the queue; at the redrive threshold SQS moves it
/// to the DLQ instead, which an operator should hear about from the log.
fn warn_if_moving_to_dlq(record: &SqsMessage, message_id: &str, outcome: Outcome) {
    let receive_count = backoff::receive_count(record);
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
