//! A recording [`CustomerMailer`] that can be told to answer with SES's
//! errors, for tests. Compiled only with the `test-support` feature.

use std::collections::VecDeque;
use std::sync::Mutex;

use orders_adapters::sync::lock;

use super::*;

/// One confirmation sent, and when (tokio's clock: paused in tests).
#[derive(Debug, Clone)]
pub struct Sent {
    /// What was sent.
    pub email: ConfirmationEmail,
    /// The message id answered.
    pub message_id: String,
    /// When.
    pub at: tokio::time::Instant,
}

/// Keeps what it is sent; answers the scripted errors first, and refuses
/// the addresses it was told to, every time.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Sent>>,
    script: Mutex<VecDeque<SendError>>,
    refused: Mutex<Vec<(String, SendError)>>,
}

impl MemoryMailer {
    /// Makes the next sends fail with `errors`, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = SendError>) {
        lock(&self.script).extend(errors);
    }

    /// Makes every send to `address` fail with `error`.
    pub fn refuse(&self, address: &str, error: SendError) {
        lock(&self.refused).push((address.to_owned(), error));
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.sent).clone()
    }

    /// A throttling answer, as SES gives above the maximum send rate.
    pub fn throttled() -> SendError {
        SendError {
            verdict: Verdict::Retry,
            code: "TooManyRequestsException".to_owned(),
        }
    }

    /// A refusal with `reason`, as SES would answer it.
    pub fn refusal(reason: RefusalCode) -> SendError {
        let code = match reason {
            RefusalCode::MessageRejected => "MessageRejected",
            RefusalCode::InvalidAddress => "BadRequestException",
            RefusalCode::SenderNotVerified => "MailFromDomainNotVerifiedException",
            RefusalCode::AccountSuspended => "AccountSuspendedException",
        };
        SendError {
            verdict: classify(Some(code), Some(400)),
            code: code.to_owned(),
        }
    }
}

#[async_trait]
impl CustomerMailer for MemoryMailer {
    async fn send(&self, email: &ConfirmationEmail) -> Result<String, SendError> {
        if let Some(error) = lock(&self.script).pop_front() {
            return Err(error);
        }
        if let Some((_, error)) = lock(&self.refused)
            .iter()
            .find(|(address, _)| address == email.to.as_str())
        {
            return Err(error.clone());
        }
        let mut sent = lock(&self.sent);
        let message_id = format!("memory-{}", sent.len() + 1);
        sent.push(Sent {
            email: email.clone(),
            message_id: message_id.clone(),
            at: tokio::time::Instant::now(),
        });
        Ok(message_id)
    }
}
