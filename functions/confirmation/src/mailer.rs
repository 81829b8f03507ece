//! Where the customers' confirmations go: one narrow port,
//! [`CustomerMailer`], with the SES API v2 adapter that ships
//! ([`SesCustomerMailer`]); the local runner has one over its embedded SES,
//! the tests an in-memory one (`memory`).
//!
//! One rule classifies what SES answers ([`classify`]), for every adapter:
//! what may pass is retried, what never will is a [`RefusalCode`]. The
//! errors SendEmail can answer, from the API reference
//! (<https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html>):
//!
//! | error                                 | HTTP | here                          |
//! |---------------------------------------|------|-------------------------------|
//! | `TooManyRequestsException`            | 429  | retry (rate)                  |
//! | `LimitExceededException`              | 400  | retry (a quota)               |
//! | `SendingPausedException`              | 400  | retry (sending is paused, e.g. under review; it may resume) |
//! | any 5xx, timeout, transport failure   |      | retry                         |
//! | `MessageRejected`                     | 400  | refused: `message-rejected`   |
//! | `BadRequestException`                 | 400  | refused: `invalid-address`    |
//! | `MailFromDomainNotVerifiedException`  | 400  | refused: `sender-not-verified`|
//! | `NotFoundException`                   | 404  | refused: `sender-not-verified`|
//! | `AccountSuspendedException`           | 400  | refused: `account-suspended`  |
//!
//! The quota errors are documented as `ThrottlingException` ("Maximum
//! sending rate exceeded", "Daily message quota exceeded") in the quota
//! guide (<https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html>),
//! so that code is retried too. An address on the account-level
//! suppression list is *not* an error: SES "accepts the message, but doesn't
//! send it" and reports a bounce to the configuration set's event
//! destinations (<https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html>),
//! so such a confirmation is `SENT` as far as this function can know.
//!
//! No error message is kept: SES quotes the addresses it refused
//! ("The following identities failed the check…"), and no address may
//! reach a log line. Errors carry the service's code only.

use std::fmt;

use async_trait::async_trait;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use orders_domain::confirmation::RefusalCode;
use orders_domain::model::CustomerEmail;

/// One confirmation, rendered (`crate::message`).
#[derive(Clone, PartialEq, Eq)]
pub struct ConfirmationEmail {
    /// The customer's address (personal data: redacted in `Debug`).
    pub to: CustomerEmail,
    /// The subject: ids only, ASCII.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body, every value escaped.
    pub html: String,
}

impl fmt::Debug for ConfirmationEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body holds the customer's name: only the subject is shown.
        f.debug_struct("ConfirmationEmail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What SES's answer means for the confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// May pass later: release the claim and retry after a backoff.
    Retry,
    /// Never passes: record it and do not retry.
    Refused(RefusalCode),
}

/// A send that did not go out, by SES's error code only (see the module
/// documentation for why no message is kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SES did not send the confirmation ({code}): {verdict:?}")]
pub struct SendError {
    /// What to do about it.
    pub verdict: Verdict,
    /// SES's error code, or the kind of transport failure.
    pub code: String,
}

/// The one classification of SES's errors, for every adapter: `code` is
/// the service's error code, `status` the HTTP status when there was a
/// response. A code this function does not know is retried when the status
/// is a 5xx or 429 (or unknown), and refused as `message-rejected`
/// otherwise: an unknown 4xx will not pass by itself.
pub fn classify(code: Option<&str>, status: Option<u16>) -> Verdict {
    match code {
        Some(
            "TooManyRequestsException"
            | "TooManyRequests"
            | "LimitExceededException"
            | "LimitExceeded"
            | "ThrottlingException"
            | "Throttling"
            | "SendingPausedException"
            | "SendingPaused",
        ) => Verdict::Retry,
        Some("MessageRejected" | "MessageRejectedException") => {
            Verdict::Refused(RefusalCode::MessageRejected)
        }
        Some("BadRequestException" | "BadRequest") => Verdict::Refused(RefusalCode::InvalidAddress),
        Some(
            "MailFromDomainNotVerifiedException"
            | "MailFromDomainNotVerified"
            | "NotFoundException"
            | "NotFound",
        ) => Verdict::Refused(RefusalCode::SenderNotVerified),
        Some("AccountSuspendedException" | "AccountSuspended") => {
            Verdict::Refused(RefusalCode::AccountSuspended)
        }
        _ => match status {
            Some(status) if status < 500 && status != 429 => {
                Verdict::Refused(RefusalCode::MessageRejected)
            }
            _ => Verdict::Retry,
        },
    }
}

/// Sends one confirmation to a customer.
#[async_trait]
pub trait CustomerMailer: Send + Sync {
    /// Sends `email`; `Ok` is SES's message id (SES accepted it; delivery
    /// follows). An error says whether a retry may pass.
    async fn send(&self, email: &ConfirmationEmail) -> Result<String, SendError>;
}

/// [`CustomerMailer`] over SES API v2: one `SendEmail` with simple content
/// (subject, text and HTML parts, UTF-8), from the stack's sender address,
/// in its configuration set (whose event destinations report bounces and
/// complaints).
#[derive(Debug, Clone)]
pub struct SesCustomerMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesCustomerMailer {
    /// Sends from `from` (an address of a verified identity), in
    /// `configuration_set` when given.
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            from: from.into(),
            configuration_set,
        }
    }
}

/// UTF-8 content, as SES v2 takes it.
fn utf8(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|_| SendError {
            verdict: Verdict::Refused(RefusalCode::MessageRejected),
            code: "ContentBuild".to_owned(),
        })
}

#[async_trait]
impl CustomerMailer for SesCustomerMailer {
    async fn send(&self, email: &ConfirmationEmail) -> Result<String, SendError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(email.to.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|err| sdk_send_error(&err))?;
        Ok(out.message_id.unwrap_or_default())
    }
}

/// The SDK's error as a [`SendError`], by code and status only.
fn sdk_send_error<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_sdk_sesv2::config::http::HttpResponse>,
) -> SendError {
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().map(str::to_owned);
            SendError {
                verdict: classify(code.as_deref(), Some(status)),
                code: code.unwrap_or_else(|| format!("HTTP {status}")),
            }
        }
        SdkError::TimeoutError(_) => transport("Timeout"),
        SdkError::DispatchFailure(_) => transport("DispatchFailure"),
        SdkError::ResponseError(_) => transport("ResponseError"),
        // Construction failures: the request could not be built from this
        // e-mail, which will not change.
        _ => SendError {
            verdict: Verdict::Refused(RefusalCode::MessageRejected),
            code: "ConstructionFailure".to_owned(),
        },
    }
}

fn transport(code: &str) -> SendError {
    SendError {
        verdict: Verdict::Retry,
        code: code.to_owned(),
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod memory;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_each_documented_error_then_one_verdict() {
        for code in [
            "TooManyRequestsException",
            "LimitExceededException",
            "SendingPausedException",
            "ThrottlingException",
        ] {
            assert_eq!(classify(Some(code), Some(400)), Verdict::Retry, "{code}");
        }
        let refused = [
            ("MessageRejected", RefusalCode::MessageRejected),
            ("BadRequestException", RefusalCode::InvalidAddress),
            (
                "MailFromDomainNotVerifiedException",
                RefusalCode::SenderNotVerified,
            ),
            ("NotFoundException", RefusalCode::SenderNotVerified),
            ("AccountSuspendedException", RefusalCode::AccountSuspended),
        ];
        for (code, reason) in refused {
            assert_eq!(
                classify(Some(code), Some(400)),
                Verdict::Refused(reason),
                "{code}"
            );
        }
        assert_eq!(classify(Some("InternalFailure"), Some(500)), Verdict::Retry);
        assert_eq!(classify(None, Some(503)), Verdict::Retry);
        assert_eq!(classify(None, Some(429)), Verdict::Retry);
        assert_eq!(classify(None, None), Verdict::Retry);
        assert_eq!(
            classify(Some("SomethingNew"), Some(400)),
            Verdict::Refused(RefusalCode::MessageRejected)
        );
    }

    #[test]
    fn the_debug_form_shows_no_address_and_no_body() {
        let email = ConfirmationEmail {
            to: CustomerEmail::parse("harry@example.org").unwrap(),
            subject: "Order A-1 confirmed".into(),
            text: "Hello Harry Kane".into(),
            html: "<p>Hello Harry Kane</p>".into(),
        };
        let shown = format!("{email:?}");
        assert!(!shown.contains("harry@example.org"), "{shown}");
        assert!(!shown.contains("Harry Kane"), "{shown}");
        assert!(shown.contains("Order A-1 confirmed"));
    }
}
