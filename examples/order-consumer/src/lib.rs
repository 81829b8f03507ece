//! An example consumer of `OrderCreated` events, for a team to copy.
//!
//! A Lambda function on the team's SQS queue, which is subscribed to the
//! order-events topic with raw message delivery and a filter policy
//! (`infra/consumer-template.yaml`). For every record of a batch it:
//!
//! 1. reads the event with [`OrderCreated::from_sqs_body`] (raw or inside
//!    the SNS envelope, so a subscription without raw delivery works too); an
//!    unreadable body or an unknown `schemaVersion` is poison;
//! 2. claims the event's `eventId` ([`OrderCreated::dedup_key`]) in the
//!    [`idempotency`] store, and drops a duplicate delivery;
//! 3. hands the event to the team's [`OrderCreatedHandler`], then marks the id
//!    done (or releases it when the handler failed).
//!
//! An order's identity is (`owner`, `orderId`): two callers may use the same
//! `orderId`, so a handler keys its own records on both (the `eventId`
//! already includes the owner). `owner` is an opaque key, never the
//! caller's identity; the order's item in the orders table is keyed by
//! `<owner>#<orderId>` ([`orders_domain::record::order_key`]).
//!
//! # Partial batch failures
//!
//! The event source mapping must have `FunctionResponseTypes:
//! [ReportBatchItemFailures]`. The handler never fails the invocation for a
//! record problem; it reports the records to retry, and [`failures_to_report`]
//! is the one rule that decides which:
//!
//! * standard queue (what an SNS standard topic delivers to): exactly the
//!   records that failed; the others are deleted;
//! * FIFO queue: processing stops at the first failure, and that record and
//!   *every later one* are reported, so nothing after it is handled ahead of
//!   it. This is AWS's advice for FIFO queues
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>).
//!
//! Poison is reported like any failure: after the queue's `maxReceiveCount`
//! receives the redrive policy moves it to the team's DLQ, whose alarm fires.
//!
//! # Logs
//!
//! One line per record: `message_id`, `outcome`, and `event_id`/`owner`/
//! `order_id` when readable. Never the body.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use orders_domain::contract::OrderCreated;

pub mod idempotency;

use idempotency::{Claim, ProcessedEvents};

/// Environment variable naming the idempotency table.
pub const PROCESSED_EVENTS_TABLE: &str = "PROCESSED_EVENTS_TABLE";

/// The team's work for one event. It may be called again for the same event
/// after a crash between its success and the id being marked done (at least
/// once); make its effect idempotent where that matters (e.g. keyed writes).
#[async_trait]
pub trait OrderCreatedHandler: Send + Sync {
    /// Handles one event; an error means "retry this record".
    async fn handle(
        &self,
        event: &OrderCreated,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// What the function needs, built once per cold start.
#[derive(Clone)]
pub struct Deps {
    /// Which event ids were handled.
    pub processed: Arc<dyn ProcessedEvents>,
    /// The team's work.
    pub handler: Arc<dyn OrderCreatedHandler>,
    /// How long a claim holds off other deliveries: at least the function's
    /// timeout, so a claim outlives the invocation that took it.
    pub lock_for: Duration,
    /// How long a handled id is remembered: longer than any redelivery or
    /// replay (the topic's producer replays within days).
    pub remember_for: Duration,
}

/// How long handled ids are remembered by default.
pub const REMEMBER_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a claim holds by default (the example function's timeout is 30 s).
pub const LOCK_FOR: Duration = Duration::from_secs(60);

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled now.
    Processed,
    /// Handled before (same `eventId`): dropped.
    Duplicate,
    /// Not an `OrderCreated` v1 this consumer can read.
    Poison,
    /// The handler or the store failed, or another delivery holds the claim.
    Failed,
    /// FIFO only: not attempted because an earlier record failed.
    NotAttempted,
}

impl Outcome {
    /// The `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::Poison => "poison",
            Self::Failed => "failed",
            Self::NotAttempted => "not-attempted",
        }
    }

    /// Whether SQS should deliver the record again.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Poison | Self::Failed | Self::NotAttempted)
    }
}

/// The batch rule: the positions of the records to report as failed, given
/// the outcomes in batch order. On a FIFO queue everything from the first
/// failure on is reported, whatever later outcomes say; on a standard queue
/// exactly the failures are.
pub fn failures_to_report(fifo: bool, outcomes: &[Outcome]) -> Vec<usize> {
    match (fifo, outcomes.iter().position(|o| o.is_failure())) {
        (true, Some(first)) => (first..outcomes.len()).collect(),
        (true, None) => Vec::new(),
        (false, _) => (0..outcomes.len())
            .filter(|i| outcomes[*i].is_failure())
            .collect(),
    }
}

/// The answer for `records` whose outcomes, in the same order, are
/// `outcomes`: the records [`failures_to_report`] names, by message id. A
/// record without a message id is reported with an empty identifier, which
/// Lambda treats as a failure of the whole batch: safer than dropping it.
pub fn batch_response(records: &[SqsMessage], outcomes: &[Outcome]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for index in failures_to_report(is_fifo(records), outcomes) {
        let id = records
            .get(index)
            .and_then(|r| r.message_id.clone())
            .unwrap_or_default();
        response.add_failure(id);
    }
    response
}

/// Whether the batch comes from a FIFO queue: its ARN ends in `.fifo`, or its
/// records carry a `MessageGroupId`.
pub fn is_fifo(records: &[SqsMessage]) -> bool {
    records.iter().any(|r| {
        r.event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(".fifo"))
            || r.attributes.contains_key("MessageGroupId")
    })
}

fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Reads, deduplicates and handles one record.
async fn process(deps: &Deps, record: &SqsMessage) -> Outcome {
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let event = match OrderCreated::from_sqs_body(record.body.as_deref().unwrap_or_default()) {
        Ok(event) => event,
        Err(err) => {
            tracing::warn!(
                message_id,
                outcome = Outcome::Poison.as_str(),
                error = &err as &dyn std::error::Error,
                "unreadable OrderCreated"
            );
            return Outcome::Poison;
        }
    };
    let key = event.dedup_key();
    let now = unix_seconds(SystemTime::now());
    let outcome = match deps
        .processed
        .claim(key, now, now.saturating_add(seconds(deps.lock_for)))
        .await
    {
        Ok(Claim::AlreadyDone) => Outcome::Duplicate,
        // Another instance is handling the same event (a standard queue may
        // deliver twice at once): let SQS bring it back after the visibility
        // timeout, when it is done or its claim has lapsed.
        Ok(Claim::InProgress) => Outcome::Failed,
        Err(err) => {
            tracing::warn!(
                message_id,
                event_id = key,
                error = &err as &dyn std::error::Error,
                "claim failed"
            );
            Outcome::Failed
        }
        Ok(Claim::New) => match deps.handler.handle(&event).await {
            Ok(()) => {
                let keep_until = now.saturating_add(seconds(deps.remember_for));
                if let Err(err) = deps.processed.complete(key, keep_until).await {
                    // The work is done; the claim lapses and a redelivery
                    // would be handled again (at least once), so report success.
                    tracing::warn!(
                        message_id,
                        event_id = key,
                        error = &err as &dyn std::error::Error,
                        "marking done failed"
                    );
                }
                Outcome::Processed
            }
            Err(err) => {
                tracing::warn!(
                    message_id,
                    event_id = key,
                    error = &*err as &dyn std::error::Error,
                    "handler failed"
                );
                if let Err(err) = deps.processed.release(key).await {
                    tracing::warn!(
                        message_id,
                        event_id = key,
                        error = &err as &dyn std::error::Error,
                        "release failed; the claim lapses"
                    );
                }
                Outcome::Failed
            }
        },
    };
    tracing::info!(
        message_id,
        outcome = outcome.as_str(),
        event_id = key,
        owner = %event.owner,
        order_id = %event.order_id,
        "order event"
    );
    outcome
}

/// Handles one SQS batch and reports the records to retry (see the module
/// documentation). Records are handled one after another, in batch order.
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id, records = event.payload.records.len()))]
pub async fn handle_batch(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let records = event.payload.records;
    let fifo = is_fifo(&records);
    let mut outcomes = Vec::with_capacity(records.len());
    for record in &records {
        let outcome = if fifo && outcomes.iter().any(|o: &Outcome| o.is_failure()) {
            Outcome::NotAttempted
        } else {
            process(deps, record).await
        };
        outcomes.push(outcome);
    }
    let response = batch_response(&records, &outcomes);
    Ok(response)
}

/// The example's [`OrderCreatedHandler`]: logs the ids and counts. Replace
/// it with the team's work.
#[derive(Debug, Default)]
pub struct LogOrderCreated;

#[async_trait]
impl OrderCreatedHandler for LogOrderCreated {
    async fn handle(
        &self,
        event: &OrderCreated,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tracing::info!(
            owner = %event.owner,
            order_id = %event.order_id,
            correlation_id = %event.correlation_id,
            lines = event.line_count,
            units = event.unit_count,
            "order created"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests;
