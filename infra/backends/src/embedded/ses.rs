//! Embedded SES (API v2 `SendEmail`): verified identities, configuration
//! sets, the account's maximum send rate, the account-level suppression
//! list and the message size limit, writing each message it sends as an
//! RFC 5322 file (`.eml`, see `eml`) into its outbox folder, which a mail
//! client opens as it is.
//!
//! Where AWS's documented rules matter to the confirmations they hold here,
//! each cited where it is enforced and tested in `ses/tests.rs`:
//!
//! * only a verified identity may send: the From address, or its domain,
//!   must be verified, else `MessageRejected` ("Email address is not
//!   verified")
//!   (<https://docs.aws.amazon.com/ses/latest/dg/creating-identities.html>,
//!   <https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html>);
//!   moto answers the same for an unverified sender. The sandbox's rule
//!   that recipients be verified too is not modelled: the runner is an
//!   account with production access;
//! * a named configuration set must exist, else `NotFoundException`;
//! * sends beyond the account's maximum send rate are refused with
//!   `TooManyRequestsException` (HTTP 429) and dropped: SES "drops the
//!   message and doesn't attempt to redeliver it"
//!   (<https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html>).
//!   The rate is counted over a sliding second, the strictest reading
//!   (AWS does not say how it counts); moto has no rate at all;
//! * a message to an address on the account-level suppression list is
//!   accepted and not sent: "Amazon SES accepts the message, but doesn't
//!   send it" (<https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html>);
//!   no file is written and [`EmbeddedSes::suppressed`] counts it;
//! * a message over 40 MB is refused with `MessageRejected`: "The maximum
//!   message size is 40 MB" for the v2 API
//!   (<https://docs.aws.amazon.com/ses/latest/dg/quotas.html>); AWS names
//!   the limit, not the code, and `MessageRejected` is what SES answers for
//!   a message it will not send.
//!
//! Time comes from a [`Clock`], so the rate rule is tested on a clock moved
//! by hand. Files are written as each send is accepted: at most the
//! account's rate, a few a second.

mod eml;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use orders_adapters::sync::lock;
use time::OffsetDateTime;

use crate::backend::{BackendResult, MailError, MailService, OutgoingEmail};
use crate::embedded::sns::{Clock, SystemClock};

pub use eml::render as render_eml;

/// The most bytes of one message, 40 MB, as the v2 API takes it
/// (<https://docs.aws.amazon.com/ses/latest/dg/quotas.html>).
pub const MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;

/// The maximum send rate of a new account in the SES sandbox, one message a
/// second (<https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas.html>).
pub const SANDBOX_MAX_SEND_RATE: f64 = 1.0;

#[derive(Debug, Default)]
struct State {
    identities: HashSet<String>,
    configuration_sets: HashSet<String>,
    suppressed: HashSet<String>,
    /// When the sends of the last second were accepted.
    recent: VecDeque<OffsetDateTime>,
    sent: u64,
    suppressed_sends: u64,
    throttled: u64,
}

struct Inner {
    outbox: PathBuf,
    max_send_rate: f64,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// The embedded SES. Cheap to clone; clones share the account.
#[derive(Clone)]
pub struct EmbeddedSes {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedSes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedSes")
            .field("outbox", &self.inner.outbox)
            .field("max_send_rate", &self.inner.max_send_rate)
            .finish_non_exhaustive()
    }
}

impl EmbeddedSes {
    /// An account sending at most `max_send_rate` messages a second, writing
    /// what it sends into `outbox` (created with the first message), on the
    /// wall clock.
    pub fn new(outbox: PathBuf, max_send_rate: f64) -> Self {
        Self::with_clock(outbox, max_send_rate, Arc::new(SystemClock))
    }

    /// The same on `clock`.
    pub fn with_clock(outbox: PathBuf, max_send_rate: f64, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                outbox,
                max_send_rate,
                clock,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The folder messages are written into.
    pub fn outbox(&self) -> &Path {
        &self.inner.outbox
    }

    /// Puts `address` on the account-level suppression list
    /// (`PutSuppressedDestination`).
    pub fn suppress(&self, address: &str) {
        lock(&self.inner.state)
            .suppressed
            .insert(address.to_ascii_lowercase());
    }

    /// Messages sent (written to the outbox) so far.
    pub fn sent(&self) -> u64 {
        lock(&self.inner.state).sent
    }

    /// Messages accepted for suppressed addresses and not sent.
    pub fn suppressed(&self) -> u64 {
        lock(&self.inner.state).suppressed_sends
    }

    /// Sends refused for the rate.
    pub fn throttled(&self) -> u64 {
        lock(&self.inner.state).throttled
    }

    /// Whether `from` may send: its address or its domain is verified.
    fn verified(state: &State, from: &str) -> bool {
        let from = from.to_ascii_lowercase();
        let domain = from.rsplit_once('@').map(|(_, d)| d.to_owned());
        state.identities.contains(&from) || domain.is_some_and(|d| state.identities.contains(&d))
    }

    /// Checks and counts one send at `now`; the decision, and whether the
    /// recipient is suppressed.
    fn admit(&self, email: &OutgoingEmail, now: OffsetDateTime) -> Result<bool, MailError> {
        let refused = |code: &str, status: u16| MailError::Refused {
            code: code.to_owned(),
            status,
        };
        let mut state = lock(&self.inner.state);
        if !Self::verified(&state, &email.from) {
            return Err(refused("MessageRejected", 400));
        }
        if let Some(set) = &email.configuration_set
            && !state.configuration_sets.contains(set)
        {
            return Err(refused("NotFoundException", 404));
        }
        if email.subject.len() + email.text.len() + email.html.len() > MAX_MESSAGE_BYTES {
            return Err(refused("MessageRejected", 400));
        }
        while state
            .recent
            .front()
            .is_some_and(|at| now - *at >= Duration::from_secs(1))
        {
            state.recent.pop_front();
        }
        // At least one a second, so a fractional rate still sends.
        let allowed = self.inner.max_send_rate.floor().max(1.0) as usize;
        if state.recent.len() >= allowed {
            state.throttled += 1;
            return Err(refused("TooManyRequestsException", 429));
        }
        state.recent.push_back(now);
        let suppressed = state.suppressed.contains(&email.to.to_ascii_lowercase());
        if suppressed {
            state.suppressed_sends += 1;
        } else {
            state.sent += 1;
        }
        Ok(suppressed)
    }

    /// Writes one message file, creating the outbox first if needed.
    fn write(&self, name: &str, text: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.inner.outbox)?;
        std::fs::write(self.inner.outbox.join(name), text)
    }
}

#[async_trait]
impl MailService for EmbeddedSes {
    async fn verify_identity(&self, identity: &str) -> BackendResult<()> {
        lock(&self.inner.state)
            .identities
            .insert(identity.to_ascii_lowercase());
        Ok(())
    }

    async fn create_configuration_set(&self, name: &str) -> BackendResult<()> {
        lock(&self.inner.state)
            .configuration_sets
            .insert(name.to_owned());
        Ok(())
    }

    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let now = self.inner.clock.now();
        let suppressed = self.admit(email, now)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        // SES's message ids look like `0100018c…-…-000000`; any unique id
        // serves the caller.
        let message_id = format!("0100{id}-000000");
        if suppressed {
            tracing::info!(message_id = %message_id, "SES: recipient on the suppression list; accepted, not sent");
            return Ok(message_id);
        }
        let file = format!(
            "{}-{}.eml",
            now.unix_timestamp_nanos() / 1_000_000,
            &id[..12]
        );
        let text = eml::render(email, &message_id, now);
        match self.write(&file, &text) {
            Ok(()) => {
                tracing::info!(file = %self.inner.outbox.join(&file).display(), subject = %email.subject, "e-mail written to the customers' outbox");
            }
            Err(err) => {
                // SES accepted it; its delivery failed (a bounce, for SES).
                tracing::error!(file = %file, error = &err as &dyn std::error::Error, "SES e-mail delivery failed");
            }
        }
        Ok(message_id)
    }
}

#[cfg(test)]
mod tests;
