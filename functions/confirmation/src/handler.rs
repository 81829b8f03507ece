//! One batch of the confirmation queue becomes the customers' e-mails.
//!
//! For each record, in order (sends are paced, so one at a time):
//!
//! 1. The record is read with [`OrderCreated::from_sqs_body`]; one that
//!    cannot be is poison, reported alone. A repeat of an event earlier in
//!    the batch is dropped.
//! 2. The order's item is read (strongly consistent `GetItem`, by the
//!    event's owner and order id): the address comes from the table, never
//!    the event, which carries none. The sent mark is checked first: a
//!    re-post, a redrive or a renotify of a confirmed order sends nothing.
//!    No address: nothing to send. An unexpired claim: another delivery is
//!    at it (or died holding it); the record comes back after the queue's
//!    visibility timeout, as often as it takes the claim to expire (6
//!    minutes against 15: the third receive after a crash sends).
//! 3. A claim is taken on the item (conditional `UpdateItem`), for
//!    [`crate::settings::CLAIM_FOR`]; only then is the e-mail sent through SES, and the sent
//!    mark written in the claim's place (conditional on still holding it).
//!    A crash between the send and the mark leaves the claim: a redelivery
//!    waits for it to expire and sends again, the one duplicate possible.
//! 4. A refusal that never passes (see [`crate::mailer`]) writes the failed
//!    mark with its reason code, counts the `ConfirmationFailed` metric and
//!    is not retried. A throttle or a fault that may pass releases the claim
//!    and keeps the record invisible for a backoff
//!    (`ChangeMessageVisibility`, [`BACKOFF_SECS`]), reporting it failed.
//!
//! Sends are paced (`orders_adapters::pacing`) so the function stays within the
//! account's maximum send rate, and a send that no longer fits the
//! invocation's time is not started. One log line per record and one per
//! batch: ids, outcomes and reason codes, never the address or the name.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use orders_adapters::telemetry::ErrorChain;
use orders_domain::confirmation::ConfirmationMarks;
use orders_domain::contract::OrderCreated;
use orders_domain::record::order_key;
use time::OffsetDateTime;
use tokio::time::Instant;
use tracing::{info, instrument, warn};

use crate::config::Deps;
use crate::mailer::{ConfirmationEmail, Verdict};
use crate::message::render;
use crate::outcome::{FailReason, Outcome, batch_response};
use crate::settings::BACKOFF_SECS;
use crate::store::{Claim, OrderToConfirm, Written};

/// The `stage` field of every log line this function writes.
const STAGE: &str = "confirmation";

/// Time a send needs besides its pace: `SendEmail` with the SDK's
/// retries, and the mark after it. A send is started only while this and
/// the pace interval remain before the invocation's deadline.
pub const SEND_RESERVE: Duration = Duration::from_secs(10);

/// Handles one batch of the confirmation queue and reports the records to
/// retry. Never fails the invocation for a record problem.
#[instrument(
    name = "confirmation",
    skip_all,
    fields(request_id = %event.context.request_id)
)]
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = deadline(&event.context);
    let records = event.payload.records;
    let mut outcomes = Vec::with_capacity(records.len());
    let mut seen = HashSet::new();
    for record in &records {
        let outcome = match OrderCreated::from_sqs_body(record.body.as_deref().unwrap_or_default())
        {
            Ok(order) if !seen.insert(order.event_id.clone()) => {
                log_record(record, Some(&order), Outcome::AlreadySent);
                Outcome::AlreadySent
            }
            Ok(order) => {
                let outcome = confirm(deps, record, &order, deadline).await;
                log_record(record, Some(&order), outcome);
                outcome
            }
            Err(err) => {
                // The error's own words only: its sources may quote the body.
                warn!(stage = STAGE, outcome = Outcome::Poison.as_str(), message_id = record.message_id.as_deref().unwrap_or_default(), error = %err, "unreadable OrderCreated");
                Outcome::Poison
            }
        };
        outcomes.push(outcome);
    }
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    info!(
        stage = STAGE,
        outcome = "batch",
        records = records.len(),
        sent = count(|o| *o == Outcome::Sent),
        already_sent = count(|o| *o == Outcome::AlreadySent),
        not_requested = count(|o| *o == Outcome::NotRequested),
        refused = count(|o| matches!(o, Outcome::Refused(_))),
        poison = count(|o| *o == Outcome::Poison),
        failed = count(|o| matches!(o, Outcome::Failed(_))),
        "confirmation batch"
    );
    Ok(batch_response(&records, &outcomes))
}

/// The table key of the event's order: its owner's and id's
/// ([`order_key`], the one rule every stage keys the table by).
pub fn table_key(event: &OrderCreated) -> String {
    order_key(&event.owner, &event.order_id)
}

/// Settles one event: steps 2 to 4 of the module's list.
async fn confirm(
    deps: &Deps,
    record: &SqsMessage,
    event: &OrderCreated,
    deadline: Option<Instant>,
) -> Outcome {
    let key = table_key(event);
    let found = match deps.store().order(&key).await {
        Ok(Some(found)) => found,
        Ok(None) => return Outcome::OrderMissing,
        Err(err) => {
            warn!(stage = STAGE, order_id = %event.order_id, error = %ErrorChain(&err), "order not read");
            return back_off(deps, record, FailReason::StoreFailed).await;
        }
    };
    let now = unix_now();
    if let Some(settled) = settled(&found, now) {
        // A held claim leaves the record to the queue's own visibility
        // timeout: it scales with every other wait, where a delay until the
        // claim's expiry would be counted twice by a runner that scales both.
        return settled;
    }
    let Some(to) = found.order.order.customer_email().cloned() else {
        return Outcome::NotRequested;
    };
    let pacer = deps.pacer();
    let started = Instant::now();
    if deadline.is_some_and(|d| started + pacer.interval() + deps.send_reserve() > d) {
        return Outcome::Failed(FailReason::OutOfTime);
    }
    let claim = Claim {
        token: uuid::Uuid::new_v4().simple().to_string(),
        until: now.saturating_add(seconds(deps.claim_for())),
    };
    match deps.store().claim(&key, &claim, now).await {
        Ok(Written::Done) => {}
        Ok(Written::Refused) => {
            // Sent, failed or claimed since the read: the next delivery
            // reads which, after the visibility timeout.
            return Outcome::Failed(FailReason::ClaimedElsewhere);
        }
        Err(err) => {
            warn!(stage = STAGE, order_id = %event.order_id, error = %ErrorChain(&err), "claim failed");
            return back_off(deps, record, FailReason::StoreFailed).await;
        }
    }
    let rendered = render(&found.order, deps.api_url());
    let email = ConfirmationEmail {
        to,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
    };
    let sent = deps.mailer().send(&email).await;
    pacer.after_send(started).await;
    match sent {
        Ok(message_id) => {
            mark(
                deps.store()
                    .mark_sent(&key, &claim, OffsetDateTime::now_utc(), &message_id)
                    .await,
                event,
                "sent mark not written; the claim lapses and a redelivery would send again",
            );
            Outcome::Sent
        }
        Err(err) => match err.verdict {
            Verdict::Refused(reason) => {
                let written = deps.store().mark_failed(&key, &claim, reason).await;
                if !matches!(written, Ok(Written::Done)) {
                    // Retried: the next delivery is refused again and marks
                    // it then; counted once, when marked.
                    mark(written, event, "failed mark not written; retried");
                    return back_off(deps, record, FailReason::StoreFailed).await;
                }
                deps.metrics().refused(reason);
                Outcome::Refused(reason)
            }
            Verdict::Retry => {
                warn!(stage = STAGE, order_id = %event.order_id, code = %err.code, "SES did not take the confirmation; retried");
                mark(
                    deps.store().release(&key, &claim).await,
                    event,
                    "release failed; the claim lapses",
                );
                back_off(deps, record, FailReason::SendRetry).await
            }
        },
    }
}

/// What the item's marks settle before any send: sent, failed, or held
/// by another delivery's unexpired claim.
fn settled(found: &OrderToConfirm, now: i64) -> Option<Outcome> {
    let ConfirmationMarks {
        confirmation_sent_at,
        confirmation_failed,
        confirmation_claim_until,
        ..
    } = &found.marks;
    if confirmation_sent_at.is_some() {
        Some(Outcome::AlreadySent)
    } else if confirmation_failed.is_some() {
        Some(Outcome::AlreadyFailed)
    } else if confirmation_claim_until.is_some_and(|until| until > now) {
        Some(Outcome::Failed(FailReason::ClaimedElsewhere))
    } else {
        None
    }
}

/// Logs a mark or release that was not written (the claim lapses then).
fn mark(
    written: Result<Written, orders_adapters::ports::PortError>,
    event: &OrderCreated,
    what: &str,
) {
    match written {
        Ok(Written::Done) => {}
        Ok(Written::Refused) => {
            warn!(stage = STAGE, order_id = %event.order_id, "{what}: the claim was no longer held");
        }
        Err(err) => {
            warn!(stage = STAGE, order_id = %event.order_id, error = %ErrorChain(&err), "{what}");
        }
    }
}

/// Keeps the record invisible for the backoff of its receive count, and
/// says it failed for `reason`.
async fn back_off(deps: &Deps, record: &SqsMessage, reason: FailReason) -> Outcome {
    delay(deps, record, backoff(receive_count(record))).await;
    Outcome::Failed(reason)
}

/// Changes the record's visibility; a refused change is logged and the
/// queue's own timeout applies.
async fn delay(deps: &Deps, record: &SqsMessage, delay: Duration) {
    let Some(handle) = record.receipt_handle.as_deref() else {
        return;
    };
    if let Err(err) = deps.visibility().delay(handle, delay).await {
        warn!(stage = STAGE, message_id = record.message_id.as_deref().unwrap_or_default(), error = %ErrorChain(&err), "backoff not set; the visibility timeout applies");
    }
}

/// How many times SQS has delivered the record (1 on the first receive).
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The backoff after the `receive`-th receive: a draw from its step of
/// [`BACKOFF_SECS`] (the last step for any later receive).
pub fn backoff(receive: u32) -> Duration {
    let step = usize::try_from(receive.max(1) - 1)
        .unwrap_or(usize::MAX)
        .min(BACKOFF_SECS.len() - 1);
    let (floor, ceiling) = BACKOFF_SECS[step];
    Duration::from_secs(fastrand::u64(floor..=ceiling))
}

/// One log line per record: ids, outcome and reason code.
fn log_record(record: &SqsMessage, event: Option<&OrderCreated>, outcome: Outcome) {
    info!(
        stage = STAGE,
        outcome = outcome.as_str(),
        reason = outcome.reason(),
        message_id = record.message_id.as_deref().unwrap_or_default(),
        event_id = event.map(|e| e.event_id.as_str()).unwrap_or_default(),
        order_id = event.map(|e| e.order_id.as_str()).unwrap_or_default(),
        correlation_id = event.map(|e| e.correlation_id.as_str()).unwrap_or_default(),
        "confirmation order"
    );
}

/// Until when this invocation may send: Lambda's deadline on tokio's clock.
/// `None` when the context has none (a hand-built one in tests).
fn deadline(context: &Context) -> Option<Instant> {
    orders_adapters::deadline::on_tokio_clock(context.deadline)
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
