//! What became of each record, and the one mapping from that to the
//! `batchItemFailures` of the answer.
//!
//! | outcome     | cause                                                     | reported failed? |
//! |-------------|-----------------------------------------------------------|------------------|
//! | `emailed`   | listed in an e-mail the admin topic accepted              | no               |
//! | `duplicate` | its `eventId` was e-mailed before, or is earlier in the batch | no           |
//! | `poison`    | not an `OrderCreated` this function reads                 | yes: the queue's DLQ after `maxReceiveCount` |
//! | `failed`    | not e-mailed now (see [`FailReason`])                     | yes: retried after the visibility timeout |
//!
//! The queue is a standard queue (a standard topic delivers to no other),
//! so exactly the failures are reported and every other record is deleted;
//! the rule is the consumer kit's [`order_consumer::failures_to_report`],
//! which also knows FIFO's.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};

/// Why a record was not e-mailed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// Another delivery of the same event holds its claim (a standard queue
    /// may deliver twice at once); it comes back when that one is done or
    /// its claim has lapsed.
    ClaimedElsewhere,
    /// The idempotency store could not be asked.
    StoreFailed,
    /// The admin topic did not accept the e-mail listing it.
    SendFailed,
    /// The invocation's time ran out before its e-mail could be sent.
    OutOfTime,
}

impl FailReason {
    /// The `reason` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaimedElsewhere => "claimed-elsewhere",
            Self::StoreFailed => "store-failed",
            Self::SendFailed => "send-failed",
            Self::OutOfTime => "out-of-time",
        }
    }
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Listed in an e-mail the admin topic accepted.
    Emailed,
    /// Already e-mailed, or a repeat within the batch: dropped.
    Duplicate,
    /// Unreadable: reported until the redrive policy moves it to the DLQ.
    Poison,
    /// Not e-mailed now; retried.
    Failed(FailReason),
}

impl Outcome {
    /// The `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Emailed => "emailed",
            Self::Duplicate => "duplicate",
            Self::Poison => "poison",
            Self::Failed(_) => "failed",
        }
    }

    /// The consumer kit's word for it, for the kit's batch rule.
    fn kit(self) -> order_consumer::Outcome {
        match self {
            Self::Emailed => order_consumer::Outcome::Processed,
            Self::Duplicate => order_consumer::Outcome::Duplicate,
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

    fn reported(response: &SqsBatchResponse) -> Vec<&str> {
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[test]
    fn given_each_outcome_then_exactly_poison_and_failures_are_reported() {
        let records: Vec<SqsMessage> = ["m0", "m1", "m2", "m3", "m4"]
            .iter()
            .map(|id| record(id, "{}"))
            .collect();
        let outcomes = [
            Outcome::Emailed,
            Outcome::Poison,
            Outcome::Duplicate,
            Outcome::Failed(FailReason::SendFailed),
            Outcome::Emailed,
        ];
        assert_eq!(reported(&batch_response(&records, &outcomes)), ["m1", "m3"]);
    }

    #[test]
    fn given_only_successes_then_nothing_is_reported() {
        let records = vec![record("m0", "{}"), record("m1", "{}")];
        let response = batch_response(&records, &[Outcome::Emailed, Outcome::Duplicate]);
        assert!(response.batch_item_failures.is_empty());
    }

    #[test]
    fn given_a_failed_record_without_a_message_id_then_the_whole_batch_is_failed() {
        let mut nameless = record("m0", "{}");
        nameless.message_id = None;
        let response = batch_response(&[nameless], &[Outcome::Poison]);
        assert_eq!(reported(&response), [""]);
    }
}
