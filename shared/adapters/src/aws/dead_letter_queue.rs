//! [`DeadLetterQueue`] over an SQS queue: one `SendMessage` per letter, its
//! reason and ids as message attributes.

use async_trait::async_trait;

use super::order_queue::sqs_string_attribute;
use super::port_error;
use crate::ports::{DeadLetter, DeadLetterQueue, PortError};

/// [`DeadLetterQueue`] over an SQS queue (FIFO or standard).
#[derive(Debug, Clone)]
pub struct SqsDeadLetterQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    /// Wraps a client and the dead-letter queue's URL.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadLetterQueue for SqsDeadLetterQueue {
    async fn send(&self, letter: &DeadLetter) -> Result<(), PortError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(&letter.body)
            .set_message_group_id(letter.group_id.clone())
            .set_message_deduplication_id(letter.dedup_id.clone());
        for (name, value) in &letter.attributes {
            let value = sqs_string_attribute(value).map_err(PortError::Permanent)?;
            request = request.message_attributes(*name, value);
        }
        request.send().await.map_err(port_error)?;
        Ok(())
    }
}
