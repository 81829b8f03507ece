//! The last orders and the last failures, for the dashboard at `/` and
//! `GET /_local/status`.
//!
//! They are read from the stages' own outcome log lines (`stage`, `outcome`,
//! `order_id`, `age_ms`, `reason`, …) by a [`tracing_subscriber::Layer`],
//! the same lines the deployed stack's metric filters turn into metrics: what
//! the page shows locally is what CloudWatch shows in AWS. Log lines carry
//! ids only, never names, addresses or e-mails, and so do these buffers.
//! Both are bounded rings ([`RECENT_ORDERS`], [`RECENT_FAILURES`]).
//!
//! The layer is process-wide, like the tracing subscriber it belongs to:
//! `orders-local` installs it at start ([`layer`]); a library caller that
//! does not gets empty lists.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

use orders_adapters::sync::lock;
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// How many orders the status keeps.
pub const RECENT_ORDERS: usize = 20;
/// How many failures the status keeps.
pub const RECENT_FAILURES: usize = 20;
/// Longest error text kept for a failure (the rest is cut).
const MAX_REASON_CHARS: usize = 240;

/// One recent order, by id, with the age it had at each stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecentOrder {
    /// The order id.
    pub order_id: String,
    /// The order's owner key, once a line named it: two owners' orders
    /// with one id are two rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The request's correlation id.
    pub correlation_id: Option<String>,
    /// Furthest stage reached: `accepted`, `persisted`, `notified`, or
    /// `failed` (dead-lettered or refused for good).
    pub status: String,
    /// Milliseconds from `acceptedAt` until the queue took the message.
    pub enqueued_ms: Option<u64>,
    /// Milliseconds from `acceptedAt` until the table stored it.
    pub persisted_ms: Option<u64>,
    /// Milliseconds from `acceptedAt` until SNS took the event.
    pub notified_ms: Option<u64>,
}

/// One recent failure: a stage's outcome line that was not a success.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecentFailure {
    /// When it was logged (RFC 3339, UTC).
    pub at: String,
    /// `intake`, `worker`, `notifier`, `status` or `admin-digest`.
    pub stage: String,
    /// The outcome (`rejected`, `conflict`, `poison`, `transient`, …).
    pub outcome: String,
    /// Why: the line's `reason`, else its `problem` (intake), else its error.
    pub reason: String,
    /// The order, when the stage knew it.
    pub order_id: Option<String>,
    /// The SQS message id or stream sequence number, when logged.
    pub message_id: Option<String>,
    /// The request's correlation id, when known.
    pub correlation_id: Option<String>,
}

/// The two rings.
#[derive(Debug, Default)]
pub struct Recent {
    orders: Mutex<VecDeque<RecentOrder>>,
    failures: Mutex<VecDeque<RecentFailure>>,
}

/// The process's rings, written by [`layer`]'s layer.
pub fn global() -> &'static Recent {
    static RECENT: OnceLock<Recent> = OnceLock::new();
    RECENT.get_or_init(Recent::default)
}

/// The layer that fills [`global`] from the stages' outcome lines.
pub fn layer() -> RecentLayer {
    RecentLayer(global())
}

impl Recent {
    /// The recent orders, newest first.
    pub fn orders(&self) -> Vec<RecentOrder> {
        lock(&self.orders).iter().rev().cloned().collect()
    }

    /// The recent failures, newest first.
    pub fn failures(&self) -> Vec<RecentFailure> {
        lock(&self.failures).iter().rev().cloned().collect()
    }

    /// Takes one outcome line into account.
    pub fn record(&self, line: &OutcomeLine) {
        let (Some(stage), Some(outcome)) = (line.stage.as_deref(), line.outcome.as_deref()) else {
            return;
        };
        match (stage, outcome) {
            ("intake", "accepted") => self.update(line, "accepted", |o, age| o.enqueued_ms = age),
            ("worker", "persisted") => {
                self.update(line, "persisted", |o, age| o.persisted_ms = age);
            }
            ("notifier", "notified") => {
                self.update(line, "notified", |o, age| o.notified_ms = age);
            }
            // Harmless repeats and records never meant for this stage.
            (_, "duplicate" | "skipped") => {}
            // The admin was e-mailed; the digest's per-batch summary line.
            ("admin-digest", "emailed" | "batch") => {}
            // A status read that answered: the order's view, or not stored
            // (yet: `404` with `Retry-After` while it may still be queued).
            // A refused or failed read is a failure like any other.
            ("status", "found" | "not-found") => {}
            // The customer's confirmation went out, was not asked for, or
            // was settled before; the per-batch summary line.
            (
                "confirmation",
                "sent" | "already-sent" | "not-requested" | "already-failed" | "order-missing"
                | "batch",
            ) => {}
            // SES refused the confirmation for good: a failure to show, but
            // the order itself is stored and announced.
            ("confirmation", outcome) => self.push_failure(line, stage, outcome),
            _ => {
                // The store or the topic refused the order for good: it will
                // not get further without a person. Retried outcomes leave it
                // as it is, and so does a conflict (the order stored under
                // that id is fine; the other content went to the DLQ).
                if matches!(outcome, "permanent" | "refused") {
                    self.update(line, "failed", |_, _| {});
                }
                self.push_failure(line, stage, outcome);
            }
        }
    }

    fn update(
        &self,
        line: &OutcomeLine,
        status: &str,
        set: impl FnOnce(&mut RecentOrder, Option<u64>),
    ) {
        let Some(order_id) = line.order_id.as_deref().filter(|id| !id.is_empty()) else {
            return;
        };
        let mut orders = lock(&self.orders);
        // A line that names no owner (a stage that does not log it) joins
        // the latest row of its id.
        let owner = line.owner.as_deref();
        let index = match orders.iter().rposition(|o| {
            o.order_id == order_id
                && (owner.is_none() || o.owner.is_none() || o.owner.as_deref() == owner)
        }) {
            Some(index) => index,
            None => {
                if orders.len() == RECENT_ORDERS {
                    orders.pop_front();
                }
                orders.push_back(RecentOrder {
                    order_id: order_id.to_owned(),
                    owner: None,
                    correlation_id: None,
                    status: String::new(),
                    enqueued_ms: None,
                    persisted_ms: None,
                    notified_ms: None,
                });
                orders.len() - 1
            }
        };
        let Some(order) = orders.get_mut(index) else {
            return;
        };
        set(order, line.age_ms);
        // Stages can finish out of order in the log (a redelivery logs
        // `persisted` after `notified`): the status only moves forward.
        if rank(status) >= rank(&order.status) {
            order.status = status.to_owned();
        }
        if order.correlation_id.is_none() {
            order.correlation_id.clone_from(&line.correlation_id);
        }
        if order.owner.is_none() {
            order.owner.clone_from(&line.owner);
        }
    }

    fn push_failure(&self, line: &OutcomeLine, stage: &str, outcome: &str) {
        let reason = line
            .reason
            .clone()
            .or_else(|| line.problem.clone())
            .or_else(|| line.error.clone())
            .unwrap_or_else(|| line.message.clone());
        let failure = RecentFailure {
            at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            stage: stage.to_owned(),
            outcome: outcome.to_owned(),
            reason: reason.chars().take(MAX_REASON_CHARS).collect(),
            order_id: line.order_id.clone().filter(|id| !id.is_empty()),
            message_id: line.message_id.clone(),
            correlation_id: line.correlation_id.clone(),
        };
        let mut failures = lock(&self.failures);
        if failures.len() == RECENT_FAILURES {
            failures.pop_front();
        }
        failures.push_back(failure);
    }
}

/// Order of the statuses: a later stage never goes back to an earlier one.
fn rank(status: &str) -> u8 {
    match status {
        "accepted" => 1,
        "persisted" => 2,
        "notified" => 3,
        "failed" => 4,
        _ => 0,
    }
}

/// The fields of one log event the rings use.
#[derive(Debug, Default, Clone)]
pub struct OutcomeLine {
    /// `stage`.
    pub stage: Option<String>,
    /// `outcome`.
    pub outcome: Option<String>,
    /// `order_id`.
    pub order_id: Option<String>,
    /// `owner` (the order's owner key).
    pub owner: Option<String>,
    /// `correlation_id`.
    pub correlation_id: Option<String>,
    /// `message_id` or `sequence_number`.
    pub message_id: Option<String>,
    /// `age_ms`.
    pub age_ms: Option<u64>,
    /// `reason` (dead-letter reason).
    pub reason: Option<String>,
    /// `problem` (intake's problem slug).
    pub problem: Option<String>,
    /// `error` (the cause chain; ids only by the logging rules).
    pub error: Option<String>,
    /// The line's message.
    pub message: String,
}

impl Visit for OutcomeLine {
    fn record_str(&mut self, field: &Field, value: &str) {
        let slot = match field.name() {
            "stage" => &mut self.stage,
            "outcome" => &mut self.outcome,
            "order_id" => &mut self.order_id,
            "owner" => &mut self.owner,
            "correlation_id" => &mut self.correlation_id,
            "message_id" | "sequence_number" => &mut self.message_id,
            "reason" => &mut self.reason,
            "problem" => &mut self.problem,
            "error" => &mut self.error,
            "message" => {
                value.clone_into(&mut self.message);
                return;
            }
            _ => return,
        };
        *slot = Some(value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == orders_adapters::telemetry::AGE_MS_FIELD {
            self.age_ms = Some(value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%value` fields (ids, errors) and the message arrive here.
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Feeds [`Recent`] from every event that has a `stage` and an `outcome`.
#[derive(Debug, Clone, Copy)]
pub struct RecentLayer(&'static Recent);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RecentLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut line = OutcomeLine::default();
        event.record(&mut line);
        self.0.record(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(stage: &str, outcome: &str, order: &str, age: Option<u64>) -> OutcomeLine {
        OutcomeLine {
            stage: Some(stage.into()),
            outcome: Some(outcome.into()),
            order_id: Some(order.into()),
            age_ms: age,
            ..OutcomeLine::default()
        }
    }

    #[test]
    fn given_two_owners_of_one_order_id_then_they_are_two_rows() {
        let recent = Recent::default();
        let owned = |stage: &str, outcome: &str, owner: &str, age: u64| OutcomeLine {
            owner: Some(owner.into()),
            ..line(stage, outcome, "23214", Some(age))
        };
        recent.record(&owned("intake", "accepted", "aaaa", 1));
        recent.record(&owned("intake", "accepted", "bbbb", 2));
        recent.record(&owned("worker", "persisted", "aaaa", 30));
        recent.record(&owned("notifier", "notified", "aaaa", 60));
        let orders = recent.orders();
        assert_eq!(orders.len(), 2, "{orders:?}");
        let of = |owner: &str| {
            orders
                .iter()
                .find(|o| o.owner.as_deref() == Some(owner))
                .unwrap()
                .clone()
        };
        assert_eq!(of("aaaa").status, "notified");
        assert_eq!(of("bbbb").status, "accepted");
        assert_eq!(of("bbbb").persisted_ms, None);
    }

    #[test]
    fn given_the_three_stages_then_the_order_has_each_age_and_is_notified() {
        let recent = Recent::default();
        recent.record(&line("intake", "accepted", "o-1", Some(2)));
        recent.record(&line("worker", "persisted", "o-1", Some(40)));
        recent.record(&line("notifier", "notified", "o-1", Some(90)));
        let orders = recent.orders();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].status, "notified");
        assert_eq!(
            (
                orders[0].enqueued_ms,
                orders[0].persisted_ms,
                orders[0].notified_ms
            ),
            (Some(2), Some(40), Some(90))
        );
        assert!(recent.failures().is_empty());
    }

    #[test]
    fn given_a_late_persisted_line_then_the_status_does_not_go_back() {
        let recent = Recent::default();
        recent.record(&line("notifier", "notified", "o-1", Some(90)));
        recent.record(&line("worker", "persisted", "o-1", Some(40)));
        assert_eq!(recent.orders()[0].status, "notified");
    }

    #[test]
    fn given_a_conflict_then_it_is_a_failure_with_its_reason_and_the_stored_order_stands() {
        let recent = Recent::default();
        recent.record(&line("intake", "accepted", "o-1", Some(1)));
        let mut conflict = line("worker", "conflict", "o-1", Some(30));
        conflict.message = "order id already stored with different content".into();
        recent.record(&conflict);
        recent.record(&line("worker", "transient", "o-2", None));
        let failures = recent.failures();
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[1].outcome, "conflict");
        assert!(failures[1].reason.contains("different content"));
        assert_eq!(recent.orders()[0].status, "accepted");
    }

    #[test]
    fn given_the_admin_digests_lines_then_only_an_order_not_emailed_is_a_failure() {
        let recent = Recent::default();
        recent.record(&line("admin-digest", "emailed", "o-1", None));
        recent.record(&line("admin-digest", "batch", "", None));
        let mut failed = line("admin-digest", "failed", "o-2", None);
        failed.reason = Some("send-failed".into());
        recent.record(&failed);
        let failures = recent.failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].order_id.as_deref(), Some("o-2"));
        assert_eq!(failures[0].reason, "send-failed");
    }

    #[test]
    fn given_the_confirmations_lines_then_a_refusal_is_a_failure_that_leaves_the_order_as_it_is() {
        let recent = Recent::default();
        recent.record(&line("intake", "accepted", "o-1", Some(1)));
        recent.record(&line("confirmation", "sent", "o-1", None));
        recent.record(&line("confirmation", "not-requested", "o-2", None));
        recent.record(&line("confirmation", "batch", "", None));
        let mut refused = line("confirmation", "refused", "o-1", None);
        refused.reason = Some("invalid-address".into());
        recent.record(&refused);
        let failures = recent.failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].reason, "invalid-address");
        assert_eq!(recent.orders()[0].status, "accepted");
    }

    #[test]
    fn given_status_reads_that_answered_then_they_are_not_failures_and_a_failed_read_is() {
        // Given a read before the order was stored, one after, and one that failed
        let recent = Recent::default();
        recent.record(&line("status", "not-found", "o-1", None));
        recent.record(&line("intake", "accepted", "o-1", Some(1)));
        recent.record(&line("status", "found", "o-1", None));
        let mut failed = line("status", "failed", "o-1", None);
        failed.error = Some("table unreachable".into());
        recent.record(&failed);
        // Then only the failed read is a failure
        let failures = recent.failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(
            (failures[0].stage.as_str(), failures[0].outcome.as_str()),
            ("status", "failed")
        );
        // And the reads do not touch the order's progress
        assert_eq!(recent.orders()[0].status, "accepted");
    }

    #[test]
    fn given_lines_without_a_stage_or_an_outcome_then_nothing_is_kept() {
        let recent = Recent::default();
        recent.record(&OutcomeLine {
            order_id: Some("o-1".into()),
            ..OutcomeLine::default()
        });
        assert!(recent.orders().is_empty() && recent.failures().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn the_rings_never_exceed_their_bounds_and_keep_the_newest(
            events in proptest::collection::vec((0u8..6, 0u16..200), 0..400)
        ) {
            let recent = Recent::default();
            let mut last = None;
            for (kind, id) in events {
                let (stage, outcome) = [
                    ("intake", "accepted"), ("worker", "persisted"), ("notifier", "notified"),
                    ("worker", "conflict"), ("notifier", "failed"), ("intake", "rejected"),
                ][usize::from(kind)];
                let id = format!("o-{id}");
                recent.record(&line(stage, outcome, &id, Some(1)));
                if kind < 3 {
                    last = Some(id);
                }
            }
            proptest::prop_assert!(recent.orders().len() <= RECENT_ORDERS);
            proptest::prop_assert!(recent.failures().len() <= RECENT_FAILURES);
            if let Some(last) = last {
                proptest::prop_assert!(recent.orders().iter().any(|o| o.order_id == last));
            }
        }
    }

    #[test]
    fn given_a_real_tracing_event_then_the_layer_reads_its_fields() {
        use tracing_subscriber::layer::SubscriberExt as _;
        static RECENT: OnceLock<Recent> = OnceLock::new();
        let recent = RECENT.get_or_init(Recent::default);
        let subscriber = tracing_subscriber::registry().with(RecentLayer(recent));
        tracing::subscriber::with_default(subscriber, || {
            let order_id = "o-9";
            tracing::info!(
                stage = "worker",
                outcome = "persisted",
                order_id = %order_id,
                age_ms = 17_u64,
                "order stored"
            );
            tracing::error!(
                stage = "notifier",
                outcome = "refused",
                reason = "publish-refused",
                sequence_number = "100",
                order_id = %order_id,
                "publish refused"
            );
        });
        let orders = recent.orders();
        assert_eq!(orders[0].order_id, "o-9");
        assert_eq!(orders[0].persisted_ms, Some(17));
        assert_eq!(orders[0].status, "failed");
        let failures = recent.failures();
        assert_eq!(failures[0].reason, "publish-refused");
        assert_eq!(failures[0].message_id.as_deref(), Some("100"));
    }
}
