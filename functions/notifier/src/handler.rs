//! The stream batch handler: publishes one `OrderCreated` per `INSERT`, in
//! stream order, in `PublishBatch` calls of up to ten entries.
//!
//! # Publishing in batches, retrying only what was refused
//!
//! Consecutive `INSERT`s are published with SNS `PublishBatch`, up to ten
//! entries (and 256 KiB) per call
//! (<https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>).
//! Each entry succeeds or fails on its own, and the call answers `200` even
//! when some failed, so every entry's result is read. Entries refused in a
//! way a retry may fix (throttling, an SNS fault, a call that failed as a
//! whole) are sent again, alone, inside the same invocation, with
//! exponential backoff and full jitter ([`crate::backoff`]), for as long as
//! the invocation's deadline allows. An entry SNS accepted is never sent
//! again: not by this invocation, and not by a retry of its batch
//! ([`crate::ahead`]). An unreadable record ends the current call first, so
//! side effects stay in stream order.
//!
//! # Checkpointing
//!
//! A stream shard is ordered, and Lambda's partial batch response for streams
//! is a checkpoint: it retries from the *lowest* reported sequence number
//! onwards (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>).
//! Only what is still refused when the retry budget runs out is reported,
//! the lowest of it being the checkpoint; the records after it that were
//! not attempted are reported too (`pending`). A record that will fail the
//! same way on every attempt (an unreadable image, a publish the topic
//! refuses for good) must not hold the good records behind it hostage: its
//! description (table, key, sequence number, stream, reason; never the
//! image) goes to the notifier DLQ (`NOTIFIER_DLQ_URL`) and the batch goes
//! on. The handler never returns `Err` for a record problem, which would
//! retry the whole batch and republish the records before the failure.
//!
//! Publishing is at least once: a crash or timeout between SNS accepting an
//! event and the answer repeats it, with the same `OrderCreated.eventId`,
//! which consumers drop.
//!
//! # Logs
//!
//! One line per processed record with `stage="notifier"`, `outcome`,
//! `sequence_number`, and `order_id`/`correlation_id` when known; once the
//! topic answered, `age_ms` (the order's age since `acceptedAt`: the stack's
//! accepted → notified latency metric) and `attempts`. Images are never
//! logged: they hold the customer's name and address.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::LambdaEvent;
use orders_adapters::ports::{
    CORRELATION_ID_ATTRIBUTE, DEAD_LETTER_ORDER_ID_ATTRIBUTE, DEAD_LETTER_OWNER_ATTRIBUTE,
    DEAD_LETTER_SEQUENCE_NUMBER_ATTRIBUTE, DeadLetter, DeadLetterReason, EntryResult,
    MAX_PUBLISH_BATCH_ENTRIES, PortError,
};
use orders_adapters::record::{ItemMapping, KEY_ATTRIBUTE, StoredOrder};
use orders_adapters::telemetry::ErrorChain;
use orders_domain::contract::OrderCreated;
use serde_dynamo::AttributeValue;

use crate::backoff::RetryBudget;
use crate::config::Deps;
use crate::dead_letter;
use crate::outcome::{Outcome, batch_response};

/// The `stage` field of every log line this function writes.
const STAGE: &str = "notifier";

/// The stream event name of a newly written item.
const INSERT: &str = "INSERT";

/// Handles one stream batch: publishes `OrderCreated` for each `INSERT`, in
/// stream order and in `PublishBatch` calls of up to ten, retries what SNS
/// refused while the deadline allows, dead-letters the records that can
/// never be published, and checkpoints at the lowest record still unsettled.
/// Never fails the whole invocation for a record problem.
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let budget = RetryBudget::from_deadline(event.context.deadline);
    let records = event.payload.records;
    let outcomes = Batch::new(deps, &records, budget).run().await;
    Ok(batch_response(records.iter().zip(outcomes).map(
        |(record, outcome)| (record.change.sequence_number.as_deref(), outcome),
    )))
}

/// What a stream record asks of the notifier.
enum Read {
    /// Not an `INSERT`: nothing to publish.
    Skip,
    /// An `INSERT` whose image is an order: publish this event.
    Publish(Box<OrderCreated>),
    /// An `INSERT` whose image is not a readable order.
    Poison(orders_adapters::record::RecordError),
}

fn read_record(record: &EventRecord) -> Read {
    if record.event_name != INSERT {
        return Read::Skip;
    }
    match StoredOrder::from_item(record.change.new_image.clone()) {
        Ok(stored) => Read::Publish(Box::new(OrderCreated::new(
            stored.owner,
            stored.order_id,
            stored.correlation_id,
            stored.accepted_at,
            stored.created_at,
            &stored.order,
        ))),
        Err(err) => Read::Poison(err),
    }
}

/// One invocation's walk through its records.
struct Batch<'a> {
    deps: &'a Deps,
    records: &'a [EventRecord],
    budget: RetryBudget,
    /// One per record, `Pending` until settled.
    outcomes: Vec<Outcome>,
    /// Consecutive INSERTs waiting for one publish round: (position, event).
    waiting: Vec<(usize, OrderCreated)>,
    /// Whether a record stayed unsettled: nothing later is attempted.
    checkpointed: bool,
    /// The records acknowledged as already notified: (position, eventId).
    acknowledged: Vec<(usize, String)>,
}

impl<'a> Batch<'a> {
    fn new(deps: &'a Deps, records: &'a [EventRecord], budget: RetryBudget) -> Self {
        Self {
            deps,
            records,
            budget,
            outcomes: vec![Outcome::Pending; records.len()],
            waiting: Vec::new(),
            checkpointed: false,
            acknowledged: Vec::new(),
        }
    }

    /// One outcome per record, in stream order.
    async fn run(mut self) -> Vec<Outcome> {
        for (index, record) in self.records.iter().enumerate() {
            match read_record(record) {
                Read::Skip => {
                    log_skipped(record);
                    self.outcomes[index] = Outcome::Skipped;
                }
                Read::Publish(event) if self.deps.ahead.contains(&event.event_id) => {
                    self.outcomes[index] = Outcome::AlreadyNotified;
                    log_already_notified(record, &event);
                    self.acknowledged.push((index, event.event_id));
                }
                Read::Publish(event) => {
                    self.waiting.push((index, *event));
                    if self.waiting.len() == MAX_PUBLISH_BATCH_ENTRIES {
                        self.publish_waiting().await;
                    }
                }
                Read::Poison(err) => {
                    // Earlier INSERTs first, so a failure there stays the checkpoint.
                    self.publish_waiting().await;
                    if !self.checkpointed {
                        self.outcomes[index] = dead_letter_poison(self.deps, record, &err).await;
                        self.checkpointed |= self.outcomes[index].is_failure();
                    }
                }
            }
            if self.checkpointed {
                break;
            }
        }
        self.publish_waiting().await;
        self.finish()
    }

    /// Forgets the remembered events that are now settled before the
    /// checkpoint (no retry brings them back) and logs what is left.
    fn finish(self) -> Vec<Outcome> {
        let checkpoint = self
            .outcomes
            .iter()
            .position(|o| o.is_failure())
            .unwrap_or(self.records.len());
        for (_, event_id) in self.acknowledged.iter().filter(|(i, _)| *i < checkpoint) {
            self.deps.ahead.forget(event_id);
        }
        let unsettled = self.outcomes.iter().filter(|o| o.is_failure()).count();
        if unsettled > 0 {
            tracing::info!(
                stage = STAGE,
                unsettled,
                "records left for the retry from the checkpoint"
            );
        }
        self.outcomes
    }

    /// Publishes the waiting events, retrying the refused ones while the
    /// budget allows, and settles each in stream order.
    async fn publish_waiting(&mut self) {
        if self.waiting.is_empty() || self.checkpointed {
            return;
        }
        let waiting = std::mem::take(&mut self.waiting);
        let results = publish_with_retries(self.deps, &waiting, &self.budget).await;
        for ((index, event), (result, attempts)) in waiting.iter().zip(results) {
            let Some(record) = self.records.get(*index) else {
                continue;
            };
            let outcome = match result {
                // Accepted after the checkpoint: settled, and remembered so
                // that the retry of this batch does not publish it again.
                Ok(()) if self.checkpointed => {
                    self.deps.ahead.remember(&event.event_id);
                    log_published(record, event, attempts);
                    Outcome::Notified
                }
                // Refused for good after the checkpoint: the retry meets it
                // again (SNS did not publish it) and dead-letters it then, once.
                Err(err) if self.checkpointed && !err.is_transient() => Outcome::Pending,
                result => settle(self.deps, record, event, result, attempts).await,
            };
            self.outcomes[*index] = outcome;
            self.checkpointed |= outcome.is_failure();
        }
    }
}

/// Publishes `waiting`; sends again, alone, every entry refused in a way a
/// retry may fix, with backoff, until none is left or the budget runs out.
/// One result per event, with the number of calls it took part in.
async fn publish_with_retries(
    deps: &Deps,
    waiting: &[(usize, OrderCreated)],
    budget: &RetryBudget,
) -> Vec<(EntryResult, u32)> {
    let mut settled: Vec<Option<(EntryResult, u32)>> = waiting.iter().map(|_| None).collect();
    let mut unsettled: Vec<usize> = (0..waiting.len()).collect();
    let mut attempt: u32 = 0;
    let mut last_errors: Vec<Option<PortError>> = waiting.iter().map(|_| None).collect();
    loop {
        attempt += 1;
        let events: Vec<OrderCreated> = unsettled.iter().map(|&i| waiting[i].1.clone()).collect();
        let mut results = deps.publisher.publish_batch(&events).await.into_iter();
        let mut refused = Vec::new();
        for &i in &unsettled {
            // A publisher owes one result per event; a missing one may or may
            // not have been published, so it is retried.
            let result = results.next().unwrap_or_else(|| {
                Err(PortError::Transient(
                    "the publisher returned no result for this event".into(),
                ))
            });
            match result {
                Err(err) if err.is_transient() => {
                    last_errors[i] = Some(err);
                    refused.push(i);
                }
                result => settled[i] = Some((result, attempt)),
            }
        }
        unsettled = refused;
        if unsettled.is_empty() || !budget.wait(attempt).await {
            break;
        }
        tracing::debug!(
            stage = STAGE,
            refused = unsettled.len(),
            attempt,
            "publishing again what SNS refused"
        );
    }
    for i in unsettled {
        let err = last_errors[i]
            .take()
            .unwrap_or_else(|| PortError::Transient("refused".into()));
        settled[i] = Some((Err(err), attempt));
    }
    settled
        .into_iter()
        .map(|s| s.unwrap_or_else(|| (Err(PortError::Transient("not attempted".into())), 0)))
        .collect()
}

/// The outcome of one event before the checkpoint.
async fn settle(
    deps: &Deps,
    record: &EventRecord,
    event: &OrderCreated,
    result: EntryResult,
    attempts: u32,
) -> Outcome {
    let sequence_number = record.change.sequence_number.as_deref().unwrap_or_default();
    // The order's age once SNS answered: the accepted -> notified latency.
    let age_ms =
        orders_adapters::telemetry::age_ms(event.accepted_at, time::OffsetDateTime::now_utc());
    match result {
        Ok(()) => {
            log_published(record, event, attempts);
            Outcome::Notified
        }
        Err(err) if err.is_transient() => {
            tracing::warn!(
                    stage = STAGE,
                    outcome = Outcome::Failed.as_str(),
                    sequence_number,
                    order_id = %event.order_id,
            owner = %event.owner,
                    correlation_id = %event.correlation_id,
                    age_ms,
                    attempts,
                    error = %ErrorChain(&err),
                    transient = true,
                    "publish still refused when the retry budget ran out; retrying from this record"
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
            owner = %event.owner,
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

fn log_published(record: &EventRecord, event: &OrderCreated, attempts: u32) {
    let age_ms =
        orders_adapters::telemetry::age_ms(event.accepted_at, time::OffsetDateTime::now_utc());
    tracing::info!(
        stage = STAGE,
        outcome = Outcome::Notified.as_str(),
        sequence_number = record.change.sequence_number.as_deref().unwrap_or_default(),
        order_id = %event.order_id,
        owner = %event.owner,
        correlation_id = %event.correlation_id,
        age_ms,
        attempts,
        event_id = event.event_id.as_str(),
        "OrderCreated published"
    );
}

fn log_already_notified(record: &EventRecord, event: &OrderCreated) {
    tracing::info!(
        stage = STAGE,
        outcome = Outcome::AlreadyNotified.as_str(),
        sequence_number = record.change.sequence_number.as_deref().unwrap_or_default(),
        order_id = %event.order_id,
        owner = %event.owner,
        correlation_id = %event.correlation_id,
        event_id = event.event_id.as_str(),
        "SNS accepted this event in an earlier attempt of the batch: not published again"
    );
}

fn log_skipped(record: &EventRecord) {
    tracing::info!(
        stage = STAGE,
        outcome = Outcome::Skipped.as_str(),
        sequence_number = record.change.sequence_number.as_deref().unwrap_or_default(),
        event_name = record.event_name.as_str(),
        order_id = key_order_id(record),
        owner = key_owner(record),
        correlation_id = image_correlation_id(record),
        "not an INSERT: acknowledged without publishing"
    );
}

/// Dead-letters an unreadable `INSERT`; `Poison` once the DLQ holds it,
/// else `Failed` (the checkpoint).
async fn dead_letter_poison(
    deps: &Deps,
    record: &EventRecord,
    err: &orders_adapters::record::RecordError,
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
        owner = key_owner(record),
        correlation_id = image_correlation_id(record),
        dead_lettered,
        error = %err,
        "poison record: INSERT image is not a readable order"
    );
    outcome
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
        .with_attribute(DEAD_LETTER_OWNER_ATTRIBUTE, key_owner(record))
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

/// The record's table key (owner key and order id), for the dead letter
/// that lets an operator find the order again.
pub(crate) fn record_key(record: &EventRecord) -> Option<&str> {
    string_attribute(&record.change.keys, KEY_ATTRIBUTE)
}

/// The order id from the record's key, for logging records that are not read
/// as orders. Ids are not personal data.
pub(crate) fn key_order_id(record: &EventRecord) -> Option<&str> {
    record_key(record)
        .and_then(orders_adapters::record::split_order_key)
        .map(|(_, id)| id)
}

/// The owner key from the record's key (an opaque key, never an identity).
pub(crate) fn key_owner(record: &EventRecord) -> Option<&str> {
    record_key(record)
        .and_then(orders_adapters::record::split_order_key)
        .map(|(owner, _)| owner)
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
