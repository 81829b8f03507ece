//! The customer's order confirmation, as the order's item records it.
//!
//! The confirmation consumer (`functions/confirmation`) writes these
//! attributes on the order's own item with conditional `UpdateItem` calls;
//! the worker never writes them (its put is conditional on the item being
//! absent) and the notifier never sees them (it announces `INSERT` stream
//! records only, and these updates are `MODIFY` records). The status
//! function reads them back as [`ConfirmationState`].
//!
//! * a **claim** ([`CLAIM_TOKEN_ATTRIBUTE`], [`CLAIM_UNTIL_ATTRIBUTE`]): one
//!   delivery's right to send, until an expiry in epoch seconds;
//! * the **sent mark** ([`SENT_AT_ATTRIBUTE`], [`MESSAGE_ID_ATTRIBUTE`]):
//!   SES accepted the message, written by the claim's holder only;
//! * the **failed mark** ([`FAILED_ATTRIBUTE`]): SES refused it for good,
//!   with a [`RefusalCode`] (never the address).
//!
//! No attribute holds the address: it stays in `customerEmail`, where intake
//! put it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Who holds the claim: a token the claimant drew, so only it can mark or
/// release.
pub const CLAIM_TOKEN_ATTRIBUTE: &str = "confirmationClaim";
/// Until when the claim holds, epoch seconds (a Number).
pub const CLAIM_UNTIL_ATTRIBUTE: &str = "confirmationClaimUntil";
/// When SES accepted the confirmation (RFC 3339).
pub const SENT_AT_ATTRIBUTE: &str = "confirmationSentAt";
/// SES's message id of the confirmation.
pub const MESSAGE_ID_ATTRIBUTE: &str = "confirmationMessageId";
/// Why SES refused the confirmation for good: a [`RefusalCode`].
pub const FAILED_ATTRIBUTE: &str = "confirmationFailed";

/// Every attribute the confirmation consumer may write, for its IAM
/// condition (`dynamodb:Attributes`) and its tests.
pub const ATTRIBUTES: [&str; 5] = [
    CLAIM_TOKEN_ATTRIBUTE,
    CLAIM_UNTIL_ATTRIBUTE,
    SENT_AT_ATTRIBUTE,
    MESSAGE_ID_ATTRIBUTE,
    FAILED_ATTRIBUTE,
];

/// Why SES refused a confirmation in a way no retry changes. Codes only:
/// the address never goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefusalCode {
    /// `MessageRejected`: SES refused the content or, in the sandbox, an
    /// unverified recipient.
    MessageRejected,
    /// `BadRequestException`: the request was invalid, e.g. an address SES
    /// cannot parse.
    InvalidAddress,
    /// `MailFromDomainNotVerifiedException` or `NotFoundException`: the
    /// sender identity or the configuration set is not usable.
    SenderNotVerified,
    /// `AccountSuspendedException`: the account may no longer send.
    AccountSuspended,
}

impl RefusalCode {
    /// The stored and logged code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageRejected => "message-rejected",
            Self::InvalidAddress => "invalid-address",
            Self::SenderNotVerified => "sender-not-verified",
            Self::AccountSuspended => "account-suspended",
        }
    }

    /// Every code, for tests and dashboards.
    pub const ALL: [Self; 4] = [
        Self::MessageRejected,
        Self::InvalidAddress,
        Self::SenderNotVerified,
        Self::AccountSuspended,
    ];
}

/// The confirmation attributes of an order's item, all absent on the item
/// the worker writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationMarks {
    /// The claim's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_claim: Option<String>,
    /// The claim's expiry, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_claim_until: Option<i64>,
    /// When SES accepted the confirmation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub confirmation_sent_at: Option<OffsetDateTime>,
    /// SES's message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_message_id: Option<String>,
    /// Why SES refused it for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation_failed: Option<RefusalCode>,
}

/// What a client is told about its confirmation (`GET /orders/{orderId}`'s
/// `confirmation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfirmationState {
    /// An address was given and nothing is settled yet (queued, claimed,
    /// or being retried).
    Pending,
    /// SES accepted the confirmation.
    Sent,
    /// The order has no `customerEmail`: nothing is sent.
    NotRequested,
    /// SES refused it for good (the reason is on the item, for operators).
    Failed,
}

impl ConfirmationState {
    /// The one rule: no address, nothing requested; else a sent mark wins
    /// over a failed one (a mark is written once, by the claim's holder),
    /// and anything else is still pending.
    pub fn of(has_address: bool, marks: &ConfirmationMarks) -> Self {
        if !has_address {
            Self::NotRequested
        } else if marks.confirmation_sent_at.is_some() {
            Self::Sent
        } else if marks.confirmation_failed.is_some() {
            Self::Failed
        } else {
            Self::Pending
        }
    }

    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::NotRequested => "NOT_REQUESTED",
            Self::Failed => "FAILED",
        }
    }

    /// Every state, in the order the API documents them.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sent, Self::NotRequested, Self::Failed];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_marks_then_one_state_and_no_address_wins() {
        let none = ConfirmationMarks::default();
        let sent = ConfirmationMarks {
            confirmation_sent_at: Some(OffsetDateTime::UNIX_EPOCH),
            ..ConfirmationMarks::default()
        };
        let failed = ConfirmationMarks {
            confirmation_failed: Some(RefusalCode::InvalidAddress),
            ..ConfirmationMarks::default()
        };
        let claimed = ConfirmationMarks {
            confirmation_claim: Some("t".into()),
            confirmation_claim_until: Some(10),
            ..ConfirmationMarks::default()
        };
        assert_eq!(
            ConfirmationState::of(false, &sent),
            ConfirmationState::NotRequested
        );
        assert_eq!(
            ConfirmationState::of(true, &none),
            ConfirmationState::Pending
        );
        assert_eq!(
            ConfirmationState::of(true, &claimed),
            ConfirmationState::Pending
        );
        assert_eq!(ConfirmationState::of(true, &sent), ConfirmationState::Sent);
        assert_eq!(
            ConfirmationState::of(true, &failed),
            ConfirmationState::Failed
        );
    }

    #[test]
    fn wire_words_and_attribute_names_are_stable() {
        for state in ConfirmationState::ALL {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        for code in RefusalCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
        let marks = ConfirmationMarks {
            confirmation_claim: Some("t".into()),
            confirmation_claim_until: Some(1),
            confirmation_sent_at: Some(OffsetDateTime::UNIX_EPOCH),
            confirmation_message_id: Some("m".into()),
            confirmation_failed: Some(RefusalCode::MessageRejected),
        };
        let value = serde_json::to_value(&marks).unwrap();
        let mut names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut expected = ATTRIBUTES.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(
            serde_json::from_value::<ConfirmationMarks>(value).unwrap(),
            marks
        );
        assert_eq!(
            serde_json::to_value(ConfirmationMarks::default()).unwrap(),
            serde_json::json!({})
        );
    }
}
