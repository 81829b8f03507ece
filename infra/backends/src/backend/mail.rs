//! Mail: SES API v2's `SendEmail`, for the customers' confirmations.

use std::fmt;

use async_trait::async_trait;

use super::*;

/// One e-mail as `SendEmail`'s simple content takes it: a subject, a text
/// part and an HTML part, UTF-8, to one recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// `FromEmailAddress`: an address of a verified identity.
    pub from: String,
    /// The one `ToAddresses` entry (personal data: redacted in `Debug`).
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// `ConfigurationSetName`, when one is named.
    pub configuration_set: Option<String>,
}

impl fmt::Debug for OutgoingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("from", &self.from)
            .field("to", &"<redacted>")
            .field("subject", &self.subject)
            .field("configuration_set", &self.configuration_set)
            .finish_non_exhaustive()
    }
}

/// A send the service did not take.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The service answered with an error: its code (e.g.
    /// `MessageRejected`, `TooManyRequestsException`) and HTTP status. The
    /// service's message is not kept: SES quotes the addresses it refused.
    #[error("SES answered {code} (HTTP {status})")]
    Refused {
        /// The error code.
        code: String,
        /// The HTTP status.
        status: u16,
    },
    /// No answer: a timeout or a transport failure.
    #[error("SES could not be reached")]
    Call(#[source] orders_adapters::ports::BoxError),
}

/// SES: identities to send from, and `SendEmail`.
#[async_trait]
pub trait MailService: Send + Sync {
    /// Makes `identity` (an address, or a domain for every address of it)
    /// one the account may send from. The embedded SES verifies it at once;
    /// over an endpoint it is `CreateEmailIdentity` (moto verifies at once
    /// too; real SES sends a verification e-mail first).
    async fn verify_identity(&self, identity: &str) -> BackendResult<()>;
    /// Creates the configuration set `name` if it does not exist.
    async fn create_configuration_set(&self, name: &str) -> BackendResult<()>;
    /// `SendEmail`: `Ok` is the message id once the service accepted it.
    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, MailError>;
}
