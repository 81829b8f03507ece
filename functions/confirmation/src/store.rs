//! The order's item as the confirmation sees it: one narrow port,
//! [`ConfirmationStore`], over the orders table, with the DynamoDB adapter
//! that ships ([`dynamodb::DynamoConfirmationStore`]) and an in-memory one
//! for tests (`memory`).
//!
//! Every write is a conditional `UpdateItem` of the confirmation's own
//! attributes (`orders_domain::confirmation`) on the existing item; none
//! can create an item or touch the order's content. The rules every
//! adapter applies are the functions of this module ([`may_claim`],
//! [`holds`]), so the in-memory store and DynamoDB's condition expressions
//! say the same thing.

use async_trait::async_trait;
use orders_adapters::ports::PortError;
use orders_adapters::record::StoredOrder;
use orders_domain::confirmation::{ConfirmationMarks, RefusalCode};
use time::OffsetDateTime;

pub mod dynamodb;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;

/// An order read for its confirmation: the order and its marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderToConfirm {
    /// The stored order (its address, name and lines).
    pub order: StoredOrder,
    /// The confirmation's attributes on its item.
    pub marks: ConfirmationMarks,
}

/// One delivery's claim on an order: a token it drew and when the claim
/// expires (epoch seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Who holds it.
    pub token: String,
    /// Until when, epoch seconds.
    pub until: i64,
}

/// What a conditional write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The condition held and the item is updated.
    Done,
    /// The condition did not hold: for a claim, the order is sent, failed,
    /// claimed by another delivery or gone; for a mark or a release, the
    /// claim is no longer this delivery's. Nothing was written.
    Refused,
}

/// The rule of a claim, as every adapter applies it: the item exists, has
/// no sent mark and no failed mark, and no claim that is still unexpired
/// at `now` (epoch seconds).
pub fn may_claim(marks: &ConfirmationMarks, now: i64) -> bool {
    marks.confirmation_sent_at.is_none()
        && marks.confirmation_failed.is_none()
        && marks
            .confirmation_claim_until
            .is_none_or(|until| until <= now)
}

/// The rule of a mark or a release: the item's claim is `claim`'s token.
pub fn holds(marks: &ConfirmationMarks, claim: &Claim) -> bool {
    marks.confirmation_claim.as_deref() == Some(claim.token.as_str())
}

/// One conditional write of the marks, its condition and its change stated
/// once for the stores that apply them to marks they hold (in memory, the
/// local runner's table); the DynamoDB adapter says the same in its
/// condition and update expressions.
#[derive(Debug, Clone, Copy)]
pub enum MarkWrite<'a> {
    /// Take `claim` if [`may_claim`] at `now`.
    Claim {
        /// The claim to take.
        claim: &'a Claim,
        /// Epoch seconds.
        now: i64,
    },
    /// Drop the claim and mark the order sent, if [`holds`].
    Sent {
        /// The delivery's claim.
        claim: &'a Claim,
        /// When SES took the message.
        at: OffsetDateTime,
        /// SES's message id.
        message_id: &'a str,
    },
    /// Drop the claim and mark the order failed, if [`holds`].
    Failed {
        /// The delivery's claim.
        claim: &'a Claim,
        /// Why SES refused it.
        reason: RefusalCode,
    },
    /// Drop the claim, if [`holds`].
    Release {
        /// The delivery's claim.
        claim: &'a Claim,
    },
}

impl MarkWrite<'_> {
    /// Whether the write's condition holds on `marks`.
    pub fn allowed(&self, marks: &ConfirmationMarks) -> bool {
        match *self {
            Self::Claim { now, .. } => may_claim(marks, now),
            Self::Sent { claim, .. } | Self::Failed { claim, .. } | Self::Release { claim } => {
                holds(marks, claim)
            }
        }
    }

    /// Changes `marks` as the write does.
    pub fn apply(&self, marks: &mut ConfirmationMarks) {
        if let Self::Claim { claim, .. } = *self {
            marks.confirmation_claim = Some(claim.token.clone());
            marks.confirmation_claim_until = Some(claim.until);
            return;
        }
        marks.confirmation_claim = None;
        marks.confirmation_claim_until = None;
        match *self {
            Self::Sent { at, message_id, .. } => {
                marks.confirmation_sent_at = Some(at);
                marks.confirmation_message_id = Some(message_id.to_owned());
            }
            Self::Failed { reason, .. } => marks.confirmation_failed = Some(reason),
            Self::Claim { .. } | Self::Release { .. } => {}
        }
    }
}

/// The confirmation's reads and conditional writes on the orders table,
/// by table key (`orders_domain::record::order_key`).
#[async_trait]
pub trait ConfirmationStore: Send + Sync {
    /// The order under `key`, read strongly consistently (a claim or mark
    /// written a moment ago is seen); `None` when there is no such item.
    async fn order(&self, key: &str) -> Result<Option<OrderToConfirm>, PortError>;

    /// Takes `claim` on the order if [`may_claim`] at `now`.
    async fn claim(&self, key: &str, claim: &Claim, now: i64) -> Result<Written, PortError>;

    /// Writes the sent mark (and drops the claim) if [`holds`].
    async fn mark_sent(
        &self,
        key: &str,
        claim: &Claim,
        sent_at: OffsetDateTime,
        message_id: &str,
    ) -> Result<Written, PortError>;

    /// Writes the failed mark with `reason` (and drops the claim) if
    /// [`holds`].
    async fn mark_failed(
        &self,
        key: &str,
        claim: &Claim,
        reason: RefusalCode,
    ) -> Result<Written, PortError>;

    /// Drops the claim if [`holds`], so a retry may claim at once.
    async fn release(&self, key: &str, claim: &Claim) -> Result<Written, PortError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_marks_then_a_claim_is_taken_only_when_nothing_holds_the_order() {
        let free = ConfirmationMarks::default();
        assert!(may_claim(&free, 100));
        let claimed = ConfirmationMarks {
            confirmation_claim: Some("a".into()),
            confirmation_claim_until: Some(100),
            ..ConfirmationMarks::default()
        };
        assert!(!may_claim(&claimed, 99), "unexpired");
        assert!(may_claim(&claimed, 100), "expired at its second");
        let sent = ConfirmationMarks {
            confirmation_sent_at: Some(OffsetDateTime::UNIX_EPOCH),
            ..ConfirmationMarks::default()
        };
        assert!(!may_claim(&sent, i64::MAX));
        let failed = ConfirmationMarks {
            confirmation_failed: Some(RefusalCode::InvalidAddress),
            ..ConfirmationMarks::default()
        };
        assert!(!may_claim(&failed, i64::MAX));
        let mine = Claim {
            token: "a".into(),
            until: 100,
        };
        let theirs = Claim {
            token: "b".into(),
            until: 100,
        };
        assert!(holds(&claimed, &mine));
        assert!(!holds(&claimed, &theirs));
        assert!(!holds(&free, &mine));
    }
}
