//! [`VisibilityDelay`] over an SQS queue: one `ChangeMessageVisibility` per
//! message.

use std::time::Duration;

use async_trait::async_trait;

use super::port_error;
use crate::ports::{MAX_VISIBILITY_DELAY, PortError, VisibilityDelay};

/// [`VisibilityDelay`] over an SQS queue (the one the receipt handles come from).
#[derive(Debug, Clone)]
pub struct SqsVisibilityDelay {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsVisibilityDelay {
    /// Wraps a client and the queue's URL.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

/// `VisibilityTimeout` takes whole seconds from 0 to 43,200
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html>):
/// a fraction rounds up, so a delay is never shortened (nor a short one
/// turned into "visible now"); a delay over the limit becomes the limit.
fn visibility_timeout_secs(delay: Duration) -> i32 {
    let delay = delay.min(MAX_VISIBILITY_DELAY);
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    // At most 43,200 after the `min` above.
    i32::try_from(secs).unwrap_or(i32::MAX)
}

#[async_trait]
impl VisibilityDelay for SqsVisibilityDelay {
    async fn delay(&self, receipt_handle: &str, delay: Duration) -> Result<(), PortError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(visibility_timeout_secs(delay))
            .send()
            .await
            .map_err(port_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_delay_then_whole_seconds_rounded_up_within_the_sqs_limit() {
        assert_eq!(visibility_timeout_secs(Duration::ZERO), 0);
        assert_eq!(visibility_timeout_secs(Duration::from_millis(1)), 1);
        assert_eq!(visibility_timeout_secs(Duration::from_millis(2_700)), 3);
        assert_eq!(visibility_timeout_secs(Duration::from_secs(2_700)), 2_700);
        assert_eq!(visibility_timeout_secs(Duration::from_secs(43_200)), 43_200);
        assert_eq!(
            visibility_timeout_secs(Duration::from_secs(43_200) + Duration::from_millis(1)),
            43_200
        );
        assert_eq!(visibility_timeout_secs(Duration::MAX), 43_200);
    }
}
