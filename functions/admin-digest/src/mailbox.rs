//! Where the admin's e-mails go: the admin topic, which holds the admin's
//! e-mail subscription. One narrow port, [`AdminMailbox`], with the SNS
//! adapter that ships ([`SnsAdminMailbox`]); the local runner has one over
//! its emulated topics, and the unit tests a recording fake.

use async_trait::async_trait;
use orders_adapters::ports::PortError;

/// Sends one e-mail to the admin.
#[async_trait]
pub trait AdminMailbox: Send + Sync {
    /// Publishes `text` with `subject` to the admin. `Ok` means the service
    /// accepted it (delivery to the mailbox follows, as SNS's is); an error
    /// says whether a retry may pass.
    async fn send(&self, subject: &str, text: &str) -> Result<(), PortError>;
}

/// [`AdminMailbox`] over an SNS topic: one `Publish` with a String message
/// (no `MessageStructure`: every protocol gets the text as it is), a
/// subject for the e-mail subscribers, and no message attributes
/// (<https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>).
#[derive(Debug, Clone)]
pub struct SnsAdminMailbox {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAdminMailbox {
    /// The mailbox behind `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl AdminMailbox for SnsAdminMailbox {
    async fn send(&self, subject: &str, text: &str) -> Result<(), PortError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject)
            .message(text)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                if orders_adapters::aws::is_transient(&err) {
                    PortError::Transient(Box::new(err))
                } else {
                    PortError::Permanent(Box::new(err))
                }
            })
    }
}

#[cfg(test)]
pub(crate) mod memory {
    //! A recording [`AdminMailbox`] that can be told to fail.

    use std::sync::{Mutex, PoisonError};

    use super::*;

    /// One e-mail sent, and when (tokio's clock: paused in tests).
    #[derive(Debug, Clone)]
    pub struct Sent {
        pub subject: String,
        pub text: String,
        pub at: tokio::time::Instant,
    }

    /// Keeps what it is sent; fails the next `failures` sends.
    #[derive(Debug, Default)]
    pub struct MemoryMailbox {
        sent: Mutex<Vec<Sent>>,
        failures: Mutex<usize>,
    }

    impl MemoryMailbox {
        /// Makes the next `n` sends fail (transiently, as a throttle).
        pub fn fail_next(&self, n: usize) {
            *self.failures.lock().unwrap_or_else(PoisonError::into_inner) = n;
        }

        /// Everything sent so far.
        pub fn sent(&self) -> Vec<Sent> {
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    #[async_trait]
    impl AdminMailbox for MemoryMailbox {
        async fn send(&self, subject: &str, text: &str) -> Result<(), PortError> {
            {
                let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
                if *failures > 0 {
                    *failures -= 1;
                    return Err(PortError::Transient("Throttling: rate exceeded".into()));
                }
            }
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Sent {
                    subject: subject.to_owned(),
                    text: text.to_owned(),
                    at: tokio::time::Instant::now(),
                });
            Ok(())
        }
    }
}
