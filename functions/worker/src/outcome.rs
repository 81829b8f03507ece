//! What happened to each record of a batch, and the one mapping of those
//! outcomes to the partial batch response.
//!
//! | outcome      | cause                                               | reported failed? | backed off? |
//! |--------------|-----------------------------------------------------|------------------|-------------|
//! | `persisted`  | new order, written                                  | no               | -           |
//! | `duplicate`  | same id and same content already stored (redelivery)| no               | -           |
//! | `conflict`   | same id, *different* content already stored         | no, once in the worker DLQ (else yes) | while the DLQ is unreachable |
//! | `poison`     | body malformed or of an unsupported `schemaVersion` | no, once in the worker DLQ (else yes) | while the DLQ is unreachable |
//! | `transient`  | the store throttled or was unavailable              | yes              | yes         |
//! | `permanent`  | the store refused the write (permissions, validation)| yes             | no          |
//! | `skipped`    | an earlier record of the *same message group* failed | yes             | as that record |
//!
//! "Backed off": the record, and the records of its group held back after
//! it, come back after the worker's backoff rather than the queue's own
//! visibility timeout ([`crate::backoff`]).

use aws_lambda_events::event::sqs::SqsBatchResponse;

/// What happened to one record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new order was stored.
    Persisted,
    /// The same order was already stored; nothing was written.
    Duplicate,
    /// Another order with this id but different content is stored; nothing
    /// was written. `dead_lettered` tells whether the message is now in the
    /// worker DLQ (acknowledged) or the send failed (reported for retry).
    Conflict {
        /// Whether the worker DLQ took the message.
        dead_lettered: bool,
    },
    /// The body cannot be read (malformed or unsupported `schemaVersion`);
    /// `dead_lettered` as for [`Outcome::Conflict`].
    Poison {
        /// Whether the worker DLQ took the message.
        dead_lettered: bool,
    },
    /// The store failed in a way a retry may fix.
    Transient,
    /// The store failed in a way a retry will not fix.
    Permanent,
    /// Not processed, because an earlier record of its message group failed.
    Skipped,
}

impl Outcome {
    /// The value of the `outcome` log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Persisted => "persisted",
            Self::Duplicate => "duplicate",
            Self::Conflict { .. } => "conflict",
            Self::Poison { .. } => "poison",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Skipped => "skipped",
        }
    }

    /// Whether the record must go back to the queue (reported in `batchItemFailures`).
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            Self::Persisted
                | Self::Duplicate
                | Self::Conflict {
                    dead_lettered: true
                }
                | Self::Poison {
                    dead_lettered: true
                }
        )
    }

    /// Whether the failure may pass with time, so the record and the
    /// records of its group held back after it are retried after the
    /// worker's backoff: the store throttled or unavailable, or the worker
    /// DLQ unreachable for a conflict or poison (whose group's later orders
    /// would otherwise follow it to the DLQ within minutes). A store that
    /// refused the write is a deployment fault, which the DLQ and its alarm
    /// should show soon; a skipped record follows its group's failure.
    pub fn backs_off(self) -> bool {
        matches!(
            self,
            Self::Transient
                | Self::Conflict {
                    dead_lettered: false
                }
                | Self::Poison {
                    dead_lettered: false
                }
        )
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
