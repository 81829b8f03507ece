//! What became of each record, and the one mapping from that to the
//! `batchItemFailures` of the answer.
//!
//! | outcome         | cause                                                        | reported failed? |
//! |-----------------|--------------------------------------------------------------|------------------|
//! | `sent`          | SES accepted the confirmation; the sent mark is on the item  | no               |
//! | `already-sent`  | the item has its sent mark (a re-post, a redrive, a renotify, a repeat) | no    |
//! | `not-requested` | the order has no `customerEmail`                             | no               |
//! | `refused`       | SES refused it for good; the failed mark and reason are on the item | no        |
//! | `already-failed`| the item has its failed mark                                 | no               |
//! | `order-missing` | no item under the event's key (deleted since)                | no               |
//! | `poison`        | not an `OrderCreated` this function reads                    | yes: the DLQ after `maxReceiveCount` |
//! | `failed`        | not settled now (see [`FailReason`])                         | yes: retried after its backoff or the visibility timeout |
//!
//! The queue is a standard queue, so exactly the failures are reported;
//! the rule is the consumer kit's [`order_consumer::failures_to_report`].

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use orders_domain::confirmation::RefusalCode;

/// Why a record was not settled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Another delivery holds an unexpired claim on the order; the record
    /// comes back when the claim expires.
    ClaimedElsewhere,
    /// The table could not be read or written.
    StoreFailed,
    /// SES throttled the send or failed in a way that may pass; the claim
    /// was released and the record backs off.
    SendRetry,
    /// The invocation's time ran out before its send.
    OutOfTime,
}

impl FailReason {
    /// The `reason` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaimedElsewhere => "claimed-elsewhere",
            Self::StoreFailed => "store-failed",
            Self::SendRetry => "send-retry",
            Self::OutOfTime => "out-of-time",
        }
    }
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// SES accepted the confirmation.
    Sent,
    /// Sent before: nothing sent now.
    AlreadySent,
    /// No address: nothing to send.
    NotRequested,
    /// SES refused it for good, with this reason.
    Refused(RefusalCode),
    /// Refused before: nothing sent now.
    AlreadyFailed,
    /// The order's item is gone.
    OrderMissing,
    /// Unreadable: reported until the redrive policy moves it to the DLQ.
    Poison,
    /// Not settled now; retried.
    Failed(FailReason),
}

impl Outcome {
    /// The `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::AlreadySent => "already-sent",
            Self::NotRequested => "not-requested",
            Self::Refused(_) => "refused",
            Self::AlreadyFailed => "already-failed",
            Self::OrderMissing => "order-missing",
            Self::Poison => "poison",
            Self::Failed(_) => "failed",
        }
    }

    /// The `reason` log field: a refusal's code or a failure's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Refused(code) => code.as_str(),
            Self::Failed(reason) => reason.as_str(),
            _ => "",
        }
    }

    /// The consumer kit's word for it, for the kit's batch rule.
    fn kit(self) -> order_consumer::Outcome {
        match self {
            Self::Sent | Self::Refused(_) | Self::NotRequested => {
                order_consumer::Outcome::Processed
            }
            Self::AlreadySent | Self::AlreadyFailed | Self::OrderMissing => {
                order_consumer::Outcome::Duplicate
            }
            Self::Poison => order_consumer::Outcome::Poison,
            Self::Failed(_) => order_consumer::Outcome::Failed,
        }
    }
}

/// The answer for `records` whose outcomes, in the same order, are
/// `outcomes`: the consumer kit's batch rule over their kit outcomes
/// ([`order_consumer::batch_response`]).
pub fn batch_response(records: &[SqsMessage], outcomes: &[Outcome]) -> SqsBatchResponse {
    let kit: Vec<order_consumer::Outcome> = outcomes.iter().map(|o| o.kit()).collect();
    order_consumer::batch_response(records, &kit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::record;

    #[test]
    fn given_each_outcome_then_exactly_poison_and_failures_are_reported() {
        let outcomes = [
            Outcome::Sent,
            Outcome::Poison,
            Outcome::AlreadySent,
            Outcome::Failed(FailReason::SendRetry),
            Outcome::Refused(RefusalCode::InvalidAddress),
            Outcome::NotRequested,
            Outcome::AlreadyFailed,
            Outcome::OrderMissing,
            Outcome::Failed(FailReason::ClaimedElsewhere),
        ];
        let records: Vec<SqsMessage> = (0..outcomes.len())
            .map(|n| record(&format!("m{n}"), "{}", 1))
            .collect();
        let reported: Vec<String> = batch_response(&records, &outcomes)
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        assert_eq!(reported, ["m1", "m3", "m8"]);
    }
}
