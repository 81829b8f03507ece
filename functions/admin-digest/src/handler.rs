//! One batch of the digest queue becomes the admin's e-mails.
//!
//! 1. Each record is read with [`OrderCreated::from_sqs_body`]; one that
//!    cannot be is poison, reported alone.
//! 2. Repeats are dropped by `eventId`: within the batch, then across
//!    batches by claiming each id in the consumer kit's idempotency store
//!    ([`ProcessedEvents`]). An id e-mailed before is a duplicate; one
//!    claimed by a delivery still in flight is retried later.
//! 3. The new orders become e-mails ([`crate::email::plan`]): the detail of
//!    one order, else a digest, split only at SNS's message limit. Each is
//!    sent to the admin topic, then paced ([`orders_adapters::pacing`]). After a send
//!    the topic accepted, the claims of its orders are completed; after one
//!    it refused, they are released and its records reported, so SQS
//!    delivers them again after the visibility timeout. An e-mail that no
//!    longer fits the invocation's time is not sent: its records are
//!    released and reported the same way.
//!
//! The answer reports exactly the records to retry ([`crate::outcome`]).
//! One log line per record and one per batch, ids only.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use lambda_runtime::{Context, LambdaEvent};
use order_consumer::idempotency::{Claim, ProcessedEvents, StoreError};
use orders_adapters::telemetry::ErrorChain;
use orders_domain::contract::OrderCreated;
use tokio::time::Instant;
use tracing::{info, instrument, warn};

use crate::config::{Deps, LOCK_FOR, REMEMBER_FOR};
use crate::email::{self, Email};
use crate::outcome::{FailReason, Outcome, batch_response};

/// The `stage` field of every log line this function writes.
const STAGE: &str = "admin-digest";

/// Time an e-mail needs besides its pace: the `Publish` call with the
/// SDK's retries, and settling its claims. An e-mail is sent only while
/// this and the pace interval remain before the invocation's deadline.
pub const SEND_RESERVE: Duration = Duration::from_secs(10);

/// Idempotency store calls made at once (one conditional write each).
const STORE_CONCURRENCY: usize = 32;

/// Handles one batch of the digest queue and reports the records to retry.
/// Never fails the invocation for a record problem.
#[instrument(
    name = "admin-digest",
    skip_all,
    // Each line names its stage, and the batch line its record count: the
    // span adds only what no line carries, so no field is written twice.
    fields(request_id = %event.context.request_id)
)]
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = deadline(&event.context);
    let records = event.payload.records;
    // A record stays failed (retried) unless something below settles it.
    let mut outcomes = vec![Outcome::Failed(FailReason::OutOfTime); records.len()];

    let fresh = read(&records, &mut outcomes);
    let new = claim(deps, &records, fresh, &mut outcomes).await;
    let (positions, orders): (Vec<usize>, Vec<OrderCreated>) = new.into_iter().unzip();
    let emails = email::plan(&orders);
    let mut sent = 0;
    for (number, mail) in emails.iter().enumerate() {
        let listed = orders.get(mail.orders.clone()).unwrap_or_default();
        let outcome = send(deps, mail, listed, deadline).await;
        if outcome == Outcome::Emailed {
            sent += 1;
        }
        for at in mail.orders.clone() {
            let (Some(&position), Some(order)) = (positions.get(at), orders.get(at)) else {
                continue;
            };
            outcomes[position] = outcome;
            log_order(&records[position], order, outcome, Some(number + 1));
        }
    }

    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    info!(
        stage = STAGE,
        outcome = "batch",
        records = records.len(),
        emailed = count(|o| *o == Outcome::Emailed),
        duplicates = count(|o| *o == Outcome::Duplicate),
        poison = count(|o| *o == Outcome::Poison),
        failed = count(|o| matches!(o, Outcome::Failed(_))),
        emails = emails.len(),
        emails_sent = sent,
        "admin digest batch"
    );
    Ok(batch_response(&records, &outcomes))
}

/// Until when this invocation may send: Lambda's deadline on tokio's clock.
/// `None` when the context has none (a hand-built one in tests).
fn deadline(context: &Context) -> Option<Instant> {
    orders_adapters::deadline::on_tokio_clock(context.deadline)
}

/// Reads every record; settles the unreadable ones (poison) and the
/// repeats within the batch (duplicate), and returns the others with their
/// positions.
fn read(records: &[SqsMessage], outcomes: &mut [Outcome]) -> Vec<(usize, OrderCreated)> {
    let mut seen = HashSet::new();
    let mut fresh = Vec::with_capacity(records.len());
    for (position, record) in records.iter().enumerate() {
        match OrderCreated::from_sqs_body(record.body.as_deref().unwrap_or_default()) {
            Ok(order) if seen.insert(order.event_id.clone()) => fresh.push((position, order)),
            Ok(order) => {
                outcomes[position] = Outcome::Duplicate;
                log_order(record, &order, Outcome::Duplicate, None);
            }
            Err(err) => {
                outcomes[position] = Outcome::Poison;
                // The error's own words only: its sources may quote the body.
                warn!(
                    stage = STAGE,
                    outcome = Outcome::Poison.as_str(),
                    message_id = record.message_id.as_deref().unwrap_or_default(),
                    error = %err,
                    "unreadable OrderCreated"
                );
            }
        }
    }
    fresh
}

/// Claims every fresh event id; settles the ones e-mailed before
/// (duplicate) and the ones that cannot be claimed now (failed), and
/// returns the new ones.
async fn claim(
    deps: &Deps,
    records: &[SqsMessage],
    fresh: Vec<(usize, OrderCreated)>,
    outcomes: &mut [Outcome],
) -> Vec<(usize, OrderCreated)> {
    let now = unix_now();
    let lock_until = now.saturating_add(seconds(LOCK_FOR));
    let keys: Vec<&str> = fresh.iter().map(|(_, o)| o.dedup_key()).collect();
    let store = deps.processed();
    let claims = each(&keys, |key| store.claim(key, now, lock_until)).await;
    let mut new = Vec::with_capacity(fresh.len());
    for ((position, order), claim) in fresh.into_iter().zip(claims) {
        let outcome = match claim {
            Ok(Claim::New) => {
                new.push((position, order));
                continue;
            }
            Ok(Claim::AlreadyDone) => Outcome::Duplicate,
            Ok(Claim::InProgress) => Outcome::Failed(FailReason::ClaimedElsewhere),
            Err(err) => {
                warn!(stage = STAGE, event_id = order.dedup_key(), error = %ErrorChain(&err), "claim failed");
                Outcome::Failed(FailReason::StoreFailed)
            }
        };
        outcomes[position] = outcome;
        log_order(&records[position], &order, outcome, None);
    }
    new
}

/// Sends one e-mail listing `orders` (unless the invocation's time is too
/// short for it and its pace), settles their claims, then keeps the pace.
async fn send(
    deps: &Deps,
    mail: &Email,
    orders: &[OrderCreated],
    deadline: Option<Instant>,
) -> Outcome {
    let pacer = deps.pacer();
    let started = Instant::now();
    let fits = deadline.is_none_or(|d| started + pacer.interval() + SEND_RESERVE <= d);
    let outcome = if !fits {
        Outcome::Failed(FailReason::OutOfTime)
    } else {
        match deps.mailbox().send(&mail.subject, &mail.text).await {
            Ok(()) => Outcome::Emailed,
            Err(err) => {
                warn!(stage = STAGE, orders = orders.len(), error = %ErrorChain(&err), "admin e-mail not accepted");
                Outcome::Failed(FailReason::SendFailed)
            }
        }
    };
    settle(deps.processed(), orders, outcome).await;
    if fits {
        pacer.after_send(started).await;
    }
    outcome
}

/// Completes the claims of e-mailed orders, so a redelivery is dropped;
/// releases the others, so the retry of their records can claim them at
/// once. A call that fails is logged: a claim not completed lapses (a
/// redelivery is e-mailed again: at least once), one not released lapses
/// (the retry waits for it).
async fn settle(store: &dyn ProcessedEvents, orders: &[OrderCreated], outcome: Outcome) {
    let keys: Vec<&str> = orders.iter().map(OrderCreated::dedup_key).collect();
    let (results, what) = if outcome == Outcome::Emailed {
        let keep_until = unix_now().saturating_add(seconds(REMEMBER_FOR));
        let results = each(&keys, |key| store.complete(key, keep_until)).await;
        (results, "marking e-mailed failed; the claim lapses")
    } else {
        let results = each(&keys, |key| store.release(key)).await;
        (results, "release failed; the claim lapses")
    };
    for (key, result) in keys.iter().zip(results) {
        if let Err(err) = result {
            warn!(stage = STAGE, event_id = key, error = %ErrorChain(&err), "{what}");
        }
    }
}

/// One log line per record settled: ids, outcome, and which e-mail of the
/// batch listed it.
fn log_order(record: &SqsMessage, order: &OrderCreated, outcome: Outcome, email: Option<usize>) {
    let reason = match outcome {
        Outcome::Failed(reason) => reason.as_str(),
        _ => "",
    };
    info!(
        stage = STAGE,
        outcome = outcome.as_str(),
        reason,
        message_id = record.message_id.as_deref().unwrap_or_default(),
        event_id = order.dedup_key(),
        order_id = %order.order_id,
        correlation_id = %order.correlation_id,
        email,
        "admin digest order"
    );
}

/// Runs `call` for every key, [`STORE_CONCURRENCY`] at a time; one result
/// per key, in order.
async fn each<'k, T, F, Fut>(keys: &[&'k str], call: F) -> Vec<Result<T, StoreError>>
where
    F: Fn(&'k str) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut results = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(STORE_CONCURRENCY) {
        results.extend(join_all(chunk.iter().map(|key| call(key))).await);
    }
    results
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
