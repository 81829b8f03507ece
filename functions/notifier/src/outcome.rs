//! What happened to each stream record, and the one mapping of those
//! outcomes to the partial batch response.
//!
//! | outcome            | cause                                                        | reported? |
//! |--------------------|--------------------------------------------------------------|-----------|
//! | `notified`         | an `INSERT` whose event SNS accepted                          | no        |
//! | `already_notified` | SNS accepted its event in an earlier attempt of this batch   | no        |
//! | `skipped`          | `MODIFY`, `REMOVE` (or any other event name): no event       | no        |
//! | `refused`          | the topic refused the event for good (permissions, key)      | no, once in the notifier DLQ |
//! | `poison`           | an `INSERT` whose `NewImage` is not a readable order          | no, once in the notifier DLQ |
//! | `failed`           | still refused (or the DLQ unreachable) when time ran out     | yes: the lowest is the checkpoint |
//! | `pending`          | after the checkpoint, not attempted                           | yes       |

use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

/// What happened to one stream record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The order's `OrderCreated` event was published.
    Notified,
    /// SNS accepted the event in an earlier attempt of this batch, after a
    /// record that became the checkpoint: acknowledged without publishing.
    AlreadyNotified,
    /// Not an `INSERT`: acknowledged without publishing.
    Skipped,
    /// Still refused in a way a retry may fix when the invocation's time ran
    /// out, or a dead letter could not be sent; retried from the checkpoint.
    Failed,
    /// The topic refused the event for good; the record is in the notifier DLQ.
    Refused,
    /// An `INSERT` whose new image cannot be read as an order; the record is
    /// in the notifier DLQ.
    Poison,
    /// After the checkpoint and not attempted: retried with it.
    Pending,
}

impl Outcome {
    /// The value of the `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notified => "notified",
            Self::AlreadyNotified => "already_notified",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::Poison => "poison",
            Self::Pending => "pending",
        }
    }

    /// Whether the record must be reported: it is not settled.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Pending)
    }
}

/// Maps the outcomes of the processed records, keyed by sequence number, to
/// the partial batch response. The only place that decides what is retried.
///
/// Lambda retries a stream batch from the *lowest* reported sequence number
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>),
/// so the settled records after it come back too; the handler acknowledges
/// them then without publishing ([`Outcome::AlreadyNotified`]).
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
